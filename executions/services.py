"""Run-time actions: start a batch, run a node, record its result, stop, recover.

Every action is a short transaction that locks the batch row (`SELECT … FOR UPDATE`), so two
branches finishing at the same instant are serialised and a join is queued exactly once.
The pure engine (`executions.engine`) decides; this module applies the decision.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from executions import dispatch, engine, fastpath, kinds
from executions.dispatch import dispatch_after_commit
from executions.models import Attempt, Batch, Event, NodeRun, new_batch_id
from executions.runtime import Plan, plan_for, plan_of
from executions.states import BATCH_RESUMABLE, NODE_ACTIVE, BatchStatus, NodeStatus, TriggerKind
from executions.storable import storable, unrecorded
from executions.transitions import EventLog, batch_transition, node_transition, nodes_transition
from workflows import graph, secrets
from workflows.definition import task_document
from workflows.models import Task, Workflow
from workflows.services import task_spec_of
from workflows.task_config import is_reserved_queue

N = NodeStatus
OUTCOME_STATUS = {
    "succeeded": N.SUCCEEDED,
    "failed": N.FAILED,
    "timed_out": N.TIMED_OUT,
    "cancelled": N.STOPPED,
}
WORKER = f"{socket.gethostname()}"
logger = logging.getLogger(__name__)


class BatonError(Exception):
    """A request the current state cannot honour; its message is shown to the user."""


class NotRunnable(BatonError):
    """The workflow cannot start a batch (no saved definition, deleted)."""


class TransitionNotPossible(BatonError):
    """The object is no longer in a state that allows this action (HTTP 409)."""


# --- starting -----------------------------------------------------------------------------


def batch_start(
    *,
    workflow: Workflow,
    trigger: str = TriggerKind.MANUAL,
    user: Any = None,
    scheduled_for: datetime | None = None,
    rerun_of: Batch | None = None,
    keep: dict[str, NodeRun] | None = None,
) -> Batch:
    """Start a batch of the workflow's current version (or of `rerun_of`'s version)."""
    version = rerun_of.version if rerun_of else workflow.current_version
    if version is None:
        raise NotRunnable(f"workflow {workflow.name!r} has no saved definition")
    if workflow.deleted_at is not None:  # SPEC §6: a deleted workflow starts nothing new, re-runs included
        raise NotRunnable(_("workflow %(name)s is deleted; it starts no new batch") % {"name": repr(workflow.name)})
    return _start(
        Batch(workflow=workflow, version=version), plan_for(version.pk),
        trigger=trigger, user=user, scheduled_for=scheduled_for, rerun_of=rerun_of, keep=keep,
    )  # fmt: skip


def task_run_start(
    *, task: Task, trigger: str = TriggerKind.MANUAL, user: Any = None,
    scheduled_for: datetime | None = None, rerun_of: Batch | None = None,
) -> Batch:  # fmt: skip
    """Run a standalone task once, as a batch of one node on a snapshot of the task."""
    if rerun_of is not None:
        snapshot = rerun_of.snapshot
    else:
        if task.workflow is not None:
            raise NotRunnable(f"task {task.name!r} belongs to workflow {task.workflow.name!r}; run the workflow")
        snapshot = task_run_definition(task)
    return _start(
        Batch(task=task, snapshot=snapshot), plan_of(snapshot),
        trigger=trigger, user=user, scheduled_for=scheduled_for, rerun_of=rerun_of, keep=None,
    )  # fmt: skip


def task_run_definition(task: Task) -> dict[str, Any]:
    """Return the one-node definition a standalone task's run executes."""
    return {
        "timeout_seconds": settings.BATON_DEFAULT_WORKFLOW_TIMEOUT,
        "nodes": [{"key": task.name, "type": graph.TASK, "task": task_document(task_spec_of(task))}],
        "edges": [{"from": graph.START, "to": task.name}],
    }


@dataclass
class NewBatch:
    """A batch built in memory with its node runs and events, ready to insert."""

    batch: Batch
    runs: list[NodeRun]
    events: list[Event]
    prepared_at: datetime | None = None  # the `now` it was built with

    @property
    def queued(self) -> list[NodeRun]:
        return [run for run in self.runs if run.status == N.QUEUED]

    def restamp(self, now: datetime) -> None:
        """Move the times it was built with to `now`, the moment it is inserted.

        The scheduler builds a batch ahead of its fire time; what it records (created, queued,
        events, deadline) must say when it really started. Kept runs' own times stay.
        """
        then, self.prepared_at = self.prepared_at, now
        if then is None or then == now:
            return
        batch = self.batch
        batch.created_at = now
        if batch.deadline_at is not None:
            batch.deadline_at += now - then
        if batch.finished_at == then:
            batch.finished_at = now
        for run in self.runs:
            if run.queued_at == then:
                run.queued_at = now
            if run.finished_at == then:
                run.finished_at = now
        for event in self.events:
            if event.at == then:
                event.at = now


