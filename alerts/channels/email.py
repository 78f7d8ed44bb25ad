"""E-mail through Django's mail settings (SMTP from EMAIL_HOST, EMAIL_PORT … in the environment)."""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email

from alerts.channels import ChannelKind, ConfigField
from alerts.channels.base import DeliveryError, Guard, Message

LIMIT = 512 * 1024


def recipients(value: Any) -> list[str]:
    """Return the addresses of a `to` value: a list, or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(item).strip() for item in items if str(item).strip()]


def send(config: dict[str, Any], message: Message, guard: Guard) -> None:
    mail = EmailMessage(
        subject=message.subject[:200],
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients(config.get("to")),
    )
    try:
        mail.send(fail_silently=False)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _check(config: dict[str, Any]) -> dict[str, str]:
    addresses = recipients(config.get("to"))
    if not addresses:
        return {"to": "at least one address is required"}
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            return {"to": f"{address!r} is not an e-mail address"}
    return {}


KIND = ChannelKind(
    name="email",
    label="E-mail",
    fields=(ConfigField("to", "Recipients' addresses.", many=True),),
    limit=LIMIT,
    send=send,
    check=_check,
)
