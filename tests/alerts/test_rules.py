"""The pure decision: which trigger a batch sets off for a rule, mute windows, grouping, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
