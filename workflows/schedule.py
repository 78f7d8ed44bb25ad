"""When triggers fire: cron and periodic triggers, and what a late scheduler should do.

Pure: no Django import; `now` is passed in. A trigger is the SPEC §10 dict
(`{"type": "none" | "cron" | "periodic", …}`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from workflows import quartz
from workflows.policies import MisfirePolicy

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
MAX_MISSED = 100_000  # stop counting missed fires past this many (an every-second trigger, down for a day)


def is_active(trigger: dict[str, Any] | None) -> bool:
    """Tell whether a trigger ever fires by itself."""
    return bool(trigger) and trigger.get("type") in ("cron", "periodic")


def anchor(trigger: dict[str, Any]) -> datetime:
    """Return a periodic trigger's start as an aware datetime (naive means its time zone)."""
    start = datetime.fromisoformat(trigger["start"])
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(trigger.get("timezone") or "UTC"))
    return start


def next_fire(trigger: dict[str, Any], after: datetime) -> datetime | None:
    """Return the first fire time strictly after `after`, or None."""
    if trigger.get("type") == "cron":
        return _cron(trigger["expression"], trigger.get("timezone") or "UTC").next_after(after)
    if trigger.get("type") == "periodic":
        try:
            return _next_periodic(trigger, after)
        except OverflowError:  # the next one would fall after the year 9999: there is none
            return None
    return None


@lru_cache(maxsize=4096)
def _cron(expression: str, timezone: str) -> quartz.QuartzCron:
    """Parse an expression once per process (a QuartzCron is immutable)."""
    return quartz.QuartzCron(expression, timezone)


def _next_periodic(trigger: dict[str, Any], after: datetime) -> datetime:
    """Return start + k·period, the first after `after` (k ≥ 0), with no drift.

    Seconds, minutes and hours are exact elapsed time. Days keep the wall-clock time of the
    start in the trigger's zone (every 7 days at 02:30 stays at 02:30 across DST); a day whose
    wall time falls in a spring-forward gap fires at the end of the gap, a repeated one at its
    first occurrence — the same rule as cron.
    """
    start = anchor(trigger)
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    if trigger["unit"] != "days":
        period = timedelta(seconds=trigger["every"] * UNIT_SECONDS[trigger["unit"]])
        if after < start:
            return start.astimezone(zone)
        k = (after - start) // period + 1
        return (start + k * period).astimezone(zone)
    wall = start.astimezone(zone).replace(tzinfo=None)
    step = timedelta(days=trigger["every"])
    k = max(0, (after - start) // step - 1)
    while True:
        fire = _localize(wall + k * step, zone)
        if fire > after:
            return fire
        k += 1


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the instant of a wall time: its first occurrence, or the end of a DST gap."""
    aware = wall.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return aware
    # In a gap: fire at the transition, the first instant after it. Both readings of the wall
    # time bracket the transition; find it to the second.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    low, high = min(low, high), max(low, high)
    after_offset = datetime.fromtimestamp(high, zone).utcoffset()
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, zone)


@dataclass(frozen=True)
class FirePlan:
    """What a tick does with a trigger that was due at `due`."""

    on_time: tuple[datetime, ...]  # fire each, as scheduled (a short outage: late, within the threshold)
    missed_first: datetime | None  # a misfire: the earliest missed fire (`due`)
    missed_last: datetime | None  # the latest one, at or before now
    missed_count: int  # how many were missed (counting stops at MAX_MISSED)
    late_fire: datetime | None  # fire_once_now: the latest missed fire, run once, now
    next_at: datetime | None  # the trigger's next fire time after now


def plan_fires(
    trigger: dict[str, Any], due: datetime, now: datetime, *, misfire_policy: str, threshold: timedelta
) -> FirePlan:
    """Split the fires from `due` up to `now` by Quartz's misfire rule (SPEC §5).

    Quartz judges a misfire on the trigger's earliest missed fire, `due`. Late by no more than
    the threshold, it is no misfire: every fire up to now fires on its own. Older, every fire
    up to now was missed (and counted): `fire_once_now` runs the latest of them once, now;
    `skip` runs none. Either way the next fire is the first after now.
    """
    if now - due <= threshold:
        on_time: list[datetime] = []
        fire: datetime | None = due
        while fire is not None and fire <= now:
            on_time.append(fire)
            fire = next_fire(trigger, fire)
        return FirePlan(tuple(on_time), None, None, 0, None, fire)
    count, last, fire = 0, due, due
    while fire is not None and fire <= now and count < MAX_MISSED:
        count, last = count + 1, fire
        fire = next_fire(trigger, fire)
    if fire is not None and fire <= now:  # gave up counting: find the latest fire, resume after now
        last = _latest_fire(trigger, now)
        fire = next_fire(trigger, now)
    late = last if misfire_policy == MisfirePolicy.FIRE_ONCE_NOW else None
    return FirePlan((), due, last, count, late, fire)


def _latest_fire(trigger: dict[str, Any], now: datetime) -> datetime:
    """Return the latest fire at or before `now` (there is one): look back 1 s, 2 s, 4 s … then forward."""
    back = timedelta(seconds=1)
    while (fire := next_fire(trigger, now - back)) is None or fire > now:
        back *= 2
    while (later := next_fire(trigger, fire)) is not None and later <= now:
        fire = later
    return fire


def seconds_until(moment: datetime | None, now: datetime) -> float:
    """Return how long until `moment` (infinity if never)."""
    return math.inf if moment is None else (moment - now).total_seconds()


def next_fires(trigger: dict[str, Any] | None, after: datetime, count: int = 5) -> list[datetime]:
    """Return the next `count` fire times after `after` (empty for a manual trigger)."""
    fires: list[datetime] = []
    moment: datetime | None = after
    while trigger and len(fires) < count and moment is not None:
        moment = next_fire(trigger, moment)
        if moment is not None:
            fires.append(moment)
    return fires
