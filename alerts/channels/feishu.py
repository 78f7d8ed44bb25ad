"""Feishu (飞书) and Lark bots: `{"msg_type": "text", "content": {"text": …}}`; a request body under 20 KB."""

from __future__ import annotations

from typing import Any

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import Guard, Message
from alerts.channels.robot import notify, part

LIMIT = 18_000  # the request body must stay under 20 KB


def _sender(scheme: str, host: str):
    def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
        notify(f"{scheme}://{part(config['token'])}", f"https://{host}/open-apis/bot/v2/hook/", message, guard, LIMIT)

    return send


TOKEN = ConfigField("token", "The bot's token (the last part of its webhook address).", secret=True)
KIND = ChannelKind(
    name="feishu", label="Feishu (飞书) bot", fields=(TOKEN,), limit=LIMIT, send=_sender("feishu", "open.feishu.cn")
)
LARK = ChannelKind(
    name="lark", label="Lark bot", fields=(TOKEN,), limit=LIMIT, send=_sender("lark", "open.larksuite.com")
)
