"""When triggers fire, and what a late scheduler should do.

Pure: no Django import; `now` is passed in. A trigger is the SPEC §10 dict (`{"type": …, …}`);
each type's arithmetic is its own module's (`workflows.triggers`), reached through the registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from workflows import triggers
from workflows.policies import MisfirePolicy

MAX_MISSED = 100_000  # stop counting missed fires past this many (an every-second trigger, down for a day)


def is_active(trigger: dict[str, Any] | None) -> bool:
    """Tell whether a trigger ever fires by itself."""
    return triggers.type_of(trigger).fires


def next_fire(trigger: dict[str, Any], after: datetime) -> datetime | None:
    """Return the first fire time strictly after `after`, or None (never for a trigger that does not fire)."""
    next_after = triggers.type_of(trigger).next_after
    return None if next_after is None else next_after(trigger, after)


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
