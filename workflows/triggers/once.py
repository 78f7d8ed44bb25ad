"""The ``once`` trigger: one fire, at a given instant (Quartz's SimpleTrigger without repeats).

`{"type": "once", "at": "2032-01-01T02:00:00", "timezone": "UTC"}`. A naive `at` is wall time in
the zone (default UTC); one in a DST gap fires at the end of the gap, a repeated one at its first
occurrence (cron's rule). With `now`, an instant that is not after it is refused, as a cron
expression with no fire left is: a once trigger is saved with its fire still ahead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from baton.text import _, message_of
from workflows import quartz
from workflows.triggers.declaration import Reader, Trigger, TriggerType
from workflows.triggers.zones import localize, read_zone


def read(reader: Reader, raw: dict[str, Any], path: str, now: datetime | None) -> Trigger:
    """Check the instant and the zone; return the canonical form."""
    zone = read_zone(reader, raw.get("timezone", "UTC"), path)
    at = raw.get("at")
    if not isinstance(at, str):
        reader.add(f"{path}.at", _("must be an ISO-8601 date-time, not %(at)r", at=at))
        return {"type": "once", "at": at, "timezone": zone}
    try:
        quartz.parse_start(at, quartz.load_zone(zone or "UTC"))
        moment = instant({"at": at, "timezone": zone})
    except (ValueError, OverflowError) as exc:
        reader.add(f"{path}.at", message_of(exc))
    else:
        if zone is not None and now is not None and moment <= now:
            reader.add(
                f"{path}.at",
                _("%(at)r is not after now (%(now)s): a once trigger fires only ahead", at=at, now=now.isoformat()),
            )
    return {"type": "once", "at": at, "timezone": zone}


def instant(trigger: Trigger) -> datetime:
    """Return the trigger's instant, aware, in its zone."""
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    moment = datetime.fromisoformat(trigger["at"])
    return localize(moment, zone) if moment.tzinfo is None else moment.astimezone(zone)


def next_after(trigger: Trigger, after: datetime) -> datetime | None:
    """Return the instant if it is after `after`, else None."""
    moment = instant(trigger)
    return moment if moment > after else None


def describe(trigger: Trigger) -> str:
    """Say the instant and its zone."""
    return _("once at %(at)s (%(zone)s)", at=trigger["at"], zone=trigger["timezone"])


TYPE = TriggerType(
    name="once",
    fields=("at", "timezone"),
    read=read,
    describe=describe,
    example={"type": "once", "at": "2032-01-01T02:00:00", "timezone": "UTC"},
    next_after=next_after,
    batch_trigger="once",
)
