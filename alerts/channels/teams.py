"""Microsoft Teams, through a Power Automate workflow's HTTP trigger (Teams' replacement for connectors)."""

from __future__ import annotations

from typing import Any

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import Guard, Message
from alerts.channels.robot import notify

LIMIT = 1000  # what Apprise's Teams workflow plugin sends in one card


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    url = str(config["url"])
    notify(url, url, message, guard, LIMIT)


def _check(config: dict[str, Any]) -> dict[str, str]:
    url = config.get("url")
    if isinstance(url, str) and not url.lower().startswith("https://"):
        return {"url": "must be the workflow's https:// address"}
    return {}


KIND = ChannelKind(
    name="teams",
    label="Microsoft Teams (workflow)",
    fields=(ConfigField("url", "The Power Automate workflow's HTTP trigger address.", secret=True),),
    limit=LIMIT,
    send=send,
    check=_check,
)