def _start(
    batch: Batch, plan: Plan, *, trigger: str, user: Any, scheduled_for: datetime | None,
    rerun_of: Batch | None, keep: dict[str, NodeRun] | None,
) -> Batch:  # fmt: skip
    """Insert the batch, its node runs (the ready ones queued) and its events in one transaction."""
    new = batch_prepare(
        batch, plan, trigger=trigger, user=user, scheduled_for=scheduled_for, rerun_of=rerun_of, keep=keep or {},
        now=timezone.now(),
    )  # fmt: skip
    with transaction.atomic():
        batches_insert([new])
    return new.batch


def batch_prepare(
    batch: Batch, plan: Plan, *, trigger: str, user: Any = None, scheduled_for: datetime | None = None,
    rerun_of: Batch | None = None, keep: dict[str, NodeRun] | None = None, now: datetime,
) -> NewBatch:  # fmt: skip
    """Build a batch in memory: every node run, the engine's first decision applied, the events."""
    keep = keep or {}
    batch.trigger, batch.scheduled_for, batch.rerun_of = trigger, scheduled_for, rerun_of
    batch.created_by = user if getattr(user, "pk", None) else None
    batch.created_at, batch.deadline_at = now, now + timedelta(seconds=plan.timeout_seconds)
    events = [Event(batch=batch, to_status=BatchStatus.RUNNING, at=now, message=f"started ({trigger})")]
    runs: dict[str, NodeRun] = {}
    for node in plan.graph.nodes:
        task = plan.tasks.get(node.key)
        run = NodeRun(
            batch=batch, node_key=node.key, node_type=node.type,
            task_name=task["name"] if task else "", queue=task["queue"] if task else "",
        )  # fmt: skip
        kept = keep.get(node.key)
        if kept is not None:
            run.status, run.attempts, run.output = N.SUCCEEDED, kept.attempts, kept.output
            run.detail = {**kept.detail, "kept_from": kept.batch_id}
            run.started_at, run.finished_at = kept.started_at, kept.finished_at
        events.append(Event(batch=batch, node_run=run, node_key=node.key, to_status=run.status, at=now,
                            message=f"kept from {kept.batch_id}" if kept else ""))  # fmt: skip
        runs[node.key] = run
    decision = engine.advance(plan.graph, {key: run.status for key, run in runs.items()})
    for keys, to, stamp in ((decision.queue, N.QUEUED, "queued_at"), (decision.satisfy, N.SUCCEEDED, "finished_at"),
                            (decision.skip, N.SKIPPED, "finished_at")):  # fmt: skip
        for key in keys:
            runs[key].status = to
            setattr(runs[key], stamp, now)
            events.append(
                Event(batch=batch, node_run=runs[key], node_key=key, from_status=N.PENDING, to_status=to, at=now)
            )
    if decision.result is not None:
        batch.status, batch.finished_at = decision.result, now
        events.append(Event(batch=batch, from_status=BatchStatus.RUNNING, to_status=decision.result, at=now))
    return NewBatch(batch, list(runs.values()), events, prepared_at=now)


def batches_insert(new: list[NewBatch]) -> list[NewBatch]:
    """Insert prepared batches (a few statements for any number) and send their ready runs after commit.

    The caller holds a transaction. A random id that collides (about once in 10^12) is drawn
    again; a scheduled fire that is already taken raises IntegrityError, which the scheduler
    reads as "another scheduler started this fire". Of several, those are left out of the
    returned list of what was inserted.
    """
    try:
        with transaction.atomic():
            _insert_rows(new)
    except IntegrityError:
        if len(new) == 1:
            one = new[0]
            if one.batch.scheduled_for is not None and _fire_taken(one.batch):
                raise
            one.batch.pk = new_batch_id()
            return batches_insert([one])
        inserted = []
        for one in new:  # find the culprit: insert one by one
            with contextlib.suppress(IntegrityError):
                inserted += batches_insert([one])
        return inserted
    dispatch_after_commit((run.pk, run.queue) for one in new for run in one.queued)
    return new


def _insert_rows(new: list[NewBatch]) -> None:
    """Insert the batches, then their node runs, then their events: three statements for any number."""
    now = timezone.now()  # the moment of the insert: what created_at, the events and queued_at say
    batches, runs, events = [], [], []
    for one in new:
        one.restamp(now)
        batches.append(one.batch)
        for run in one.runs:  # re-attach, in case the batch's id was drawn again (or a retry)
            run.batch_id, run.pk = one.batch.pk, None
            runs.append(run)
        for event in one.events:
            event.batch_id = one.batch.pk
            events.append(event)
    bulk_insert(Batch, batches, now)
    bulk_insert(NodeRun, runs, now)
    for event in events:
        if event.node_run is not None:
            event.node_run = event.node_run  # picks up the id the insert just set
    bulk_insert(Event, events, now)


