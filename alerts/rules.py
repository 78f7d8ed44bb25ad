"""Which rules a batch's state sets off, when a grouped message is due, how retries back off (pure).

No Django: the outbox (`alerts.outbox`) maps rows to these frozen facts, asks, and writes what
the answer says. Time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

FAILED = "failed"
TIMED_OUT = "timed_out"
STOPPED = "stopped"
RECOVERED = "recovered"
CORE_NODE_FAILED = "core_node_failed"
RUNNING_LONG = "running_long"

# What a rule can watch, in the order a message names them.
TRIGGERS = (FAILED, TIMED_OUT, STOPPED, RECOVERED, CORE_NODE_FAILED, RUNNING_LONG)
# Decided by the backstop's clock, not by an event: a rule watching it watches nothing else
# (one alert per batch and rule, and a batch that runs long may still fail).
CLOCK_TRIGGERS = frozenset({RUNNING_LONG})
# Triggers whose repeats within the grouping window share one message.
GROUPED = frozenset({FAILED, TIMED_OUT, STOPPED, CORE_NODE_FAILED})
# A batch that ended like this is "a failure" that a later success recovers from.
FAILURE_RESULTS = frozenset({FAILED, TIMED_OUT})
NODE_FAILURES = frozenset({"failed", "timed_out"})


@dataclass(frozen=True)
class BatchFacts:
    """What the decision reads of one batch."""

    status: str  # running, succeeded, failed, timed_out, stopped
    core_node_failed: bool  # a core node ended failed or timed out (final, not retrying)
    previous_status: str | None  # the status of the owner's batch that finished before this one


@dataclass(frozen=True)
class RuleFacts:
    """What the decision reads of one rule."""

    triggers: frozenset[str]
    enabled: bool = True
    muted_from: datetime | None = None
    muted_until: datetime | None = None

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
    if batch.status in (FAILED, TIMED_OUT, STOPPED) and batch.status in rule.triggers:
        return batch.status
    return None


def running_long(started_at: datetime, now: datetime, limit_seconds: int | None) -> bool:
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
