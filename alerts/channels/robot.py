"""IM robots through Apprise: the destination passes the SSRF guard first, then Apprise formats and sends.

Apprise builds each service's documented payload (and DingTalk's signature); Baton checks the
address it will reach with the HTTP tasks' guard (`Guard.check_url`), cuts the text to the
service's limit, turns Apprise's own retries off (the outbox retries with back-off) and keeps
what Apprise logged as the failure's reason. Apprise connects by host name itself: the guard's
answer is checked just before, not pinned (docs/alerts.md, "SSRF").
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import apprise

from alerts.channels.base import DeliveryError, Guard, Message, fit

ASSET = apprise.AppriseAsset(app_id="Baton", app_desc="Baton alerts", app_url="", image_url_mask="", image_path_mask="")
OPTIONS = "image=no&footer=no&format=text&overflow=upstream&retry=0"


def part(value: object) -> str:
    """Quote one secret for an Apprise URL (it may hold any character)."""
    return quote(str(value), safe="")


def notify(apprise_url: str, destination: str, message: Message, guard: Guard, limit: int) -> None:
    """Send `message` through the Apprise URL after checking `destination`; raise DeliveryError with the reason."""
    notify_with(None, apprise_url, destination, message, guard, limit)


def notify_with(
    plugin_class: Any, apprise_url: str, destination: str, message: Message, guard: Guard, limit: int
) -> None:
    """Send through `plugin_class` (None: the plugin Apprise picks for the URL) after checking `destination`."""
    guard.check_url(destination)
    separator = "&" if "?" in apprise_url else "?"
    url = f"{apprise_url}{separator}{OPTIONS}&cto={guard.timeout:g}&rto={guard.timeout:g}"
    if plugin_class is None:
        plugin = apprise.Apprise.instantiate(url, asset=ASSET)
    else:
        arguments = plugin_class.parse_url(url)
        plugin = plugin_class(**arguments, asset=ASSET) if arguments else None
    if not plugin:
        raise DeliveryError("the channel's settings are not valid for this service")
    body = fit(f"{message.subject}\n{message.text}", limit)
    with apprise.LogCapture(level=logging.WARNING) as captured:
        delivered = plugin.notify(body=body, title="", body_format=apprise.NotifyFormat.TEXT)
    if not delivered:
        reason = " ".join(line.strip() for line in captured.getvalue().splitlines() if line.strip())
        raise DeliveryError(reason[-500:] or "the service refused the message")