def bulk_insert(model: Any, objs: list[Any], now: datetime) -> None:
    """Insert model instances in one statement; `auto_now_add` fields say `now`.

    On PostgreSQL: `INSERT … SELECT … FROM unnest(%s::type[], …)` with one array per column,
    read straight off the instances (the ORM's bulk_create converts every field of every
    object in Python first), sent in binary. An auto id comes back through RETURNING in the
    order of the arrays, which is what the ORM's bulk_create relies on too. Elsewhere:
    `bulk_create`. No signals, no field validation: for rows the caller built itself.
    """
    if not objs:
        return
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            for obj in objs:
                setattr(obj, field.attname, now)
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    import json

    sql, fields, returning = _unnest_insert(model, with_pk=objs[0].pk is not None)
    columns: list[list[Any]] = []
    for field in fields:
        values = [getattr(obj, field.attname) for obj in objs]
        if field.get_internal_type() == "JSONField":
            encoder = field.encoder  # type: ignore[attr-defined]
            values = [None if v is None else json.dumps(v, cls=encoder) for v in values]
        columns.append(values)
    rows = _execute_binary(sql, columns, fetch=returning)
    if returning:
        for obj, (pk,) in zip(objs, rows, strict=True):
            obj.pk = pk
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


def _execute_binary(sql: str, params: list[Any], *, fetch: bool) -> list[tuple]:
    """Run a statement whose parameters are arrays, sent in binary by a server-side-bound cursor.

    Django's cursor binds on the client: it quotes every array element in Python (a regular
    expression per value), which was half of the time of inserting a thousand fires' events.
    The cursor is the engine's (`fastpath._cursor`): Django's error translation (an
    IntegrityError stays one), query log and execute wrappers apply.
    """
    with fastpath._cursor() as cursor:
        cursor.execute(sql.replace("%s", "%b"), params)
        return cursor.fetchall() if fetch else []


_UNNEST_SQL: dict[tuple[Any, bool], tuple[str, list[Any], bool]] = {}


def _unnest_insert(model: Any, *, with_pk: bool) -> tuple[str, list[Any], bool]:
    """The `INSERT … SELECT FROM unnest` statement of a model (built once per model)."""
    key = (model, with_pk)
    if key not in _UNNEST_SQL:
        fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        quote = connection.ops.quote_name
        names = [quote(f.column) for f in fields]
        arrays = ["%s::text[]" if f.get_internal_type() == "JSONField" else f"%s::{f.db_type(connection)}[]"
                  for f in fields]  # fmt: skip
        selects = [
            f"u.{n}::jsonb" if f.get_internal_type() == "JSONField" else f"u.{n}"
            for f, n in zip(fields, names, strict=True)
        ]
        returning = not with_pk
        # Names and types come from the model's metadata; every value is a bound parameter.
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {', '.join(selects)} FROM unnest({', '.join(arrays)}) AS u({', '.join(names)})"
            + (f" RETURNING {quote(model._meta.pk.column)}" if returning else "")
        )
        _UNNEST_SQL[key] = (sql, fields, returning)
    return _UNNEST_SQL[key]


def _fire_taken(batch: Batch) -> bool:
    owner = {"workflow_id": batch.workflow_id} if batch.workflow_id else {"task_id": batch.task_id}
    return Batch.objects.filter(scheduled_for=batch.scheduled_for, **owner).exists()


# --- advancing ----------------------------------------------------------------------------


def _advance(batch: Batch, plan: Plan, now: datetime, events: EventLog | None = None) -> None:
    """Apply the engine's decision for the batch; the caller holds the batch row lock.

    1. Read every node run's status of the batch (one query).
    2. If a stop or timeout was requested, start nothing; end the batch once nothing is active.
    3. Otherwise queue, satisfy and skip what the engine says, end the batch when it has a
       result, write the events (one INSERT), and send the queued runs' ids after commit.
    """
    log = events if events is not None else EventLog()
    if batch.stop_requested_at is None and batch.deadline_at is not None and batch.deadline_at <= now:
        _request_stop(batch, BatchStatus.TIMED_OUT, now)
    rows = list(NodeRun.objects.filter(batch=batch).values_list("pk", "node_key", "status", "queue"))
    if batch.stop_requested_at is not None:
        if not any(status in NODE_ACTIVE for _, _, status, _ in rows):
            batch_transition(batch, to=batch.stop_reason or BatchStatus.STOPPED, now=now, finished_at=now, events=log)
        log.flush()
        return
    states = {key: status for _, key, status, _ in rows}
    ids = {key: pk for pk, key, _, _ in rows}
    decision = engine.advance(plan.graph, states)
    moves = ((decision.queue, N.QUEUED, "queued_at"), (decision.satisfy, N.SUCCEEDED, "finished_at"),
             (decision.skip, N.SKIPPED, "finished_at"))  # fmt: skip
    queued: list[int] = []
    for keys, to, stamp in moves:
        moved = nodes_transition(
            batch.pk, ((ids[k], k) for k in keys), current=N.PENDING, to=to, now=now, events=log, **{stamp: now}
        )
        queued += moved if to == N.QUEUED else []
    if decision.result is not None:
        batch_transition(batch, to=decision.result, now=now, finished_at=now, events=log)
    log.flush()
    queues = {pk: queue for pk, _, _, queue in rows}
    dispatch_after_commit((pk, queues[pk]) for pk in queued)


