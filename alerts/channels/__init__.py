"""The channel kinds' registry: one module per kind declares its fields, its size limit and how it sends.

A kind is declared once (`ChannelKind`) and listed in `CHANNEL_KINDS`; the model's kind choices,
the service's checks (required fields, which ones are secret), the admin's and the API's help
read it, so a new kind needs no migration. `send(config, message, guard)` receives the config
with its secrets unsealed and raises `DeliveryError` with a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerts.channels.base import DeliveryError, Guard, Message


@dataclass(frozen=True)
class ConfigField:
    """One field of a kind's config."""

    name: str
    help: str
    secret: bool = False  # sealed at rest, masked on the way out
    required: bool = True
    many: bool = False  # a list of strings (a comma-separated string is accepted)


@dataclass(frozen=True)
class ChannelKind:
    """A kind of channel: its fields, the most its service takes, how it sends."""

    name: str
    label: str
    fields: tuple[ConfigField, ...]
    limit: int  # the most UTF-8 bytes of message text the service takes
    send: Callable[[dict[str, Any], Message, Guard], None]
    check: Callable[[dict[str, Any]], dict[str, str]] = lambda config: {}  # {field: problem} beyond required-ness

    def secret_fields(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields if field.secret)


def _kinds() -> dict[str, ChannelKind]:
    from alerts.channels import dingtalk, email, feishu, slack, teams, webhook, wecom

    declared = (email.KIND, webhook.KIND, wecom.KIND, dingtalk.KIND, feishu.KIND, feishu.LARK, slack.KIND, teams.KIND)
    return {kind.name: kind for kind in declared}


CHANNEL_KINDS: dict[str, ChannelKind] = _kinds()


def find(name: Any) -> ChannelKind | None:
    """Return the kind of that name, or None."""
    return CHANNEL_KINDS.get(name) if isinstance(name, str) else None


def kind_choices() -> list[tuple[str, str]]:
    """Return the kinds as model choices (a callable: a new kind needs no migration)."""
    return [(kind.name, kind.label) for kind in CHANNEL_KINDS.values()]


__all__ = ["CHANNEL_KINDS", "ChannelKind", "ConfigField", "DeliveryError", "Guard", "Message", "find", "kind_choices"]
