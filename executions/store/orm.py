"""The hop as ORM statements, on any database Django supports (SQLite, the embedded default).

Every status change goes through `executions.transitions` (compare-and-set plus its event).
On SQLite a transaction takes the write lock when it begins (`BEGIN IMMEDIATE`), so the
statements of one operation never interleave with another's; a round trip costs microseconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from executions.dispatch import Wakeup
from executions.models import Attempt, Batch, Event, NodeRun
from executions.states import BatchStatus, NodeStatus
from executions.store.base import (
    Applied,
    AttemptEnd,
    LockedBatch,
    Move,
    NodeRow,
    RecordedFinish,
    ReferenceContext,
    StraightFinish,
)
from executions.transitions import EventLog, batch_transition, moved_at, node_transition, nodes_transition


def stamp_auto_now(model: Any, objs: list[Any], now: datetime) -> None:
    """Set the `auto_now_add` / `auto_now` fields of rows about to be inserted to `now`."""
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            for obj in objs:
                setattr(obj, field.attname, now)


class OrmHopStore:
    """A hop's writes with the ORM: one statement per row kind, the events of an operation in one insert."""

    claims_wait_for_commit = False

    def insert(self, model: Any, objs: list[Any], now: datetime) -> None:
        """Insert rows the caller built with `bulk_create`."""
        if objs:
            stamp_auto_now(model, objs, now)
            model.objects.bulk_create(objs)

    def claim(self, node_run_id: int, *, now: datetime, due_by: datetime, worker: str) -> NodeRun | None:
        """Read the run and its batch, then move it with guarded updates; None if another got there first."""
        with transaction.atomic():
            run = NodeRun.objects.select_related("batch").filter(pk=node_run_id).first()
            if run is None:
                return None
            if run.status == NodeStatus.RETRYING:
                if run.retry_at and run.retry_at > due_by:
                    return None  # an early duplicate; the due message or the sweep claims it later
                if not node_transition(run, to=NodeStatus.QUEUED, now=now, queued_at=now, message="retry due"):
                    return None
            if run.status != NodeStatus.QUEUED:
                return None
            attempt = run.attempts + 1
            claimed = node_transition(
                run,
                to=NodeStatus.RUNNING,
                now=now,
                message=f"attempt {attempt} on {worker}",
                attempts=attempt,
                started_at=now,
                finished_at=None,
                heartbeat_at=now,
                worker=worker,
                resent=0,
                resend_at=None,
                output="",  # the new attempt's output, written as it runs (the last one's is on its attempt row)
            )
        return run if claimed else None

    def lock_batch(self, batch_id: str) -> LockedBatch:
        """Lock the batch row (FOR NO KEY UPDATE where the database has row locks) and read it."""
        # FOR NO KEY UPDATE: serialises the engine's actions on one batch, yet does not block the
        # FOR KEY SHARE a worker's foreign-key checks take at COMMIT (that was a deadlock).
        row = (
            Batch.objects.select_for_update(no_key=True)
            .values_list(
                "status",
                "stop_requested_at",
                "stop_reason",
                "deadline_at",
                "trigger",
                "workflow_id",
                "task_id",
                "paused_at",
                "team_id",
            )
            .get(pk=batch_id)
        )
        return LockedBatch(batch_id, *row)

    def node_rows(self, batch_id: str) -> list[NodeRow]:
        """Read the batch's node runs in id order."""
        rows = NodeRun.objects.filter(batch_id=batch_id).values_list("pk", "node_key", "status", "queue")
        return [NodeRow(*row) for row in rows]

    def reference_context(self, run_id: int, batch_id: str, nodes: frozenset[str]) -> ReferenceContext:
        """Read the run's own row (for the batch's context) and the referenced nodes' rows in one query."""
        rows = (
            NodeRun.objects.filter(batch_id=batch_id)
            .filter(Q(pk=run_id) | Q(node_key__in=nodes))
            .values_list("node_key", "status", "outputs", "batch__context")
        )
        context: dict[str, Any] = {}
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for key, status, outputs, batch_context in rows:
            context = batch_context or {}
            if key in nodes:
                found[key] = (status, outputs or {})
        return ReferenceContext(context, found)

    def record_finish(self, end: AttemptEnd, *, read_states: bool) -> RecordedFinish | None:
        """Record the end with a guarded update, the attempt row and the event; read the states after it."""
        events = EventLog()
        if not self._record(end, events):
            return None
        events.flush()
        return RecordedFinish(self.node_rows(end.batch_id) if read_states else [])

    def finish_straight(
        self, end: AttemptEnd, successors: tuple[str, ...], *, result: str | None = None
    ) -> StraightFinish:
        """Lock the batch, re-check that it runs and is not stopping, record the end, queue the successors or end it."""
        with transaction.atomic():
            batch = self.lock_batch(end.batch_id)
            if batch.status != BatchStatus.RUNNING or batch.stopping(end.now) or batch.paused_at is not None:
                return StraightFinish(locked=False, recorded=False, queued=[])
            events = EventLog()
            if not self._record(end, events):
                return StraightFinish(locked=True, recorded=False, queued=[])
            if result is not None:
                ended = batch_transition(
                    end.batch_id,
                    current=BatchStatus.RUNNING,
                    to=result,
                    now=end.now,
                    finished_at=end.now,
                    events=events,
                )
                events.flush()
                return StraightFinish(locked=True, recorded=True, queued=[], ended=ended, batch=batch)
            waiting = list(
                NodeRun.objects.filter(batch_id=end.batch_id, node_key__in=successors, status=NodeStatus.PENDING)
                .values_list("pk", "node_key", "queue")
                .order_by("pk")
            )
            moved = nodes_transition(
                end.batch_id,
                ((pk, key) for pk, key, _ in waiting),
                current=NodeStatus.PENDING,
                to=NodeStatus.QUEUED,
                now=end.now,
                events=events,
                queued_at=end.now,
            )
            events.flush()
        queues = {pk: queue for pk, _, queue in waiting}
        return StraightFinish(locked=True, recorded=True, queued=[(pk, queues[pk]) for pk in moved])

    def apply(
        self, batch_id: str, moves: list[Move], *, now: datetime, message: str = "", result: str | None = None
    ) -> Applied:
        """Apply each move as one guarded update, end the batch, and write every event in one insert."""
        events = EventLog()
        queued: list[Wakeup] = []
        for move in moves:
            moved = nodes_transition(
                batch_id,
                ((row.pk, row.node_key) for row in move.runs),
                current=move.current,
                to=move.to,
                now=now,
                message=message,
                events=events,
                **{moved_at(move.to): now},
            )
            if move.to == NodeStatus.QUEUED:
                queues = {row.pk: row.queue for row in move.runs}
                queued += [(pk, queues[pk]) for pk in moved]
        ended = result is not None and batch_transition(
            batch_id, current=BatchStatus.RUNNING, to=result, now=now, finished_at=now, events=events
        )
        events.flush()
        return Applied(queued, ended)

    def request_stop(self, batch_id: str, *, reason: str, now: datetime, message: str) -> None:
        """Record the stop request on the batch row and its event."""
        Batch.objects.filter(pk=batch_id).update(stop_requested_at=now, stop_reason=reason)
        Event.objects.create(
            batch_id=batch_id, from_status=BatchStatus.RUNNING, to_status=BatchStatus.RUNNING, at=now, message=message
        )

    def _record(self, end: AttemptEnd, events: EventLog) -> bool:
        """Move the run from running (on this attempt) to `end.to` and write the attempt row."""
        run = NodeRun(pk=end.run_id, batch_id=end.batch_id, node_key=end.node_key, status=NodeStatus.RUNNING)
        fields: dict[str, Any] = {
            "output": end.output,
            "detail": end.detail,
            "outputs": end.outputs,
            "finished_at": end.now,
        }
        if end.retry_at is not None:
            fields["retry_at"] = end.retry_at
        if not node_transition(
            run,
            to=end.to,
            now=end.now,
            message=end.message,
            events=events,
            unchanged={"attempts": end.attempt},
            **fields,
        ):
            return False
        # The attempt's row is written once, when it ends (the running attempt lives on the node run).
        Attempt.objects.create(
            node_run_id=end.run_id,
            number=end.attempt,
            status=end.status,
            worker=end.worker,
            started_at=end.started_at,
            finished_at=end.now,
            output=end.output,
            detail=end.detail,
        )
        return True