def batch_plan(batch: Batch) -> Plan:
    """Return what a batch runs: its workflow version's plan, or a task run's one-node plan."""
    if batch.version_id is not None:
        return plan_for(batch.version_id)
    return plan_of(batch.snapshot)


def _locked_batch(batch_id: str) -> Batch:
    # FOR NO KEY UPDATE: serialises the engine's actions on one batch, yet does not block the
    # FOR KEY SHARE a worker's foreign-key checks take at COMMIT (that was a deadlock).
    return Batch.objects.select_for_update(no_key=True).get(pk=batch_id)


# --- running a node -----------------------------------------------------------------------


def node_run_execute(*, node_run_id: int, continue_for: float = 0, delivered_on: str = "") -> str | None:
    """Claim a queued node run, execute its task, record the result; None if not claimed.

    With `continue_for` > 0 (the worker's task does this), a successor the finish queued on
    the same queue is claimed and run here at once, skipping a broker round trip, and so on
    while less than `continue_for` seconds have passed since the first claim; after that the
    chain goes back through the broker, so other work waiting in the queue gets its turn.

    `delivered_on` is the queue the message came from. A reserved queue (`baton-…`: the
    scheduler tick's and the sweep's) never runs a task of another queue: such a message
    (forged, or misrouted) is dropped unclaimed, and the run's own message, or the sweep's
    re-send to its own queue, runs it where it belongs. A run whose own queue is reserved
    fails without running (`_execute_one`).
    """
    if is_reserved_queue(delivered_on) and not is_reserved_queue(_queue_of(node_run_id)):
        logger.warning("node run %s: its message on the reserved queue %r was dropped", node_run_id, delivered_on)
        return None
    deadline = time.monotonic() + continue_for
    status, next_id = _execute_one(node_run_id, keep_next=continue_for > 0)
    while next_id is not None:
        if time.monotonic() >= deadline:
            dispatch.backend([(next_id, _queue_of(next_id))], None)
            break
        try:
            status, next_id = _execute_one(next_id, keep_next=True)
        except (OperationalError, InterfaceError):
            # Not claimed (the claim is one statement): let the broker, or else the sweep, deliver it.
            connection.close()
            with contextlib.suppress(Exception):
                dispatch.backend([(next_id, _queue_of(next_id))], None)
            raise
    return status


def _queue_of(node_run_id: int) -> str:
    return NodeRun.objects.filter(pk=node_run_id).values_list("queue", flat=True).first() or ""


def _execute_one(node_run_id: int, *, keep_next: bool) -> tuple[str | None, int | None]:
    """Run one node run; return its end status and the successor kept for this worker, if any."""
    run = _claim(node_run_id)
    if run is None:
        return None, None
    plan = batch_plan(run.batch)
    task = plan.tasks[run.node_key]
    retries = task["retries"]
    if run.batch.stop_requested_at is not None:
        outcome = kinds.Outcome(status="cancelled", output="", detail={"error": "the batch was stopping"})
    elif is_reserved_queue(run.queue):  # stored before the validator refused it: never run it, not even retried
        error = _("queue %(queue)s is reserved for Baton's scheduler and recovery sweep; the task did not run") % {
            "queue": repr(run.queue)
        }
        outcome, retries = kinds.Outcome(status="failed", output=f"[baton] {error}\n", detail={"error": error}), 0
    else:
        outcome = _execute(run, task)
    interval = _retry_interval(task, run.attempts)
    with dispatch.continuation(run.queue if keep_next else None) as kept:
        status = _surviving_db_loss(
            lambda: node_run_finish(run=run, outcome=outcome, retries=retries, interval=interval, plan=plan)
        )
    return status, (kept[0] if kept else None)


def _surviving_db_loss(action, *, attempts: int = 8):
    """Run a database action, reconnecting and retrying while the database is unreachable.

    A task that ran must not lose its result to a database restart: retry with backoff for
    about a minute; after that the run stays `running`, its heartbeat stops, and the sweep
    applies the retry policy ("worker lost").
    """
    for attempt in range(attempts):
        try:
            return action()
        except (OperationalError, InterfaceError):
            if attempt == attempts - 1:
                raise
            connection.close()
            time.sleep(min(0.25 * 2**attempt, 15))
    return None


