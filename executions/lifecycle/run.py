"""Running a node: claim it, execute its task, record the end, and continue with a successor.

The hop is written once here; what it writes goes through the store (`executions.store`), the
ORM's or PostgreSQL's, chosen once per database.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from executions import dispatch, kinds
from executions.dispatch import Wakeup
from executions.engine import FAILED_STATES
from executions.lifecycle.advance import batch_advance, batch_blueprint, batch_ended
from executions.models import Batch, NodeRun
from executions.runtime import Blueprint
from executions.states import NodeStatus
from executions.storable import storable, storable_text, unrecorded
from executions.store import AttemptEnd, HopStore, hop_store
from ops import metrics
from ops.logcontext import run_context
from workflows import kinds as task_kinds
from workflows import references, secrets
from workflows.task_config import is_reserved_queue

OUTCOME_STATUS = {
    kinds.SUCCEEDED: NodeStatus.SUCCEEDED,
    kinds.FAILED: NodeStatus.FAILED,
    kinds.TIMED_OUT: NodeStatus.TIMED_OUT,
    kinds.CANCELLED: NodeStatus.STOPPED,
}
WORKER = socket.gethostname()
logger = logging.getLogger(__name__)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Finished:
    """What recording an attempt's end did.

    `status` is the node run's new status, None when the finish was not recorded (the run was
    no longer running this attempt: a stop, or the sweep's "worker lost", got there first).
    `continue_with` is a successor the finish queued on the queue it was asked to continue on:
    it was not sent to the broker, and the caller claims it once the finish has committed.
    """

    status: str | None
    continue_with: Wakeup | None = None


def node_run_execute(*, node_run_id: int, continue_for: float = 0, delivered_on: str = "") -> str | None:
    """Claim a queued node run, execute its task, record the result; None if not claimed.

    With `continue_for` > 0 (the worker's task does this), a successor the finish queued on
    the same queue is claimed and run here at once, skipping a broker round trip, and so on
    while less than `continue_for` seconds have passed since the first claim; after that the
    chain goes back through the broker, so other work waiting in the queue gets its turn. If
    the worker dies in between, the successor is still `queued` and the sweep sends it.

    `delivered_on` is the queue the message came from. A reserved queue (`baton-…`: the
    scheduler tick's and the sweep's) never runs a task of another queue: such a message
    (forged, or misrouted) is dropped unclaimed, and the run's own message, or the sweep's
    re-send to its own queue, runs it where it belongs. A run whose own queue is reserved
    fails without running (`_run_one`).
    """
    if is_reserved_queue(delivered_on) and not is_reserved_queue(_queue_of(node_run_id)):
        logger.warning("node run %s: its message on the reserved queue %r was dropped", node_run_id, delivered_on)
        return None
    deadline = time.monotonic() + continue_for
    status, successor = _run_one(node_run_id, continuing=continue_for > 0)
    while successor is not None:
        if time.monotonic() >= deadline:
            dispatch.send([successor])
            break
        current = successor
        try:
            status, successor = _run_one(current[0], continuing=True)
        except (OperationalError, InterfaceError):
            # Not claimed (the claim is one transaction): let the broker, or else the sweep, deliver it.
            connection.close()
            with contextlib.suppress(Exception):
                dispatch.send([current])
            raise
    return status


def _queue_of(node_run_id: int) -> str:
    return NodeRun.objects.filter(pk=node_run_id).values_list("queue", flat=True).first() or ""


def _run_one(node_run_id: int, *, continuing: bool) -> tuple[str | None, Wakeup | None]:
    """Run one node run; return its end status and the successor this worker continues with, if any."""
    run = node_run_claim(node_run_id)
    if run is None:
        return None, None
    with run_context(batch_id=run.batch_id, node_key=run.node_key, run_id=run.pk, attempt=run.attempts):
        return _run_claimed(run, continuing=continuing)


def _run_claimed(run: NodeRun, *, continuing: bool) -> tuple[str | None, Wakeup | None]:
    """Execute a claimed run's task and record its end; count its queue wait and duration once each is committed."""
    claimed = time.monotonic()
    blueprint = batch_blueprint(run.batch)
    task = blueprint.tasks[run.node_key]
    metrics.record_queue_wait(kind=task["kind"], queue=run.queue, queued_at=run.queued_at, claimed_at=run.started_at)
    retries = task["retries"]
    if run.batch.stop_requested_at is not None:
        outcome = kinds.Outcome(status=kinds.CANCELLED, output="", detail={"error": "the batch was stopping"})
    elif is_reserved_queue(run.queue):  # stored before the validator refused it: never run it, not even retried
        error = _("queue %(queue)s is reserved for Baton's scheduler and recovery sweep; the task did not run") % {
            "queue": repr(run.queue)
        }
        outcome, retries = kinds.Outcome(status=kinds.FAILED, output=f"[baton] {error}\n", detail={"error": error}), 0
    else:
        outcome = task_execute(run, task, blueprint.references_of(run.node_key))
    interval = retry_interval(task, run.attempts)
    continue_on = run.queue if continuing else None
    finished = surviving_database_loss(
        lambda: node_run_finish(
            run=run, outcome=outcome, retries=retries, interval=interval, blueprint=blueprint, continue_on=continue_on
        )
    )
    if finished.status is not None:
        metrics.record_run_duration(kind=task["kind"], queue=run.queue, seconds=time.monotonic() - claimed)
    return finished.status, finished.continue_with


def node_run_claim(node_run_id: int) -> NodeRun | None:
    """Move QUEUED (or a due RETRYING) → RUNNING; None when a second delivery, a stop or the sweep got there first.

    The claimed run carries its batch (`run.batch`): what the worker needs to run it.
    """
    now = timezone.now()
    return hop_store().claim(node_run_id, now=now, due_by=now + timedelta(seconds=1), worker=WORKER)


def surviving_database_loss(action: Callable[[], Result], *, attempts: int = 8) -> Result:
    """Run a database action, reconnecting and retrying while the database is unreachable.

    A task that ran must not lose its result to a database restart: retry with backoff for
    about a minute; after that the run stays `running`, its heartbeat stops, and the sweep
    applies the retry policy ("worker lost").
    """
    for attempt in range(attempts - 1):
        try:
            return action()
        except (OperationalError, InterfaceError):
            connection.close()
            time.sleep(min(0.25 * 2**attempt, 15))
    return action()


def task_execute(run: NodeRun, task: dict[str, Any], referenced: frozenset[str] | None = None) -> kinds.Outcome:
    """Execute a claimed run's task here, heart-beating and watching for a stop; never raise.

    `referenced` (the blueprint's `references_of`): None when the config holds no reference —
    nothing more is read —, else the nodes whose outputs it reads, in one query with the batch's context.
    """
    try:
        config, plain = secrets.unseal(task["config"])
    except ValueError as exc:
        return kinds.Outcome(status=kinds.FAILED, output=str(exc), detail={"error": str(exc)})
    if referenced is not None:
        try:
            config = _resolved(run, task["kind"], config, referenced)
        except references.Unresolved as exc:
            error = str(exc)
            return kinds.Outcome(status=kinds.FAILED, output=f"[baton] {error}\n", detail={"error": error})
    live = _LiveOutput()
    context = kinds.RunContext(
        timeout=task["timeout_seconds"],
        output_limit=settings.BATON_OUTPUT_LIMIT,
        output_values_limit=settings.BATON_OUTPUT_VALUES_LIMIT,
        should_cancel=_cancel_check(run, live),
        live_output=live.offer,
        check_interval=settings.BATON_HEARTBEAT_SECONDS,
        kill_grace=settings.BATON_KILL_GRACE_SECONDS,
        secrets=tuple(plain),
        http_allowed_networks=settings.BATON_HTTP_ALLOWED_NETWORKS,
        on_start=_record_process_group(run),
    )
    try:
        return kinds.execute(task["kind"], config, context)
    except Exception as exc:  # an executor bug must still end the node run
        return kinds.Outcome(status=kinds.FAILED, output=repr(exc), detail={"error": repr(exc)})


def _resolved(run: NodeRun, kind: str, config: dict[str, Any], referenced: frozenset[str]) -> dict[str, Any]:
    """Return the config with its references replaced by the batch's values and the referenced nodes' outputs."""
    declared = task_kinds.find(kind)
    if declared is None:
        return config  # the executor refuses the kind, naming it
    found = hop_store().reference_context(run.pk, run.batch_id, referenced)
    context = references.Context(
        params=found.batch.get("params") or {},
        batch={**(found.batch.get("batch") or {}), "id": run.batch_id},
        nodes={key: references.NodeOutputs(status, outputs) for key, (status, outputs) in found.nodes.items()},
    )
    return references.resolve(config, declared.reference_fields, context)


class _LiveOutput:
    """The running output an executor offered since the last heartbeat, which stores it (at most one a beat)."""

    def __init__(self) -> None:
        self.text: str | None = None

    def offer(self, text: str) -> None:
        self.text = text

    def take(self) -> dict[str, str]:
        """Return the fields the heartbeat writes for it: the output, once, if it changed."""
        text, self.text = self.text, None
        return {} if text is None else {"output": storable_text(text)[0]}


def _cancel_check(run: NodeRun, live: _LiveOutput | None = None) -> Callable[[], bool]:
    """Return the heartbeat hook: record that the worker lives (and the output so far); tell whether to cancel.

    The output is written only while the run is still running this attempt, in the heartbeat's
    own statement: a short task never beats, so its hop writes nothing more.
    """

    def should_cancel() -> bool:
        try:
            now = timezone.now()
            output = live.take() if live is not None else {}
            NodeRun.objects.filter(pk=run.pk, status=NodeStatus.RUNNING, attempts=run.attempts).update(
                heartbeat_at=now, **output
            )
            stop, deadline = Batch.objects.values_list("stop_requested_at", "deadline_at").get(pk=run.batch_id)
            return stop is not None or (deadline is not None and deadline <= now)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()

    return should_cancel


def _record_process_group(run: NodeRun) -> Callable[[int], None]:
    """Return the hook that records a shell task's process group, for the sweep to kill if we die."""

    def on_start(pgid: int) -> None:
        NodeRun.objects.filter(pk=run.pk, status=NodeStatus.RUNNING).update(detail={"pgid": pgid, "host": WORKER})

    return on_start


def kill_orphan(run: NodeRun) -> None:
    """Kill what a lost worker's shell task left running, if it ran on this host."""
    pgid, host = run.detail.get("pgid"), run.detail.get("host")
    if isinstance(pgid, int) and pgid > 1 and host == WORKER:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def retry_interval(task: dict[str, Any], attempt: int) -> float:
    """Return the seconds to wait before retrying after `attempt` (doubling with `retry_backoff`)."""
    interval = float(task["retry_interval_seconds"])
    return interval * 2 ** (attempt - 1) if task.get("retry_backoff") else interval


def node_run_finish(
    *,
    run: NodeRun,
    outcome: kinds.Outcome,
    retries: int,
    interval: float,
    blueprint: Blueprint | None = None,
    continue_on: str | None = None,
) -> Finished:
    """Record an attempt's outcome; retry, or end the node run and advance the batch.

    `blueprint` is the batch's when the caller already has it (the worker read it to run the
    task). With `continue_on` (the worker's queue), one successor queued there is handed back
    in `Finished.continue_with` instead of being sent.

    1. The output and details are made storable first (`executions.storable`), so whatever
       bytes the task printed, the finish can be written, on every database alike.
    2. A finish that still cannot be written (the database refuses a value, a bug on the way)
       is rolled back and recorded again with the attempt's real status and a short note instead
       of its output: the command did run, and an unwritten finish would leave the run to the
       sweep as "worker lost", whose retry would run the command a second time.
    3. A lost database is not caught here: the worker retries the whole finish (`surviving_database_loss`).
    """
    outcome = storable(outcome)
    blueprint = blueprint or batch_blueprint(run.batch)
    finish = functools.partial(
        _finish, hop_store(), run, retries=retries, interval=interval, blueprint=blueprint, continue_on=continue_on
    )
    try:
        finished = finish(outcome)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.exception("could not record the end of node run %s; recording its status with a note", run.pk)
        finished = finish(unrecorded(outcome, exc))
    if finished.status is None:
        logger.info("node run %s: the end of attempt %s was not recorded; it no longer runs it", run.pk, run.attempts)
    return finished


def _finish(
    store: HopStore,
    run: NodeRun,
    outcome: kinds.Outcome,
    *,
    retries: int,
    interval: float,
    blueprint: Blueprint,
    continue_on: str | None,
) -> Finished:
    """Write an attempt's end: the straight finish in one statement, or lock, record and advance.

    1. A finish whose effect depends on nothing but this node's result — its successors are a
       chain's or a fan-out's (`engine.straight_successors`), or it is a one-node batch's end
       (`engine.straight_result`) — is one store operation, its own transaction (`_finish_straight`).
       If the batch is stopping (or paused, past its deadline or no longer running) it writes
       nothing and the general path below takes over.
    2. Otherwise the batch row is locked first, so what is read next sees every earlier finish
       of the batch: two branches finishing at once are serialised and a join queued once.
    3. The end is recorded only while the run is still running this attempt (a worker declared
       lost may report long after its next attempt started); a failure with retries left, in a
       batch that is not stopping, becomes `retrying` with a delayed wake-up.
    4. The engine's decision is applied under the same lock; the queued runs are woken
       (`_wake`), one of them perhaps held back for this worker to continue with.
    """
    now = timezone.now()
    status = OUTCOME_STATUS[outcome.status]
    retry = status in FAILED_STATES and run.attempts <= retries
    if not retry:
        result = blueprint.straight_result(run.node_key, status)
        straight = () if result is not None else blueprint.straight_successors(run.node_key, status)
        if result is not None or straight:
            finished = _finish_straight(store, run, outcome, status, now, blueprint, straight, result, continue_on)
            if finished is not None:
                return finished
    with transaction.atomic():
        if not retry and status in FAILED_STATES and run.node_key in blueprint.core_keys:
            # A core node failed: alert before the batch ends.
            dispatch.alert_after_commit(run.batch_id, team_id=run.team_id)
        batch = store.lock_batch(run.batch_id)
        retry = retry and not batch.stopping(now)
        if retry:
            to, retry_at = NodeStatus.RETRYING, now + timedelta(seconds=interval)
            message = f"attempt {run.attempts} {status}; retry {run.attempts} of {retries} in {interval:g}s"
        else:
            to, retry_at, message = status, None, f"attempt {run.attempts} {status}"
        end = _attempt_end(run, outcome, status, to=to, message=message, now=now, retry_at=retry_at)
        recorded = store.record_finish(end, read_states=not retry)
        if recorded is None:
            return Finished(None)
        if retry:
            dispatch.after_commit([(run.pk, run.queue)], countdown=interval)
            return Finished(NodeStatus.RETRYING)
        queued = batch_advance(store, batch, now, blueprint=blueprint, rows=recorded.rows)
        return Finished(status, _wake(store, queued, continue_on))


def _finish_straight(
    store: HopStore,
    run: NodeRun,
    outcome: kinds.Outcome,
    status: str,
    now: datetime,
    blueprint: Blueprint,
    straight: tuple[str, ...],
    result: str | None,
    continue_on: str | None,
) -> Finished | None:
    """Record an end that needs no other state in one store operation; None if the batch is stopping.

    The operation is its own transaction (one statement on PostgreSQL: no BEGIN and COMMIT round
    trips), so what follows it runs after its commit: the alerts' wake-ups, and, when a successor
    was not pending as expected, the engine's look in a transaction of its own. A worker that dies
    between the two leaves a running batch in which nothing is active: the sweep advances it
    (`recovery._finish_idle_batches`).
    """
    end = _attempt_end(run, outcome, status, to=status, message=f"attempt {run.attempts} {status}", now=now)
    done = store.finish_straight(end, straight, result=result)
    if not done.locked:
        return None
    if not done.recorded:
        return Finished(None)
    if status in FAILED_STATES and run.node_key in blueprint.core_keys:
        dispatch.alert_after_commit(run.batch_id, team_id=run.team_id)  # a core node failed
    if done.ended and done.batch is not None and result is not None:
        batch_ended(done.batch, result)
    queued = list(done.queued)
    if straight and len(queued) != len(straight):  # not the expected states: let the engine look
        with transaction.atomic():
            queued += batch_advance(store, store.lock_batch(run.batch_id), now, blueprint=blueprint)
            return Finished(status, _wake(store, queued, continue_on))
    return Finished(status, _wake(store, queued, continue_on))


def _attempt_end(
    run: NodeRun,
    outcome: kinds.Outcome,
    status: str,
    *,
    to: str,
    message: str,
    now: datetime,
    retry_at: datetime | None = None,
) -> AttemptEnd:
    return AttemptEnd(
        run_id=run.pk,
        batch_id=run.batch_id,
        node_key=run.node_key,
        attempt=run.attempts,
        worker=run.worker,
        started_at=run.started_at or now,
        status=status,
        to=to,
        message=message,
        output=outcome.output,
        detail=outcome.detail,
        now=now,
        retry_at=retry_at,
        outputs=outcome.outputs,
    )


def _wake(store: HopStore, queued: list[Wakeup], continue_on: str | None) -> Wakeup | None:
    """Send the wake-ups of the runs a finish queued; return the one held back to continue with, if any.

    One run queued on `continue_on` is not sent: the caller claims it once the finish has
    committed (it is `queued` in the database like any other, so the sweep sends it if the
    worker dies first). The others go now if the finish has committed (a straight finish), else
    before the commit where the store's claim waits for it, so the commit's disk flush overlaps
    their transit, else after it.
    """
    held = None
    if continue_on is not None:
        mine = [wakeup for wakeup in queued if dispatch.queue_name(wakeup[1]) == dispatch.queue_name(continue_on)]
        if mine:
            held = min(mine)  # the earliest node of the definition, whichever order the store returned them in
            queued = [wakeup for wakeup in queued if wakeup != held]
    if not connection.in_atomic_block:  # a straight finish, committed already
        dispatch.committed(queued)
    elif store.claims_wait_for_commit:
        dispatch.before_commit(queued)
    else:
        dispatch.after_commit(queued)
    return held
