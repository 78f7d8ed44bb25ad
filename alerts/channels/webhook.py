"""A generic signed webhook: a JSON body, signed with HMAC-SHA256 under the channel's secret.

Headers: `X-Baton-Timestamp` (Unix seconds) and `X-Baton-Signature: sha256=<hex>`, the HMAC of
`<timestamp>.<body bytes>`, so a receiver checks the body and refuses a replayed old one. The
request is an HTTP task's request (`executions.kinds.http.run_http`): the same SSRF guard, the
connection pinned to the checked address, no redirects, no proxy; any 2xx is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import DeliveryError, Guard, Message
from executions.kinds import RunContext
from executions.kinds.http import run_http

SIGNATURE_HEADER = "X-Baton-Signature"
TIMESTAMP_HEADER = "X-Baton-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header's value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    """POST the message's data as JSON, signed; raise DeliveryError unless the receiver answers 2xx."""
    body = json.dumps({"subject": message.subject, "text": message.text, **message.data}, ensure_ascii=False)
    timestamp = str(int(time.time()))
    secret = str(config["secret"])
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Baton-Alerts",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body.encode("utf-8")),
    }
    request = {"url": config["url"], "method": "POST", "headers": headers, "body": body}
    context = RunContext(
        timeout=guard.timeout, output_limit=2048, secrets=(secret,), http_allowed_networks=guard.allowed_networks
    )
    outcome = run_http(request, context)
    if not outcome.succeeded:
        raise DeliveryError(str(outcome.detail.get("error") or "failed"))


def _check(config: dict[str, Any]) -> dict[str, str]:
    url = config.get("url")
    if isinstance(url, str) and not url.lower().startswith(("http://", "https://")):
        return {"url": "must be an http:// or https:// URL"}
    return {}


KIND = ChannelKind(
    name="webhook",
    label="Signed webhook",
    fields=(
        ConfigField("url", "The receiver's http(s) URL."),
        ConfigField("secret", "The key of the HMAC-SHA256 signature header.", secret=True),
    ),
    limit=256 * 1024,
    send=send,
    check=_check,
)