def _claim(node_run_id: int) -> NodeRun | None:
    """Move QUEUED (or a due RETRYING) → RUNNING; a second delivery finds nothing to move."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        claimed = fastpath.claim(node_run_id, now=now, soon=now + timedelta(seconds=1), worker=WORKER)
        if claimed is None:
            return None
        run = NodeRun(**claimed.run)
        run.batch = Batch(**claimed.batch)
        return run
    with transaction.atomic():
        run = NodeRun.objects.select_related("batch").filter(pk=node_run_id).first()
        if run is None:
            return None
        if run.status == N.RETRYING:
            if run.retry_at and run.retry_at > now + timedelta(seconds=1):
                return None  # an early duplicate; the due message or the sweep claims it later
            if not node_transition(run, to=N.QUEUED, now=now, queued_at=now, message="retry due"):
                return None
        attempts = run.attempts + 1
        if run.status != N.QUEUED or not node_transition(
            run, to=N.RUNNING, now=now, attempts=attempts, started_at=now, finished_at=None,
            heartbeat_at=now, worker=WORKER, message=f"attempt {attempts} on {WORKER}", resent=0, resend_at=None,
        ):  # fmt: skip
            return None
    return run


def _execute(run: NodeRun, task: dict[str, Any]) -> kinds.Outcome:
    try:
        config, plain = secrets.unseal(task["config"])
    except ValueError as exc:
        return kinds.Outcome(status="failed", output=str(exc), detail={"error": str(exc)})
    context = kinds.RunContext(
        timeout=task["timeout_seconds"], output_limit=settings.BATON_OUTPUT_LIMIT,
        should_cancel=_cancel_check(run), check_interval=settings.BATON_HEARTBEAT_SECONDS,
        kill_grace=settings.BATON_KILL_GRACE_SECONDS, secrets=tuple(plain),
        http_allowed_networks=settings.BATON_HTTP_ALLOWED_NETWORKS, on_start=_record_process_group(run),
    )  # fmt: skip
    try:
        return kinds.execute(task["kind"], config, context)
    except Exception as exc:  # an executor bug must still end the node run
        return kinds.Outcome(status="failed", output=repr(exc), detail={"error": repr(exc)})


def _cancel_check(run: NodeRun):
    """Return the heartbeat hook: record that the worker lives; tell whether to cancel."""

    def should_cancel() -> bool:
        try:
            now = timezone.now()
            NodeRun.objects.filter(pk=run.pk, status=N.RUNNING).update(heartbeat_at=now)
            stop, deadline = Batch.objects.values_list("stop_requested_at", "deadline_at").get(pk=run.batch_id)
            return stop is not None or (deadline is not None and deadline <= now)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()

    return should_cancel


def _record_process_group(run: NodeRun):
    """Return the hook that records a shell task's process group, for the sweep to kill if we die."""

    def on_start(pgid: int) -> None:
        NodeRun.objects.filter(pk=run.pk, status=N.RUNNING).update(detail={"pgid": pgid, "host": WORKER})

    return on_start


def _kill_orphan(run: NodeRun) -> None:
    """Kill what a lost worker's shell task left running, if it ran on this host."""
    pgid, host = run.detail.get("pgid"), run.detail.get("host")
    if isinstance(pgid, int) and pgid > 1 and host == WORKER:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _retry_interval(task: dict[str, Any], attempt: int) -> float:
    interval = float(task["retry_interval_seconds"])
    return interval * 2 ** (attempt - 1) if task.get("retry_backoff") else interval


def node_run_finish(
    *, run: NodeRun, outcome: kinds.Outcome, retries: int, interval: float, plan: Plan | None = None
) -> str | None:
    """Record an attempt's outcome; retry, or end the node run and advance the batch.

    `plan` is the batch's plan when the caller already has it (the worker read it to run the task).

    1. The output and details are made storable first (`executions.storable`), so whatever
       bytes the task printed, the finish can be written, on every database alike.
    2. A finish that still cannot be written (the database refuses a value, a bug on the way)
       is rolled back and recorded again with the attempt's real status and a short note instead
       of its output: the command did run, and an unwritten finish would leave the run to the
       sweep as "worker lost", whose retry would run the command a second time. Each try works
       on a copy of `run`, so the second starts from the claimed state.
    3. A lost database is not caught here: the worker retries the whole finish (`_surviving_db_loss`).
    """
    outcome = storable(outcome)
    plan = plan or batch_plan(run.batch)
    try:
        return _finish(copy.copy(run), outcome, retries=retries, interval=interval, plan=plan)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.exception("could not record the end of node run %s; recording its status with a note", run.pk)
        return _finish(copy.copy(run), unrecorded(outcome, exc), retries=retries, interval=interval, plan=plan)


