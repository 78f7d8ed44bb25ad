"""Slack incoming webhook: `{"text": …}` posted to the hooks.slack.com address Slack gave."""

from __future__ import annotations

from typing import Any

import httpx

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import Guard, Message
from alerts.channels.robot import notify

HOST = "hooks.slack.com"
LIMIT = 3000  # Slack cuts a message's text past 40 000 characters; 3000 keeps one readable block


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    url = str(config["webhook_url"])
    notify(url, url, message, guard, LIMIT)


def _check(config: dict[str, Any]) -> dict[str, str]:
    url = config.get("webhook_url")
    if isinstance(url, str):
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if (
            parsed is None
            or parsed.scheme != "https"
            or parsed.host != HOST
            or not parsed.path.startswith("/services/")
        ):
            return {"webhook_url": f"must be the https://{HOST}/services/… address Slack gave"}
    return {}


KIND = ChannelKind(
    name="slack",
    label="Slack",
    fields=(ConfigField("webhook_url", "The incoming webhook's address.", secret=True),),
    limit=LIMIT,
    send=send,
    check=_check,
)
