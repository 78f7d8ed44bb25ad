"""DingTalk (钉钉) robot: `{"msgtype": "text", "text": {"content": …}}`, signed when the robot has a secret.

With a signing secret the request carries `timestamp` (milliseconds) and `sign`, the Base64 of
HMAC-SHA256(secret, "<timestamp>\\n<secret>"), URL-encoded (DingTalk's "加签").
"""

from __future__ import annotations

from typing import Any

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import Guard, Message
from alerts.channels.robot import notify, part

HOST = "oapi.dingtalk.com"
LIMIT = 19_000  # DingTalk takes about 20 000 bytes; room for the JSON around the text


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    secret = config.get("secret")
    who = f"{part(secret)}@" if secret else ""
    notify(f"dingtalk://{who}{part(config['token'])}/", f"https://{HOST}/robot/send", message, guard, LIMIT)


KIND = ChannelKind(
    name="dingtalk",
    label="DingTalk (钉钉) robot",
    fields=(
        ConfigField("token", "The robot's access token (the `access_token=` of its webhook address).", secret=True),
        ConfigField(
            "secret", "The signing secret (加签, starts with SEC), if the robot has one.", secret=True, required=False
        ),
    ),
    limit=LIMIT,
    send=send,
)