def _finish(run: NodeRun, outcome: kinds.Outcome, *, retries: int, interval: float, plan: Plan) -> str | None:
    """Write an attempt's end in one transaction: the PostgreSQL statements or the ORM's."""
    now = timezone.now()
    status = OUTCOME_STATUS[outcome.status]
    retry = status in (N.FAILED, N.TIMED_OUT) and run.attempts <= retries
    if connection.vendor == "postgresql":
        return _finish_fast(run=run, outcome=outcome, status=status, retry=retry, retries=retries,
                            interval=interval, now=now, plan=plan)  # fmt: skip
    events = EventLog()
    started_at, worker = run.started_at or now, run.worker
    with transaction.atomic():
        batch = _locked_batch(run.batch_id)
        if batch.stop_requested_at is not None or (batch.deadline_at and batch.deadline_at <= now):
            retry = False
        to, retry_at, message = _finish_target(run, status, retry=retry, retries=retries, interval=interval, now=now)
        fields: dict[str, Any] = {"output": outcome.output, "detail": outcome.detail, "finished_at": now}
        if retry_at is not None:
            fields["retry_at"] = retry_at
        if not node_transition(run, to=to, now=now, message=message, events=events, **fields):
            return None
        # The attempt's row is written once, when it ends (the running attempt lives on the node run).
        Attempt.objects.create(
            node_run=run, number=run.attempts, status=status, worker=worker, started_at=started_at,
            finished_at=now, output=outcome.output, detail=outcome.detail,
        )  # fmt: skip
        if retry:
            events.flush()
            dispatch_after_commit([(run.pk, run.queue)], countdown=interval)
            return N.RETRYING
        _advance(batch, plan, now, events)
    return status


def _finish_target(
    run: NodeRun, status: str, *, retry: bool, retries: int, interval: float, now: datetime
) -> tuple[str, datetime | None, str]:
    """The node run's next status, its retry time and the event's message for an attempt's end."""
    if retry:
        message = f"attempt {run.attempts} {status}; retry {run.attempts} of {retries} in {interval:g}s"
        return N.RETRYING, now + timedelta(seconds=interval), message
    return status, None, f"attempt {run.attempts} {status}"


def _finish_fast(
    *,
    run: NodeRun,
    outcome: kinds.Outcome,
    status: str,
    retry: bool,
    retries: int,
    interval: float,
    now: datetime,
    plan: Plan,
) -> str | None:
    """`node_run_finish` on PostgreSQL: lock, record + read states, apply the decision; 3 statements.

    A stopping or timed-out batch takes the general path (`_advance`) once the result is recorded.
    A finish whose successors depend on nothing else (a chain, a fan-out) is one statement.
    """
    straight = None if retry else plan.straight_successors(run.node_key, status)
    with transaction.atomic():
        if straight:
            _, _, message = _finish_target(run, status, retry=False, retries=retries, interval=interval, now=now)
            locked, recorded, queued = fastpath.finish_straight(
                run_id=run.pk, batch_id=run.batch_id, key=run.node_key, attempt=run.attempts, to=status,
                message=message, output=outcome.output, detail=outcome.detail,
                worker=run.worker, started_at=run.started_at or now, now=now, successors=straight,
            )  # fmt: skip
            if locked:
                if recorded and len(queued) != len(straight):  # not the expected states: let the engine look
                    _advance(_locked_batch(run.batch_id), plan, now)
                dispatch.dispatch_before_commit(queued)
                return status if recorded else None
        batch_status, stop_at, _reason, deadline = fastpath.lock_batch(run.batch_id)
        stopping = stop_at is not None or (deadline is not None and deadline <= now)
        retry = retry and not stopping
        to, retry_at, message = _finish_target(run, status, retry=retry, retries=retries, interval=interval, now=now)
        simple = not retry and not stopping and batch_status == BatchStatus.RUNNING
        recorded, rows = fastpath.finish(
            run_id=run.pk, batch_id=run.batch_id, key=run.node_key, attempt=run.attempts, to=to, status=status,
            message=message, output=outcome.output, detail=outcome.detail, worker=run.worker,
            started_at=run.started_at or now, now=now, retry_at=retry_at, read_states=simple,
        )  # fmt: skip
        if not recorded:
            return None
        if retry:
            dispatch_after_commit([(run.pk, run.queue)], countdown=interval)
            return N.RETRYING
        if not simple:
            _advance(_locked_batch(run.batch_id), plan, now)
            return status
        states = {key: state for _, key, state, _ in rows}
        states[run.node_key] = to
        ids = {key: pk for pk, key, _, _ in rows}
        decision = engine.advance(plan.graph, states)
        queued = fastpath.advance(
            batch_id=run.batch_id, now=now, result=decision.result,
            queue=[ids[k] for k in decision.queue], satisfy=[ids[k] for k in decision.satisfy],
            skip=[ids[k] for k in decision.skip],
        )  # fmt: skip
        dispatch.dispatch_before_commit(queued)
    return status


