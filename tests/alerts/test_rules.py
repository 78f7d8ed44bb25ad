"""The pure decision: which trigger a batch sets off for a rule, mute windows, grouping, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import rules
from alerts.rules import BatchFacts, RuleFacts

EVERYTHING = RuleFacts(frozenset(rules.TRIGGERS))
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "core_failed", "previous", "watched", "expected"),
    [
        ("failed", False, None, rules.TRIGGERS, rules.FAILED),
        ("timed_out", False, None, rules.TRIGGERS, rules.TIMED_OUT),
        ("stopped", False, None, rules.TRIGGERS, rules.STOPPED),
        ("failed", False, None, (rules.TIMED_OUT,), None),
        ("succeeded", False, "failed", rules.TRIGGERS, rules.RECOVERED),
        ("succeeded", False, "timed_out", rules.TRIGGERS, rules.RECOVERED),
        ("succeeded", False, "stopped", rules.TRIGGERS, None),  # a stop is a person's act, not a failure
        ("succeeded", False, "succeeded", rules.TRIGGERS, None),
        ("succeeded", False, None, rules.TRIGGERS, None),
        ("succeeded", False, "failed", (rules.FAILED,), None),
        ("running", True, None, rules.TRIGGERS, rules.CORE_NODE_FAILED),
        ("running", True, None, (rules.FAILED,), None),
        ("running", False, None, rules.TRIGGERS, None),
        ("failed", True, None, rules.TRIGGERS, rules.CORE_NODE_FAILED),  # the same alert as the early warning
        ("failed", True, None, (rules.FAILED,), rules.FAILED),
    ],
)
def test_trigger_of_a_batch(status, core_failed, previous, watched, expected):
    facts = BatchFacts(status=status, core_node_failed=core_failed, previous_status=previous)
    assert rules.trigger_of(facts, RuleFacts(frozenset(watched))) == expected


def test_a_disabled_rule_sets_off_nothing():
    failed = BatchFacts("failed", False, None)
    assert rules.trigger_of(failed, RuleFacts(frozenset(rules.TRIGGERS), enabled=False)) is None


@pytest.mark.parametrize(
    ("muted_from", "muted_until", "muted"),
    [
        (None, None, False),
        (None, NOON + timedelta(minutes=1), True),
        (NOON - timedelta(hours=1), NOON + timedelta(hours=1), True),
        (NOON + timedelta(minutes=1), NOON + timedelta(hours=1), False),  # the window has not begun
        (NOON - timedelta(hours=2), NOON, False),  # the window has ended (its end is excluded)
    ],
)
def test_mute_window(muted_from, muted_until, muted):
    assert RuleFacts(frozenset(), True, muted_from, muted_until).muted(NOON) is muted


def test_own_rules_replace_the_team_defaults():
    assert rules.rules_for([3], [1, 2]) == [3]
    assert rules.rules_for([], [1, 2]) == [1, 2]


def test_group_due_waits_for_the_window_after_the_last_message():
    window = timedelta(minutes=10)
    assert rules.group_due(None, window, NOON) == NOON
    assert rules.group_due(NOON - timedelta(minutes=3), window, NOON) == NOON + timedelta(minutes=7)
    assert rules.group_due(NOON - timedelta(minutes=30), window, NOON) == NOON
    assert rules.group_due(NOON - timedelta(minutes=3), timedelta(0), NOON) == NOON


def test_retry_delay_doubles_up_to_the_cap():
    assert [rules.retry_delay(n, 30, 3600) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_running_long_counts_from_the_start_and_needs_a_limit():
    started = NOON - timedelta(minutes=10)
    assert rules.running_long(started, NOON, 599)
    assert not rules.running_long(started, NOON, 600)
    assert not rules.running_long(started, NOON, None)


def test_the_clock_trigger_is_never_decided_by_an_event():
    watcher = RuleFacts(frozenset({rules.RUNNING_LONG}))
    for status in ("running", "failed", "succeeded"):
        assert rules.trigger_of(BatchFacts(status, True, "failed"), watcher) is None


def test_the_rules_owner_stopping_the_batch_is_no_alert():
    mine = RuleFacts(frozenset({rules.STOPPED}), owner=7)
    assert rules.trigger_of(BatchFacts("stopped", False, None, stopped_by=7), mine) is None
    assert rules.trigger_of(BatchFacts("stopped", False, None, stopped_by=8), mine) == rules.STOPPED
    assert rules.trigger_of(BatchFacts("stopped", False, None, stopped_by=None), mine) == rules.STOPPED
    ownerless = RuleFacts(frozenset({rules.STOPPED}))
    assert rules.trigger_of(BatchFacts("stopped", False, None, stopped_by=7), ownerless) == rules.STOPPED


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("missed", rules.MISSED),
        ("skipped_overlap", rules.SKIPPED),
        ("skipped_backlog", rules.SKIPPED),
        ("started", None),
        ("started_late", None),
        ("queued", None),
        ("dropped", None),
    ],
)
def test_a_fires_outcome_sets_off_missed_or_skipped(outcome, expected):
    assert rules.fire_trigger(outcome, EVERYTHING) == expected
    assert rules.fire_trigger(outcome, RuleFacts(frozenset({rules.FAILED}))) is None
    assert rules.fire_trigger(outcome, RuleFacts(frozenset(rules.TRIGGERS), enabled=False)) is None


def test_fire_triggers_group_by_kind_apart_from_the_failures():
    assert rules.grouped_with(rules.SKIPPED) == [rules.SKIPPED]
    assert rules.grouped_with(rules.MISSED) == [rules.MISSED]
    assert rules.STOPPED in rules.grouped_with(rules.FAILED) and rules.SKIPPED not in rules.grouped_with(rules.FAILED)
    assert rules.grouped_with(rules.RECOVERED) == []


@pytest.mark.parametrize(
    ("fire", "deadline", "zone", "expected"),
    [
        # 09:00 UTC is 17:00 in Shanghai: 17:30 the same day is 09:30 UTC
        (
            datetime(2031, 5, 17, 9, 0, tzinfo=UTC),
            time(17, 30),
            "Asia/Shanghai",
            datetime(2031, 5, 17, 9, 30, tzinfo=UTC),
        ),
        # a deadline before the fire's wall time is the next day's
        (datetime(2031, 5, 17, 23, 0, tzinfo=UTC), time(2, 0), "UTC", datetime(2031, 5, 18, 2, 0, tzinfo=UTC)),
        (datetime(2031, 5, 17, 2, 0, tzinfo=UTC), time(2, 0), "UTC", datetime(2031, 5, 17, 2, 0, tzinfo=UTC)),
    ],
)
def test_the_deadline_is_the_first_wall_clock_time_at_or_after_the_fire(fire, deadline, zone, expected):
    assert rules.deadline_of(fire, deadline, zone) == expected


def test_not_succeeded_by_and_not_started_within_fire_when_late_and_not_when_on_time():
    deadline = NOON
    assert not rules.not_succeeded_by(deadline, NOON - timedelta(seconds=1), None, None)
    assert rules.not_succeeded_by(deadline, NOON, "running", None)
    assert rules.not_succeeded_by(deadline, NOON, None, None)  # a missed or skipped fire never succeeds
    assert not rules.not_succeeded_by(deadline, NOON, "succeeded", NOON - timedelta(minutes=1))
    assert rules.not_succeeded_by(deadline, NOON, "succeeded", NOON + timedelta(seconds=1))
    fire = NOON - timedelta(minutes=10)
    assert not rules.not_started_within(fire, fire + timedelta(minutes=5), 5, NOON)
    assert rules.not_started_within(fire, fire + timedelta(minutes=5, seconds=1), 5, NOON)
    assert not rules.not_started_within(fire, None, 10, NOON)
    assert rules.not_started_within(fire, None, 9, NOON)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200))
def test_p95_is_an_observed_duration_at_least_95_percent_of_them_do_not_exceed(durations):
    value = rules.p95(durations)
    assert value in durations
    assert sum(d <= value for d in durations) >= 0.95 * len(durations)
    assert sum(d < value for d in durations) < 0.95 * len(durations)


def test_a_relative_limit_needs_enough_history():
    assert rules.relative_limit([10.0, 20.0], 2) is None
    assert rules.relative_limit([10.0, 20.0, 30.0], 2) == 60.0
    assert rules.p95([]) is None


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]),
)
def test_a_deadline_is_never_before_its_fire_and_at_most_a_day_after(fire, deadline, zone):
    due = rules.deadline_of(fire, deadline, zone)
    assert fire <= due <= fire + timedelta(hours=25)  # 25: a day that gains an hour (DST)
    if zone in ("UTC", "Asia/Shanghai"):  # no DST: the wall clock reads the deadline
        assert due.astimezone(ZoneInfo(zone)).time() == deadline
