"""DingTalk (钉钉) robot: `{"msgtype": "text", "text": {"content": …}}`, signed when the robot has a secret.

With a signing secret ("加签") the request's query carries `timestamp` (milliseconds) and `sign`:
the Base64 of HMAC-SHA256 keyed by the secret over "<timestamp>\\n<secret>", URL-encoded once.
Apprise 2.3 URL-encodes the Base64 itself and then hands it to `requests` as a parameter, which
encodes it again (`%252F`); `SignedDingTalk` hands over the plain Base64, so it is encoded once.
"""

from __future__ import annotations

from typing import Any

from apprise.plugins.dingtalk import NotifyDingTalk

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import Guard, Message
from alerts.channels.robot import notify_with, part

HOST = "oapi.dingtalk.com"
# DingTalk takes about 20 000 bytes; Apprise writes the JSON with \uXXXX escapes, so a CJK
# character (3 bytes of UTF-8) costs 6: 6000 bytes of text stay under the limit whatever the language.
LIMIT = 6000


class SignedDingTalk(NotifyDingTalk):
    """Apprise's DingTalk robot with its signature encoded once, as DingTalk documents."""

    def get_signature(self):
        timestamp, signature = super().get_signature()
        return timestamp, NotifyDingTalk.unquote(signature)


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    secret = config.get("secret")
    who = f"{part(secret)}@" if secret else ""
    url = f"dingtalk://{who}{part(config['token'])}/"
    notify_with(SignedDingTalk, url, f"https://{HOST}/robot/send", message, guard, LIMIT)


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