# --- stopping -----------------------------------------------------------------------------


def batch_stop(*, batch_id: str, reason: str = BatchStatus.STOPPED, user: Any = None) -> Batch:
    """Stop a running batch: nothing starts any more, pending runs stop, running ones are cancelled."""
    now = timezone.now()
    with transaction.atomic():
        batch = _locked_batch(batch_id)
        if batch.status != BatchStatus.RUNNING:
            raise TransitionNotPossible(f"batch {batch.pk} is {batch.status}, not running")
        if batch.stop_requested_at is None:
            _request_stop(batch, reason, now, user)
        _advance(batch, batch_plan(batch), now)
    return batch


def _request_stop(batch: Batch, reason: str, now: datetime, user: Any = None) -> None:
    """Record a stop (or timeout) request; the caller holds the batch row lock.

    1. From here on no advance queues anything, and every worker's heartbeat sees the
       request and cancels its task.
    2. Every node run that has not started (pending, queued, retrying) becomes stopped; a
       worker's claim re-checks the run's status, so it cannot start one of them.
    3. The batch ends in the caller's advance once nothing is running any more.
    """
    Batch.objects.filter(pk=batch.pk).update(stop_requested_at=now, stop_reason=reason)
    batch.stop_requested_at, batch.stop_reason = now, reason
    who = f" by {user}" if getattr(user, "pk", None) else ""
    what = "timeout reached" if reason == BatchStatus.TIMED_OUT else "stop requested"
    batch.events.create(from_status=BatchStatus.RUNNING, to_status=BatchStatus.RUNNING, at=now, message=f"{what}{who}")
    waiting = list(
        NodeRun.objects.select_for_update(of=("self",))
        .filter(batch=batch, status__in=[N.PENDING, N.QUEUED, N.RETRYING])
        .values_list("pk", "node_key", "status")
    )
    for current in (N.PENDING, N.QUEUED, N.RETRYING):
        nodes_transition(
            batch.pk, ((pk, key) for pk, key, status in waiting if status == current),
            current=current, to=N.STOPPED, now=now, finished_at=now, message=what,
        )  # fmt: skip


# --- re-running ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run would do: nodes kept from the original, and nodes that will run."""

    kept: tuple[str, ...]
    will_run: tuple[str, ...]


def rerun_plan(*, batch: Batch, resume: bool) -> RerunPlan:
    """Tell which task nodes a re-run (or resume from failure) keeps and which it runs."""
    plan = batch_plan(batch)
    states = dict(batch.node_runs.values_list("node_key", "status"))
    start = engine.resume_states(plan.graph, states) if resume else {}
    kept = tuple(k for k in plan.tasks if start.get(k) == N.SUCCEEDED)
    return RerunPlan(kept=kept, will_run=tuple(k for k in plan.tasks if k not in kept))


def batch_rerun_refusal(*, batch: Batch, resume: bool) -> str | None:
    """Say why the batch cannot be re-run (or resumed) now, or None if it can."""
    if batch.status == BatchStatus.RUNNING:
        return _("batch %(batch)s is still running; stop it or wait for it to end") % {"batch": batch.pk}
    if resume and batch.status not in BATCH_RESUMABLE:
        return _("batch %(batch)s %(status)s: only a failed, timed-out or stopped batch can be resumed; re-run it") % {
            "batch": batch.pk,
            "status": batch.status,
        }
    if batch.workflow_id is not None and batch.workflow.deleted_at is not None:
        return _("workflow %(name)s is deleted; it starts no new batch") % {"name": repr(batch.workflow.name)}
    return None


def batch_rerun_check(*, batch: Batch, resume: bool) -> None:
    """Refuse a re-run or resume that `batch_rerun_refusal` names a reason against."""
    refusal = batch_rerun_refusal(batch=batch, resume=resume)
    if refusal is not None:
        raise TransitionNotPossible(refusal)


def batch_rerun(*, batch_id: str, resume: bool = False, user: Any = None) -> Batch:
    """Start a new batch on the same version as a finished one, linked to it."""
    original = Batch.objects.select_related("workflow", "version", "task").get(pk=batch_id)
    batch_rerun_check(batch=original, resume=resume)
    keep: dict[str, NodeRun] = {}
    if resume:
        kept = set(rerun_plan(batch=original, resume=True).kept)
        keep = {r.node_key: r for r in original.node_runs.filter(node_key__in=kept)}
    kind = TriggerKind.RESUME if resume else TriggerKind.RERUN
    if original.task_id is not None:
        return task_run_start(task=original.task, trigger=kind, user=user, rerun_of=original)
    return batch_start(workflow=original.workflow, trigger=kind, user=user, rerun_of=original, keep=keep)


