"""WeCom (企业微信) group robot: `{"msgtype": "text", "text": {"content": …}}`, content at most 2048 bytes."""

from __future__ import annotations

from typing import Any

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import Guard, Message
from alerts.channels.robot import notify, part

HOST = "qyapi.weixin.qq.com"
LIMIT = 2048


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    notify(f"wecombot://{part(config['key'])}", f"https://{HOST}/cgi-bin/webhook/send", message, guard, LIMIT)


KIND = ChannelKind(
    name="wecom",
    label="WeCom (企业微信) robot",
    fields=(ConfigField("key", "The robot's key (the `key=` of its webhook address).", secret=True),),
    limit=LIMIT,
    send=send,
)
