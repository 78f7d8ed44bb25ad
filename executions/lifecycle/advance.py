"""Advancing: apply the engine's decision to a batch whose row the caller has locked.

The pure engine (`executions.engine`) decides from the node states; the store applies the
decision with guarded moves. The callers — a finish, a stop, the sweep — send the wake-ups of
what was queued (`dispatch`), each as its own guarantees allow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from executions import dispatch, engine
from executions.dispatch import Wakeup
from executions.models import Batch
from executions.runtime import Blueprint, blueprint_for, blueprint_of
from executions.states import NODE_ACTIVE, BatchStatus, NodeStatus
from executions.store import HopStore, LockedBatch, Move, NodeRow
from ops import metrics


def batch_blueprint(batch: Batch) -> Blueprint:
    """Return what a batch runs: its workflow version's blueprint, or a task run's one-node blueprint."""
    if batch.version_id is not None:
        return blueprint_for(batch.version_id)
    return blueprint_of(batch.snapshot)


def batch_advance(
    store: HopStore,
    batch: LockedBatch,
    now: datetime,
    *,
    blueprint: Blueprint | None = None,
    rows: list[NodeRow] | None = None,
) -> list[Wakeup]:
    """Apply the engine's decision for the batch; return the runs it queued, for the caller to wake.

    The caller holds the batch row lock; `blueprint` and `rows` (the node runs as they are now)
    are read here when the caller does not have them.

    1. A running batch past its deadline is stopped first (`request_stop`), as a timeout.
    2. If a stop or timeout was requested, start nothing; end the batch once nothing is active.
    3. A paused batch queues nothing (`engine.advance` with `hold`); it still ends when nothing is left.
    4. Otherwise queue, satisfy and skip what the engine says, and end the batch when it has a
       result, with the events, in the store's `apply`.
    """
    if batch.status != BatchStatus.RUNNING:
        return []
    if batch.stop_requested_at is None and batch.past_deadline(now):
        request_stop(store, batch, BatchStatus.TIMED_OUT, now)
        rows = None
    rows = store.node_rows(batch.pk) if rows is None else rows
    if batch.stop_requested_at is not None:
        result = batch.stop_reason or BatchStatus.STOPPED
        if (
            not any(row.status in NODE_ACTIVE for row in rows)
            and store.apply(batch.pk, [], now=now, result=result).ended
        ):
            batch_ended(batch, result)
        return []
    if blueprint is None:
        blueprint = batch_blueprint(Batch.objects.only("version_id", "snapshot").get(pk=batch.pk))
    held = batch.paused_at is not None  # paused: nothing is queued; what is ready waits for the continue
    decision = engine.advance(blueprint.graph, {row.node_key: row.status for row in rows}, hold=held)
    by_key = {row.node_key: row for row in rows}
    moves = [Move(NodeStatus.PENDING, to, tuple(by_key[key] for key in keys)) for to, keys in decision.moves() if keys]
    applied = store.apply(batch.pk, moves, now=now, result=decision.result)
    if applied.ended and decision.result is not None:
        batch_ended(batch, decision.result)
    return applied.queued


def batch_ended(batch: LockedBatch, result: str) -> None:
    """Note the batch's end on the locked row; count it and wake the alerts once the caller's transaction commits."""
    batch.status = result
    dispatch.alert_after_commit(batch.pk, team_id=batch.team_id)
    metrics.batch_ended_after_commit(
        workflow_id=batch.workflow_id, task_id=batch.task_id, trigger=batch.trigger, status=result
    )


def request_stop(store: HopStore, batch: LockedBatch, reason: str, now: datetime, user: Any = None) -> None:
    """Record a stop (or timeout) request; the caller holds the batch row lock.

    1. From here on no advance queues anything, and every worker's heartbeat sees the
       request and cancels its task.
    2. Every node run the engine says a stop ends (`engine.stop_states`: pending, queued,
       retrying) becomes stopped with a guarded move; a worker's claim re-checks the run's
       status, so it cannot start one of them, and one it claimed first stays running.
    3. The batch ends in the caller's advance once nothing is running any more.
    """
    who = f" by {user}" if getattr(user, "pk", None) else ""
    what = "timeout reached" if reason == BatchStatus.TIMED_OUT else "stop requested"
    store.request_stop(batch.pk, reason=reason, now=now, message=f"{what}{who}")
    batch.stop_requested_at, batch.stop_reason = now, reason
    rows = store.node_rows(batch.pk)
    stopped = engine.stop_states({row.node_key: row.status for row in rows})
    by_status: dict[str, list[NodeRow]] = {}
    for row in rows:
        if row.node_key in stopped:
            by_status.setdefault(row.status, []).append(row)
    moves = [Move(current, NodeStatus.STOPPED, tuple(runs)) for current, runs in sorted(by_status.items())]
    store.apply(batch.pk, moves, now=now, message=what)
