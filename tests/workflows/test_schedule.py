"""Pure trigger arithmetic: periodic anchors without drift, DST, and the misfire split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.schedule import MAX_MISSED, next_fire, plan_fires


def periodic(every: int, unit: str, start: str, zone: str = "UTC") -> dict:
    return {"type": "periodic", "every": every, "unit": unit, "start": start, "timezone": zone}


def fires(trigger: dict, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_fire(trigger, after)
        found.append(after)
    return found


def test_every_90_minutes_from_the_anchor():
    trigger = periodic(90, "minutes", "2031-01-01T00:00:00+00:00")
    got = fires(trigger, datetime(2031, 1, 1, 2, 0, tzinfo=UTC), 3)
    assert [f.isoformat() for f in got] == [
        "2031-01-01T03:00:00+00:00",
        "2031-01-01T04:30:00+00:00",
        "2031-01-01T06:00:00+00:00",
    ]


def test_before_the_anchor_the_first_fire_is_the_anchor():
    trigger = periodic(7, "days", "2031-06-01T09:00:00", "Asia/Shanghai")
    assert next_fire(trigger, datetime(2030, 1, 1, tzinfo=UTC)).isoformat() == "2031-06-01T09:00:00+08:00"


def test_every_7_days_keeps_the_wall_time_across_dst():
    trigger = periodic(7, "days", "2031-03-20T09:00:00", "Europe/Berlin")
    got = fires(trigger, datetime(2031, 3, 21, tzinfo=UTC), 2)
    assert [f.isoformat() for f in got] == ["2031-03-27T09:00:00+01:00", "2031-04-03T09:00:00+02:00"]


def test_hours_are_elapsed_time_across_dst():
    trigger = periodic(1, "hours", "2031-03-30T00:00:00+01:00", "Europe/Berlin")
    got = fires(trigger, datetime(2031, 3, 29, 23, 30, tzinfo=UTC), 3)
    assert [f.astimezone(UTC).hour for f in got] == [0, 1, 2]
    assert [f.isoformat() for f in got][1] == "2031-03-30T03:00:00+02:00"


def test_daily_wall_time_in_the_spring_gap_fires_at_the_end_of_the_gap():
    trigger = periodic(1, "days", "2031-03-28T02:30:00", "Europe/Berlin")
    got = fires(trigger, datetime(2031, 3, 29, 12, tzinfo=UTC), 2)
    assert [f.isoformat() for f in got] == ["2031-03-30T03:00:00+02:00", "2031-03-31T02:30:00+02:00"]


def test_daily_wall_time_in_the_autumn_overlap_fires_once_at_the_first_occurrence():
    trigger = periodic(1, "days", "2031-10-20T02:30:00", "Europe/Berlin")
    got = fires(trigger, datetime(2031, 10, 25, 12, tzinfo=UTC), 2)
    assert [f.isoformat() for f in got] == ["2031-10-26T02:30:00+02:00", "2031-10-27T02:30:00+01:00"]


@given(
    every=st.integers(1, 10_000),
    unit=st.sampled_from(["seconds", "minutes", "hours"]),
    offset=st.integers(0, 10**8),
)
def test_periodic_fires_are_exact_multiples_of_the_period(every, unit, offset):
    start = datetime(2031, 1, 1, tzinfo=UTC)
    trigger = periodic(every, unit, start.isoformat())
    after = start + timedelta(seconds=offset)
    fire = next_fire(trigger, after)
    period = every * {"seconds": 1, "minutes": 60, "hours": 3600}[unit]
    elapsed = (fire - start).total_seconds()
    assert fire > after and elapsed % period == 0 and fire - timedelta(seconds=period) <= after


def test_cron_trigger_uses_quartz():
    trigger = {"type": "cron", "expression": "0 0 2 ? * MON-FRI", "timezone": "Asia/Shanghai"}
    assert next_fire(trigger, datetime(2031, 5, 16, 20, tzinfo=UTC)).isoformat() == "2031-05-19T02:00:00+08:00"
    assert next_fire({"type": "none"}, datetime(2031, 1, 1, tzinfo=UTC)) is None


EVERY_MINUTE = periodic(1, "minutes", "2031-01-01T00:00:00+00:00")
EVERY_5_SECONDS = {"type": "cron", "expression": "0/5 * * * * ?", "timezone": "UTC"}
MIDNIGHT = datetime(2031, 1, 1, tzinfo=UTC)


def clock(text: str | None) -> datetime | None:
    """`"0:10:30"` is 00:10:30 on 2031-01-01 (UTC); None stays None."""
    if text is None:
        return None
    hours, minutes, seconds = (float(part) for part in text.split(":"))
    return MIDNIGHT + timedelta(hours=hours, minutes=minutes, seconds=seconds)


# Quartz judges a misfire on the trigger's earliest missed fire (`due`): older than the
# threshold, the whole run is a misfire (fire_once_now fires once, now; skip fires nothing; the
# next fire is the first after now); otherwise every late fire fires on its own.
# name: (trigger, due, now, policy, on-time fires, "missed count, first, last", late fire, next fire)
S5 = EVERY_5_SECONDS
M1 = EVERY_MINUTE
MISFIRE_CASES = {
    "on time": (M1, "0:01:00", "0:01:00.5", "fire_once_now", "0:01:00", "", None, "0:02:00"),
    "late within the threshold": (M1, "0:01:00", "0:01:05", "skip", "0:01:00", "", None, "0:02:00"),
    "at the threshold": (M1, "0:01:00", "0:02:00", "skip", "0:01:00 0:02:00", "", None, "0:03:00"),
    "a short outage": (S5, "0:00:05", "0:00:16", "fire_once_now", "0:00:05 0:00:10 0:00:15", "", None, "0:00:20"),
    "a long outage": (S5, "0:00:05", "0:01:30.5", "fire_once_now", "", "18 0:00:05 0:01:30", "0:01:30", "0:01:35"),
    "a long outage, skip": (S5, "0:00:05", "0:01:30.5", "skip", "", "18 0:00:05 0:01:30", None, "0:01:35"),
    "just past": (M1, "0:01:00", "0:02:00.5", "fire_once_now", "", "2 0:01:00 0:02:00", "0:02:00", "0:03:00"),
    "ten minutes": (M1, "0:00:00", "0:10:30", "fire_once_now", "", "11 0:00:00 0:10:00", "0:10:00", "0:11:00"),
    "five hours, skip": (M1, "0:00:00", "5:00:30", "skip", "", "301 0:00:00 5:00:00", None, "5:01:00"),
}


@pytest.mark.parametrize("case", MISFIRE_CASES.values(), ids=MISFIRE_CASES.keys())
def test_misfire_is_judged_on_the_earliest_missed_fire(case):
    trigger, due, now, policy, on_time, missed, late, next_at = case
    plan = plan_fires(trigger, clock(due), clock(now), misfire_policy=policy, threshold=timedelta(seconds=60))
    assert plan.on_time == tuple(clock(fire) for fire in on_time.split())
    count, first, last = missed.split() if missed else ("0", None, None)
    assert (plan.missed_count, plan.missed_first, plan.missed_last) == (int(count), clock(first), clock(last))
    assert (plan.late_fire, plan.next_at) == (clock(late), clock(next_at))


def fires_between(trigger: dict, due: datetime, now: datetime) -> list[datetime]:
    """Every fire in [due, now], `due` being a fire time."""
    found, fire = [], due
    while fire is not None and fire <= now:
        found.append(fire)
        fire = next_fire(trigger, fire)
    return found


@given(
    every=st.integers(1, 600),
    due_index=st.integers(0, 50),
    down=st.floats(0, 7200, allow_nan=False),
    threshold=st.integers(0, 600),
    policy=st.sampled_from(["fire_once_now", "skip"]),
)
def test_misfire_plan_follows_quartz(every, due_index, down, threshold, policy):
    trigger = periodic(every, "seconds", MIDNIGHT.isoformat())
    due = MIDNIGHT + timedelta(seconds=every * due_index)
    now = due + timedelta(seconds=down)
    plan = plan_fires(trigger, due, now, misfire_policy=policy, threshold=timedelta(seconds=threshold))
    every_fire = fires_between(trigger, due, now)
    assert plan.next_at == next_fire(trigger, now) and plan.next_at > now
    if now - due > timedelta(seconds=threshold):  # a misfire: the earliest missed fire is too old
        assert plan.on_time == ()
        assert (plan.missed_count, plan.missed_first, plan.missed_last) == (len(every_fire), due, every_fire[-1])
        assert plan.late_fire == (every_fire[-1] if policy == "fire_once_now" else None)
    else:  # late by less than the threshold (or on time): every fire fires on its own
        assert plan.on_time == tuple(every_fire)
        assert (plan.missed_count, plan.missed_first, plan.missed_last, plan.late_fire) == (0, None, None, None)
    assert len(plan.on_time) + (plan.late_fire is not None) <= max(1, len(every_fire))


def test_an_outage_longer_than_the_count_limit_still_resumes_after_now():
    trigger = periodic(1, "seconds", MIDNIGHT.isoformat())
    now = MIDNIGHT + timedelta(days=2, seconds=0.5)
    plan = plan_fires(trigger, MIDNIGHT, now, misfire_policy="fire_once_now", threshold=timedelta(seconds=60))
    assert plan.missed_count == MAX_MISSED and plan.missed_first == MIDNIGHT and plan.on_time == ()
    assert plan.late_fire == now - timedelta(seconds=0.5) and plan.next_at == now + timedelta(seconds=0.5)


def test_a_periodic_trigger_whose_next_fire_is_after_the_year_9999_has_none():
    trigger = {"type": "periodic", "every": 36_500, "unit": "days", "start": "9999-01-01T00:00:00Z", "timezone": "UTC"}
    first = next_fire(trigger, datetime(2026, 1, 1, tzinfo=UTC))
    assert first == datetime(9999, 1, 1, tzinfo=UTC)
    assert next_fire(trigger, first) is None
    hourly = {**trigger, "every": 876_000, "unit": "hours"}
    assert next_fire(hourly, first) is None
