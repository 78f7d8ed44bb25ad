"""The command line's actor: `--as USER`, else the operating-system user (docs/decisions.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from access.actors import Actor, command_line_actor
from baton.errors import BatonError


def add_actor_argument(parser: Any) -> None:
    """Add `--as USER`: act as that Baton user (default: the OS user's account of the same name, else the machine)."""
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        help="act as this Baton user, with their roles (default: the Baton user named like the OS user, "
        "else the machine's operator, cli:<OS user>, with every right)",
    )


def command_actor(options: dict[str, Any]) -> Actor:
    """Return who runs the command (`--as`, the OS user); an unknown `--as` is an error (exit 1)."""
    try:
        return command_line_actor(options.get("as_user"))
    except BatonError as exc:
        raise CommandError(str(exc)) from exc
