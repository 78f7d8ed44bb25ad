"""Pure trigger arithmetic: periodic anchors without drift, DST, and the misfire split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from workflows.schedule import next_fire, plan_fires


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


def test_misfire_split_fire_once_now_runs_the_latest_missed_fire():
    trigger = periodic(1, "minutes", "2031-01-01T00:00:00+00:00")
    due = datetime(2031, 1, 1, 0, 0, tzinfo=UTC)
    now = datetime(2031, 1, 1, 0, 10, 30, tzinfo=UTC)
    plan = plan_fires(trigger, due, now, misfire_policy="fire_once_now", threshold=timedelta(seconds=60))
    assert [f.minute for f in plan.on_time] == [10]
    assert plan.missed_count == 10 and plan.missed_first.minute == 0 and plan.missed_last.minute == 9
    assert plan.late_fire == plan.missed_last and plan.next_at.minute == 11


def test_misfire_split_skip_runs_nothing_missed():
    trigger = periodic(1, "minutes", "2031-01-01T00:00:00+00:00")
    plan = plan_fires(
        trigger, datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, 5, 0, 30, tzinfo=UTC),
        misfire_policy="skip", threshold=timedelta(seconds=60),
    )  # fmt: skip
    assert plan.late_fire is None and plan.missed_count == 300 and [f.hour for f in plan.on_time] == [5]


def test_a_fire_within_the_threshold_is_on_time():
    trigger = periodic(1, "minutes", "2031-01-01T00:00:00+00:00")
    plan = plan_fires(
        trigger, datetime(2031, 1, 1, 0, 1, tzinfo=UTC), datetime(2031, 1, 1, 0, 1, 5, tzinfo=UTC),
        misfire_policy="skip", threshold=timedelta(seconds=60),
    )  # fmt: skip
    assert len(plan.on_time) == 1 and plan.missed_count == 0


def test_a_periodic_trigger_whose_next_fire_is_after_the_year_9999_has_none():
    trigger = {"type": "periodic", "every": 36_500, "unit": "days", "start": "9999-01-01T00:00:00Z", "timezone": "UTC"}
    first = next_fire(trigger, datetime(2026, 1, 1, tzinfo=UTC))
    assert first == datetime(9999, 1, 1, tzinfo=UTC)
    assert next_fire(trigger, first) is None
    hourly = {**trigger, "every": 876_000, "unit": "hours"}
    assert next_fire(hourly, first) is None