# --- recovery -----------------------------------------------------------------------------


def recover(*, now: datetime | None = None) -> dict[str, int]:
    """Repair from the database alone what lost messages and dead workers left behind.

    Never overwrites a finished state: every change is a guarded transition or goes through
    the same finish path a worker uses. A step that loses a race (a deadlock victim, a
    dropped connection) is logged and retried by the next sweep; the other steps still run.
    """
    now = now or timezone.now()
    counts = {"timed_out": 0, "redispatched": 0, "worker_lost": 0, "finished": 0}
    steps = (("timed_out", _time_out_overdue), ("redispatched", _redispatch_lost),
             ("worker_lost", _fail_lost_workers), ("finished", _finish_idle_batches))  # fmt: skip
    for name, step in steps:
        try:
            counts[name] = step(now)
        except (OperationalError, InterfaceError):
            logger.exception("recovery step %s failed; the next sweep tries again", name)
            connection.close()
    return counts


def _time_out_overdue(now: datetime) -> int:
    """End running batches past their deadline as timed out."""
    count = 0
    overdue = Batch.objects.filter(status=BatchStatus.RUNNING, stop_requested_at__isnull=True, deadline_at__lte=now)
    for batch_id in overdue.values_list("pk", flat=True)[:500]:
        with contextlib.suppress(TransitionNotPossible):
            batch_stop(batch_id=batch_id, reason=BatchStatus.TIMED_OUT)
            count += 1
    return count


def _redispatch_lost(now: datetime) -> int:
    """Send again the wake-ups of runs queued (or due for retry) for too long.

    A run waiting in a long backlog (its message is not lost, the workers are busy) would get
    a duplicate every round; instead its re-sends back off: after `BATON_REDISPATCH_SECONDS`,
    then 2, 4, … up to 32 times that. Rows a worker is claiming right now are skipped (SKIP
    LOCKED), so the sweep never waits on, or deadlocks with, a claim.
    """
    wait = settings.BATON_REDISPATCH_SECONDS
    threshold = now - timedelta(seconds=wait)
    lost = Q(status=N.QUEUED, queued_at__lte=threshold) | Q(status=N.RETRYING, retry_at__lte=threshold)
    due = Q(resend_at__isnull=True) | Q(resend_at__lte=now)
    with transaction.atomic():
        rows = list(
            NodeRun.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
            .filter(lost, due, batch__status=BatchStatus.RUNNING)
            .values_list("pk", "queue", "resent")[:500]
        )
        by_count: dict[int, list[int]] = {}
        for pk, _, resent in rows:
            by_count.setdefault(resent, []).append(pk)
        for resent, ids in by_count.items():  # the next re-send waits twice as long, up to 32 waits
            later = now + timedelta(seconds=wait * 2 ** min(resent, 5))
            NodeRun.objects.filter(pk__in=ids).update(resent=resent + 1, resend_at=later)
        dispatch_after_commit((pk, queue) for pk, queue, _ in rows)
    return len(rows)


def _fail_lost_workers(now: datetime) -> int:
    """Finish running runs whose worker stopped heart-beating, applying the retry policy."""
    threshold = now - timedelta(seconds=settings.BATON_WORKER_LOST_SECONDS)
    lost = NodeRun.objects.select_related("batch").filter(status=N.RUNNING, heartbeat_at__lte=threshold)[:500]
    count = 0
    for run in lost:
        task = batch_plan(run.batch).tasks[run.node_key]
        _kill_orphan(run)
        message = f"worker lost: {run.worker or 'unknown'} stopped heart-beating at {run.heartbeat_at.isoformat()}"
        outcome = kinds.Outcome(status="failed", output=message, detail={"error": "worker_lost", "worker": run.worker})
        if run.batch.stop_requested_at is not None:
            outcome = kinds.Outcome(status="cancelled", output=message, detail={"error": "worker_lost"})
        if node_run_finish(
            run=run, outcome=outcome, retries=task["retries"], interval=_retry_interval(task, run.attempts)
        ):
            count += 1
    return count


def _finish_idle_batches(now: datetime) -> int:
    """Advance running batches in which nothing is active (a lost advance, a crashed finish)."""
    idle = Batch.objects.filter(status=BatchStatus.RUNNING).exclude(node_runs__status__in=list(NODE_ACTIVE))
    count = 0
    for batch_id in idle.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            batch = _locked_batch(batch_id)
            if batch.status == BatchStatus.RUNNING:
                _advance(batch, batch_plan(batch), now)
                count += batch.status != BatchStatus.RUNNING
    return count
