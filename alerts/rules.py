"""Which rules a batch's state or a fire sets off, when a grouped message is due, how retries back off (pure).

No Django: the outbox (`alerts.outbox`) maps rows to these frozen facts, asks, and writes what
the answer says. Time is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

FAILED = "failed"
TIMED_OUT = "timed_out"
STOPPED = "stopped"
RECOVERED = "recovered"
CORE_NODE_FAILED = "core_node_failed"
RUNNING_LONG = "running_long"
MISSED = "missed"
SKIPPED = "skipped"
NOT_SUCCEEDED_BY = "not_succeeded_by"
NOT_STARTED_WITHIN = "not_started_within"

# What a rule can watch, in the order a message names them.
TRIGGERS = (
    FAILED,
    TIMED_OUT,
    STOPPED,
    RECOVERED,
    CORE_NODE_FAILED,
    RUNNING_LONG,
    MISSED,
    SKIPPED,
    NOT_SUCCEEDED_BY,
    NOT_STARTED_WITHIN,
)
# Decided by the backstop's clock, not by an event: a rule watching one watches nothing else
# (one alert per batch or fire and rule, and a batch that runs long may still fail).
CLOCK_TRIGGERS = frozenset({RUNNING_LONG, NOT_SUCCEEDED_BY, NOT_STARTED_WITHIN})
# Alerts about a scheduled fire, keyed by the fire (a missed or skipped fire has no batch).
FIRE_TRIGGERS = frozenset({MISSED, SKIPPED, NOT_SUCCEEDED_BY, NOT_STARTED_WITHIN})
# Decided by the scheduler, in the transaction that records the fire's outcome.
FIRE_OUTCOME_TRIGGERS = {"missed": MISSED, "skipped_overlap": SKIPPED, "skipped_backlog": SKIPPED}
# Triggers whose repeats within the grouping window share one message: the failures together,
# each fire trigger with its own kind (an overlap policy can skip a fire every minute).
GROUPS = {
    FAILED: "failure",
    TIMED_OUT: "failure",
    STOPPED: "failure",
    CORE_NODE_FAILED: "failure",
    MISSED: MISSED,
    SKIPPED: SKIPPED,
}
GROUPED = frozenset(GROUPS)
# Fewest successful batches a relative running-long limit is computed from.
MIN_HISTORY = 3
# A batch that ended like this is "a failure" that a later success recovers from.
FAILURE_RESULTS = frozenset({FAILED, TIMED_OUT})
NODE_FAILURES = frozenset({"failed", "timed_out"})


@dataclass(frozen=True)
class BatchFacts:
    """What the decision reads of one batch."""

    status: str  # running, succeeded, failed, timed_out, stopped
    core_node_failed: bool  # a core node ended failed or timed out (final, not retrying)
    previous_status: str | None  # the status of the owner's batch that finished before this one
    stopped_by: int | None = None  # the user who stopped it (None: Baton, a timeout, or nobody)


@dataclass(frozen=True)
class RuleFacts:
    """What the decision reads of one rule."""

    triggers: frozenset[str]
    enabled: bool = True
    muted_from: datetime | None = None
    muted_until: datetime | None = None
    owner: int | None = None  # the user who made the rule: their own stops are not alerted

    def muted(self, now: datetime) -> bool:
        """Say whether the rule is inside its maintenance window at `now`."""
        if self.muted_until is None or now >= self.muted_until:
            return False
        return self.muted_from is None or now >= self.muted_from


def trigger_of(batch: BatchFacts, rule: RuleFacts) -> str | None:
    """Return what the batch sets off for the rule (at most one: one alert per batch and rule), or None.

    An ended batch is judged by its status; a running one only by a failed core node (the early
    warning). A batch whose core node already alerted is not alerted again when it ends: the
    alert row of (batch, rule) exists, and the outbox's unique constraint keeps the first.
    """
    if not rule.enabled:
        return None
    if batch.status == "succeeded":
        recovered = batch.previous_status in FAILURE_RESULTS
        return RECOVERED if recovered and RECOVERED in rule.triggers else None
    if batch.core_node_failed and CORE_NODE_FAILED in rule.triggers:
        return CORE_NODE_FAILED
    if batch.status == STOPPED and rule.owner is not None and batch.stopped_by == rule.owner:
        return None  # the rule's owner stopped it: they know
    if batch.status in (FAILED, TIMED_OUT, STOPPED) and batch.status in rule.triggers:
        return batch.status
    return None


def fire_trigger(outcome: str, rule: RuleFacts) -> str | None:
    """Return what a fire's outcome (missed, skipped by the overlap policy) sets off for the rule, or None."""
    trigger = FIRE_OUTCOME_TRIGGERS.get(outcome)
    return trigger if rule.enabled and trigger in rule.triggers else None


