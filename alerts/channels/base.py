"""What every channel kind shares: the message it sends, the SSRF guard it passes, the error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from executions.kinds.http import AllowList, Refused, check_addresses, resolve


class DeliveryError(Exception):
    """A send that did not reach its destination; the message says why (masked)."""


@dataclass(frozen=True)
class Message:
    """One alert message, already in the channel's language: a subject, a plain text, the machine-readable data."""

    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Guard:
    """The SSRF guard of HTTP tasks (`executions.kinds.http`), for a channel's destinations."""

    allowed_networks: tuple[str, ...] = ()
    timeout: float = 15.0

    def check_url(self, url: str) -> None:
        """Refuse (DeliveryError) a URL that is not http(s) or whose host is not public nor allowed.

        A host named in the allow-list is allowed without a lookup; any other is resolved once
        and every address checked, exactly as an HTTP task's.
        """
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeDecodeError) as exc:
            raise DeliveryError(f"not a valid URL: {exc}") from exc
        if parsed.scheme not in ("http", "https") or not host:
            raise DeliveryError(f"refused: only http and https URLs are allowed, not {parsed.scheme!r}")
        allowed = AllowList.parse(self.allowed_networks)
        if allowed.allows_host(host):
            return
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            check_addresses(host, resolve(host, port), allowed)
        except Refused as exc:
            raise DeliveryError(str(exc)) from exc
        except OSError as exc:
            raise DeliveryError(f"could not resolve host {host!r}: {exc}") from exc


def fit(text: str, limit: int, note: str = "\n…") -> str:
    """Cut `text` to at most `limit` UTF-8 bytes on a character boundary, ending with `note` when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(note.encode("utf-8")))
    return data[:room].decode("utf-8", errors="ignore") + note
