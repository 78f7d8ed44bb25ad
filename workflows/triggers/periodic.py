"""The ``periodic`` trigger: every N seconds, minutes, hours or days from an anchor, without drift (SPEC §5).

`{"type": "periodic", "every": 90, "unit": "minutes", "start": "2026-01-01T00:00:00", "timezone": "UTC"}`.
Seconds, minutes and hours are exact elapsed time. Days keep the wall-clock time of the start
in the trigger's zone (every 7 days at 02:30 stays at 02:30 across DST); a day whose wall time
falls in a spring-forward gap fires at the end of the gap, a repeated one at its first
occurrence — the same rule as cron. A naive `start` is read in the trigger's zone. The period
is at most 100 years (Quartz's search horizon).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from baton.text import _, message_of
from workflows import quartz
from workflows.triggers.declaration import Reader, Trigger, TriggerType
from workflows.triggers.zones import localize, read_zone

PERIOD_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}  # a unit's length in seconds
MAX_PERIOD_DAYS = 36_500  # a periodic trigger fires at least once a century (Quartz's search horizon)


def read(reader: Reader, raw: dict[str, Any], path: str, now: datetime | None) -> Trigger:
    """Check the period, the zone and the start; return the canonical form."""
    every = reader.integer(raw, "every", path, 1, 1, 10**9)
    unit = raw.get("unit")
    if not isinstance(unit, str) or unit not in PERIOD_UNITS:
        reader.add(
            f"{path}.unit", _("must be one of %(units)s, not %(unit)r", units=", ".join(PERIOD_UNITS), unit=unit)
        )
    elif every * PERIOD_UNITS[unit] > MAX_PERIOD_DAYS * 86400:
        limit = MAX_PERIOD_DAYS * 86400 // PERIOD_UNITS[unit]
        reader.add(
            f"{path}.every",
            _("must be at most %(limit)s %(unit)s (100 years), not %(every)s", limit=limit, unit=unit, every=every),
        )
    zone = read_zone(reader, raw.get("timezone", "UTC"), path)
    start = raw.get("start")
    if not isinstance(start, str):
        reader.add(f"{path}.start", _("must be an ISO-8601 date-time, not %(start)r", start=start))
    else:
        try:
            quartz.parse_start(start, quartz.load_zone(zone or "UTC"))
        except ValueError as exc:
            reader.add(f"{path}.start", message_of(exc))
    return {"type": "periodic", "every": every, "unit": unit, "start": start, "timezone": zone}


def anchor(trigger: Trigger) -> datetime:
    """Return a periodic trigger's start as an aware datetime (naive means its time zone)."""
    start = datetime.fromisoformat(trigger["start"])
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(trigger.get("timezone") or "UTC"))
    return start


def next_after(trigger: Trigger, after: datetime) -> datetime | None:
    """Return start + k·period, the first after `after` (k ≥ 0), or None past the year 9999."""
    try:
        return _next_periodic(trigger, after)
    except OverflowError:  # the next one would fall after the year 9999: there is none
        return None


def _next_periodic(trigger: Trigger, after: datetime) -> datetime:
    start = anchor(trigger)
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    if trigger["unit"] != "days":
        period = timedelta(seconds=trigger["every"] * PERIOD_UNITS[trigger["unit"]])
        if after < start:
            return start.astimezone(zone)
        k = (after - start) // period + 1
        return (start + k * period).astimezone(zone)
    wall = start.astimezone(zone).replace(tzinfo=None)
    step = timedelta(days=trigger["every"])
    k = max(0, (after - start) // step - 1)
    while True:
        fire = localize(wall + k * step, zone)
        if fire > after:
            return fire
        k += 1


def describe(trigger: Trigger) -> str:
    """Say the period and its anchor."""
    return _(
        "every %(every)s %(unit)s from %(start)s", every=trigger["every"], unit=trigger["unit"], start=trigger["start"]
    )


TYPE = TriggerType(
    name="periodic",
    fields=("every", "unit", "start", "timezone"),
    read=read,
    describe=describe,
    example={"type": "periodic", "every": 90, "unit": "minutes", "start": "2026-01-01T00:00:00", "timezone": "UTC"},
    next_after=next_after,
    batch_trigger="periodic",
)