def group_of(trigger: str) -> str | None:
    """Return the group whose repeats share a message (None: the trigger is never grouped)."""
    return GROUPS.get(trigger)


def grouped_with(trigger: str) -> list[str]:
    """Return the triggers that share a message with `trigger` (empty: never grouped)."""
    group = group_of(trigger)
    return sorted(other for other, its in GROUPS.items() if group is not None and its == group)


def deadline_of(fire_at: datetime, deadline: time, zone: str) -> datetime:
    """Return the first wall-clock `deadline` in `zone` at or after the fire time (its day, or the next)."""
    tz = ZoneInfo(zone)
    fired = fire_at.astimezone(UTC)  # compared in UTC: two times in one zone compare as wall times
    day = fire_at.astimezone(tz).date()
    at = datetime.combine(day, deadline, tzinfo=tz)
    if at.astimezone(UTC) < fired:
        at = datetime.combine(day + timedelta(days=1), deadline, tzinfo=tz)
    return at


def not_succeeded_by(deadline_at: datetime, now: datetime, status: str | None, finished_at: datetime | None) -> bool:
    """Say whether a fire's batch (status None: it has none) has not succeeded by the deadline, as of `now`."""
    if now < deadline_at:
        return False
    return not (status == "succeeded" and finished_at is not None and finished_at <= deadline_at)


def not_started_within(scheduled_for: datetime, started_at: datetime | None, minutes: int, now: datetime) -> bool:
    """Say whether a fire's batch had not started `minutes` after the fire time, as of `now` (None: not yet)."""
    limit = scheduled_for + timedelta(minutes=minutes)
    return started_at > limit if started_at is not None else now > limit


def p95(durations: Sequence[float]) -> float | None:
    """Return the 95th percentile of `durations` (nearest rank), or None for none."""
    if not durations:
        return None
    ordered = sorted(durations)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def relative_limit(durations: Sequence[float], factor: float) -> float | None:
    """Return k × p95 of the successful batches' durations, or None with fewer than MIN_HISTORY of them."""
    if len(durations) < MIN_HISTORY:
        return None
    base = p95(durations)
    return None if base is None else factor * base


def running_long(started_at: datetime, now: datetime, limit_seconds: float | None) -> bool:
    """Say whether a batch started at `started_at` has run longer than the rule's limit at `now`."""
    return limit_seconds is not None and now - started_at > timedelta(seconds=limit_seconds)


def rules_for(owner_rules: Iterable[int], team_defaults: Iterable[int]) -> list[int]:
    """Return the rules that apply to a workflow or task: its own if it has any, else its team's defaults."""
    own = list(owner_rules)
    return own if own else list(team_defaults)


def group_due(last_sent: datetime | None, window: timedelta, now: datetime) -> datetime:
    """Return when a grouped trigger may be sent: now, or when the window after the last message closes."""
    if last_sent is None or window <= timedelta(0):
        return now
    return max(now, last_sent + window)


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Return the seconds to wait after failed attempt number `attempt` (1-based): base, 2×, 4× … up to cap."""
    return min(cap, base * 2 ** max(0, attempt - 1))
