"""Recovery from the database alone: overdue batches, lost messages, dead workers, stalled batches."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from access.actors import SWEEP_ACTOR
from baton.errors import TransitionNotPossible
from executions import dispatch, kinds
from executions.lifecycle.advance import batch_advance, batch_blueprint
from executions.lifecycle.run import kill_orphan, node_run_finish, retry_interval
from executions.lifecycle.stop import batch_stop
from executions.models import Batch, NodeRun
from executions.states import NODE_ACTIVE, BatchStatus, NodeStatus
from executions.store import hop_store
from ops.logcontext import run_context

logger = logging.getLogger(__name__)


def recover(*, now: datetime | None = None) -> dict[str, int]:
    """Repair from the database alone what lost messages and dead workers left behind.

    Never overwrites a finished state: every change is a guarded transition or goes through
    the same finish path a worker uses. A step that loses a race (a deadlock victim, a
    dropped connection) is logged and retried by the next sweep; the other steps still run.
    """
    now = now or timezone.now()
    counts = {"timed_out": 0, "redispatched": 0, "worker_lost": 0, "finished": 0}
    steps = (
        ("timed_out", _time_out_overdue),
        ("redispatched", _redispatch_lost),
        ("worker_lost", _fail_lost_workers),
        ("finished", _finish_idle_batches),
    )
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
        with run_context(batch_id=batch_id), contextlib.suppress(TransitionNotPossible):
            batch_stop(batch_id=batch_id, actor=SWEEP_ACTOR, reason=BatchStatus.TIMED_OUT)
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
    lost = Q(status=NodeStatus.QUEUED, queued_at__lte=threshold) | Q(
        status=NodeStatus.RETRYING, retry_at__lte=threshold
    )
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
        dispatch.after_commit((pk, queue) for pk, queue, _ in rows)
    return len(rows)


def _fail_lost_workers(now: datetime) -> int:
    """Finish running runs whose worker stopped heart-beating, applying the retry policy."""
    threshold = now - timedelta(seconds=settings.BATON_WORKER_LOST_SECONDS)
    lost = NodeRun.objects.select_related("batch").filter(status=NodeStatus.RUNNING, heartbeat_at__lte=threshold)
    count = 0
    for run in lost[:500]:
        task = batch_blueprint(run.batch).tasks[run.node_key]
        kill_orphan(run)
        message = f"worker lost: {run.worker or 'unknown'} stopped heart-beating at {run.heartbeat_at.isoformat()}"
        outcome = kinds.Outcome(
            status=kinds.FAILED, output=message, detail={"error": "worker_lost", "worker": run.worker}
        )
        if run.batch.stop_requested_at is not None:
            outcome = kinds.Outcome(status=kinds.CANCELLED, output=message, detail={"error": "worker_lost"})
        interval = retry_interval(task, run.attempts)
        with run_context(batch_id=run.batch_id, node_key=run.node_key, run_id=run.pk, attempt=run.attempts):
            if node_run_finish(run=run, outcome=outcome, retries=task["retries"], interval=interval).status:
                count += 1
    return count


def _finish_idle_batches(now: datetime) -> int:
    """Advance running batches in which nothing is active (a lost advance, a crashed finish)."""
    store = hop_store()
    idle = Batch.objects.filter(status=BatchStatus.RUNNING).exclude(node_runs__status__in=list(NODE_ACTIVE))
    count = 0
    for batch_id in idle.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            batch = store.lock_batch(batch_id)
            if batch.status == BatchStatus.RUNNING:
                dispatch.after_commit(batch_advance(store, batch, now))
                count += batch.status != BatchStatus.RUNNING
    return count
