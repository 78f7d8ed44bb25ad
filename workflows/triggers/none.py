"""The ``none`` trigger: by hand only (SPEC §5); what a definition without a trigger has."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baton.text import _
from workflows.triggers.declaration import Reader, Trigger, TriggerType


def read(reader: Reader, raw: dict[str, Any], path: str, now: datetime | None) -> Trigger:
    """Return the canonical form (a `none` trigger has nothing else to check)."""
    return {"type": "none"}


def describe(trigger: Trigger) -> str:
    """Say how batches start: by hand."""
    return _("manual")


TYPE = TriggerType(name="none", fields=(), read=read, describe=describe, example={"type": "none"})
