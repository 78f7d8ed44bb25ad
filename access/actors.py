"""Who acts, and through what: the `Actor` every state-changing service takes.

Each interface builds its actor once: the admin and the API from the request (the user or the
token, the client address), the CLI from `--as USER` or the operating-system user, the
scheduler and the recovery sweep as Baton itself. Services check the actor's role
(`access.policy.require`) and write the audit row with it (`access.audit.audit_record`).
"""

from __future__ import annotations

import getpass
import ipaddress
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from access.scoping import TokenUser
from baton.errors import NotFound

ADMIN = "admin"
API = "api"
CLI = "cli"
SCHEDULER = "scheduler"
SWEEP = "sweep"
AUTOMATIC = frozenset({SCHEDULER, SWEEP})  # Baton acting on its own: its fire log and events record it


@dataclass(frozen=True)
class Actor:
    """Who acts (a user, a token's principal, or Baton itself), through which interface, from where.

    `principal` None is an actor with every right: the scheduler, the sweep, or the machine's
    operator at the command line (whoever runs manage.py on the server already has the database).
    """

    principal: Any
    via: str
    label: str
    source_address: str | None = None

    @property
    def user(self) -> Any:
        """Return the user row to record as the creator of what the action makes (None: no row)."""
        return self.principal if getattr(self.principal, "pk", None) else None

    @property
    def unrestricted(self) -> bool:
        """Tell whether the actor holds every right (Baton itself, the machine's operator, a superuser)."""
        return self.principal is None or bool(
            getattr(self.principal, "is_active", False) and getattr(self.principal, "is_superuser", False)
        )

    @property
    def audited(self) -> bool:
        """Tell whether the audit trail records this actor's actions (Baton's own are in its fire log and events)."""
        return self.via not in AUTOMATIC

    def __str__(self) -> str:
        return self.label


SCHEDULER_ACTOR = Actor(principal=None, via=SCHEDULER, label="scheduler")
SWEEP_ACTOR = Actor(principal=None, via=SWEEP, label="sweep")


def label_of(principal: Any) -> str:
    """Return how the audit trail names a principal: the username, or token:<name>#<id>."""
    if isinstance(principal, TokenUser):
        return f"token:{principal.token.name}#{principal.token.pk}"
    if principal is None or not getattr(principal, "is_authenticated", False):
        return "anonymous"
    return principal.get_username()


def source_address(request: Any) -> str | None:
    """Return the client address of a request (REMOTE_ADDR; a proxy must set it, see docs/deployment.md)."""
    value = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def request_actor(request: Any, via: str) -> Actor:
    """Return the actor of an admin page or an API request: its user or token, and its client address."""
    return Actor(principal=request.user, via=via, label=label_of(request.user), source_address=source_address(request))


def user_actor(user: Any, via: str) -> Actor:
    """Return a user acting through an interface with no request (the CLI's `--as`, a test)."""
    return Actor(principal=user, via=via, label=label_of(user))


def machine_actor(os_user: str | None = None) -> Actor:
    """Return the machine's operator at the command line: every right, recorded as cli:<OS user>."""
    return Actor(principal=None, via=CLI, label=f"cli:{os_user or getpass.getuser()}")


def command_line_actor(as_user: str | None) -> Actor:
    """Return who acts at the command line: `--as USER`, else the OS user's Django account, else the machine.

    An unknown or inactive `--as` is refused; an OS user without an account of the same name is
    the machine's operator (docs/decisions.md, "The rules in the services").
    """
    users = get_user_model().objects.filter(is_active=True)
    if as_user is not None:
        user = users.filter(username=as_user).first()
        if user is None:
            raise NotFound(_("--as: no active user named %(name)r") % {"name": as_user})
        return user_actor(user, CLI)
    os_user = getpass.getuser()
    user = users.filter(username=os_user).first()
    return user_actor(user, CLI) if user is not None else machine_actor(os_user)
