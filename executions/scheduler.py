"""The scheduler tick: start the batches of due triggers, exactly once per fire, at the fire time.

`celery -A config beat` sends `baton.tick` about once a second (one django-celery-beat entry,
created by a migration). Beat's phase is arbitrary: a fire instant falls anywhere between two
ticks, so a tick does not only take what is due; it looks ahead. Each tick:

1. fires what is already due (a tick that overran, a scheduler that was down): it claims due
   Schedule rows with `SELECT … FOR UPDATE SKIP LOCKED`, so a second scheduler (a standby, or
   a redelivered tick) takes other rows or none, and starts them at once, one transaction per
   chunk of CLAIM rows;
2. starts queued fires of workflows whose earlier batch has ended;
3. looks ahead `BATON_SCHEDULER_LOOKAHEAD_SECONDS` (default 1 s): for each fire instant in that
   window, earliest first, it claims the rows due by that instant the same way (one
   transaction), prepares everything in memory while it holds them — the misfire split, the
   next fire times, the plans, every batch with its node runs and events — then sleeps until
   the instant, and only then reads which workflows are busy (the overlap policy is decided at
   the fire time, not before it) and inserts.

   A batch is never inserted before its `scheduled_for`: the wait is on the clock that then
   stamps `created_at`, the events and `queued_at` with the moment of the insert (not the
   moment of the preparation). The wait is bounded by the lookahead, counted from the tick's
   start; a clock that has not reached the instant by then (one that stands still) rolls the
   transaction back and leaves the rows due for the next tick. On SQLite (one writer, no SKIP
   LOCKED) the tick sleeps before it claims instead, so it never holds the write lock asleep.
   Instants are taken one after the other: in a window with two of them, the second is
   prepared after the first has started (cron and periodic fires fall on whole seconds, so a
   1 s window rarely holds two).

For every fire, in either path: the row's fires since its last one are split into on-time and
missed (the misfire policy), the overlap policy applies, and the batch starts with its
scheduled time under the database's unique (workflow, scheduled_for) constraint — the last
guard against a double start. A chunk's batches, node runs, events and fire records go in one
multi-row INSERT per table, and each row moves to its next fire time in the same transaction;
`executions.signals.fires_recorded` is sent in it too (the alerts of missed and skipped fires).

`TickResult.lateness` is measured when a batch becomes visible: after its transaction commits.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from access.actors import SCHEDULER_ACTOR
from baton.errors import NotRunnable
from executions import runtime
from executions.lifecycle import NewBatch, batch_prepare, batch_start, batches_insert, task_run_definition
from executions.models import Batch, Fire, FireOutcome
from executions.signals import fires_recorded
from executions.states import BatchStatus
from executions.store import hop_store
from workflows import schedule, triggers
from workflows.models import OverlapPolicy, Schedule, Workflow
from workflows.services import workflow_queues_fires

CLAIM = 250  # due rows per transaction; each chunk commits (becomes visible) on its own
AHEAD_CLAIM = 2000  # rows of one fire instant, prepared before it and started in one transaction


@dataclass
class TickResult:
    """What one tick did."""

    started: int = 0
    skipped: int = 0
    queued: int = 0
    missed: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds from each fire time to its batch's commit
    waited: float = 0.0  # seconds slept until fire instants


@dataclass
class _Intent:
    """One fire of a claimed row, its batch built in memory (None: the owner cannot run)."""

    row: Schedule
    fire_at: datetime
    late: bool
    batch: NewBatch | None


def tick(*, now: datetime | None = None) -> TickResult:
    """Fire every trigger due now or within the lookahead once; see the module docstring."""
    now = now or timezone.now()
    began = time.monotonic()  # read after `now`: the deadline below is never before the last instant
    result = TickResult()
    lookahead = max(0.0, settings.BATON_SCHEDULER_LOOKAHEAD_SECONDS)
    horizon = now + timedelta(seconds=lookahead)
    first = _first_fire(after=None, until=horizon)  # an idle tick stops at this one query (and the queue's)
    if first is not None and first <= now:
        while _fire_due(now, CLAIM, result) == CLAIM:
            pass
    _start_queued(now, result)
    if first is not None and horizon > now:
        _fire_ahead(now, horizon, began + lookahead, result)
    return result


def _first_fire(*, after: datetime | None, until: datetime) -> datetime | None:
    """The earliest next fire time up to `until` (and after `after`), whoever holds its row."""
    rows = Schedule.objects.filter(next_fire_at__lte=until)
    if after is not None:
        rows = rows.filter(next_fire_at__gt=after)
    return rows.aggregate(first=Min("next_fire_at"))["first"]


def _fire_ahead(now: datetime, horizon: datetime, deadline: float, result: TickResult) -> None:
    """Fire the instants in (now, horizon], earliest first, each at its instant."""
    instant = now
    while True:
        instant = _first_fire(after=instant, until=horizon)
        if instant is None:
            return
        wait = functools.partial(_wait_until, instant, deadline, result)
        while True:
            claimed = _fire_due(instant, AHEAD_CLAIM, result, wait=wait)
            if claimed is None:
                return  # the clock did not reach the instant within the lookahead
            if claimed < AHEAD_CLAIM:
                break


def _wait_until(instant: datetime, deadline: float, result: TickResult) -> bool:
    """Sleep until the clock reads `instant`; False if the monotonic deadline comes first."""
    while True:
        left = (instant - timezone.now()).total_seconds()
        if left <= 0:
            return True
        budget = deadline - time.monotonic()
        if budget <= 0:
            return False
        slept = time.monotonic()
        time.sleep(min(left, budget))
        result.waited += time.monotonic() - slept


def _fire_due(until: datetime, limit: int, result: TickResult, *, wait=None) -> int | None:
    """Claim up to `limit` rows due by `until` and start their fires; return how many were claimed.

    With `wait`, everything is prepared first and the inserts wait for it (None: it gave up,
    nothing was written).
    """
    sleep_first = wait is not None and not connection.features.has_select_for_update_skip_locked
    if sleep_first and not wait():
        return None
    with _collector_paused(), transaction.atomic():
        rows = list(
            Schedule.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_fire_at__lte=until)
            .select_related("workflow", "task")
            .order_by("next_fire_at")[:limit]
        )
        if not rows:
            return 0
        intents, fires = _prepare_rows(rows, until)
        if wait is not None and not sleep_first and not wait():
            transaction.set_rollback(True)
            return None
        started = _start(intents, fires, rows, result)
    visible = timezone.now()
    result.lateness += [(visible - one.batch.scheduled_for).total_seconds() for one in started]
    return len(rows)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector out of a chunk's claim-to-commit.

    A chunk builds thousands of model instances; the full collection they trigger took 90 ms
    in the middle of a minute boundary's inserts. Reference counting still frees them; the
    collector runs again after the commit.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prepare_rows(rows: list[Schedule], until: datetime) -> tuple[list[_Intent], list[Fire]]:
    """Split each row's fires up to `until` (misfire policy), build their batches, move the rows in memory."""
    threshold = timedelta(seconds=settings.BATON_MISFIRE_THRESHOLD_SECONDS)
    versions = [row.workflow.current_version_id for row in rows if row.workflow_id and row.workflow.current_version_id]
    plans = runtime.blueprints.get_many(versions)
    intents: list[_Intent] = []
    fires: list[Fire] = []
    for row in rows:
        plan = schedule.plan_fires(
            row.trigger, row.next_fire_at, until, misfire_policy=row.misfire_policy, threshold=threshold
        )
        if plan.missed_count:
            fires.append(
                Fire(
                    workflow_id=row.workflow_id,
                    task_id=row.task_id,
                    scheduled_for=plan.missed_first,
                    outcome=FireOutcome.MISSED,
                    missed_count=plan.missed_count,
                    missed_until=plan.missed_last,
                )
            )
        late = (plan.late_fire,) if plan.late_fire is not None else ()
        for fire_at, is_late in [*((f, False) for f in plan.on_time), *((f, True) for f in late)]:
            intents.append(_Intent(row, fire_at, is_late, _prepare(row, fire_at, until, plans)))
        row.last_fire_at = plan.on_time[-1] if plan.on_time else (plan.late_fire or row.last_fire_at)
        row.next_fire_at = plan.next_at
    return intents, fires


def _start(intents: list[_Intent], fires: list[Fire], rows: list[Schedule], result: TickResult) -> list[NewBatch]:
    """Apply the overlap policy as of now, insert the batches and the fire records, move the rows."""
    watched = {
        i.row.workflow_id for i in intents if i.row.workflow_id and i.row.overlap_policy != OverlapPolicy.PARALLEL
    }
    busy = set(
        Batch.objects.filter(workflow_id__in=watched, status=BatchStatus.RUNNING).values_list("workflow_id", flat=True)
        if watched
        else ()
    )
    backlog = _backlog({i.row.workflow_id for i in intents if i.row.overlap_policy == OverlapPolicy.QUEUE} & busy)
    new: list[NewBatch] = []
    outcomes: dict[int, str] = {}
    for intent in intents:
        row = intent.row
        if row.workflow_id and row.overlap_policy != OverlapPolicy.PARALLEL and row.workflow_id in busy:
            outcome = FireOutcome.SKIPPED_OVERLAP
            if row.overlap_policy == OverlapPolicy.QUEUE:
                outcome = FireOutcome.QUEUED
                if backlog.get(row.workflow_id, 0) >= settings.BATON_OVERLAP_QUEUE_LIMIT:
                    outcome = FireOutcome.SKIPPED_BACKLOG
            fires.append(Fire(workflow_id=row.workflow_id, scheduled_for=intent.fire_at, outcome=outcome))
            if outcome == FireOutcome.QUEUED:
                backlog[row.workflow_id] = backlog.get(row.workflow_id, 0) + 1
                result.queued += 1
            else:
                result.skipped += 1
            continue
        if intent.batch is not None:
            new.append(intent.batch)
            busy.add(row.workflow_id)
            outcomes[id(intent.batch)] = FireOutcome.STARTED_LATE if intent.late else FireOutcome.STARTED
    started = batches_insert(new) if new else []
    fires += [
        Fire(
            scheduled_for=one.batch.scheduled_for,
            outcome=outcomes[id(one)],
            batch_id=one.batch.pk,
            workflow_id=one.batch.workflow_id,
            task_id=one.batch.task_id,
        )
        for one in started
    ]
    now = timezone.now()
    hop_store().insert(Fire, fires, now)
    fires_recorded.send(sender=Fire, fires=fires, now=now)  # alerts about them commit with the records
    _move_rows(rows, now)
    result.missed += sum(fire.missed_count for fire in fires if fire.outcome == FireOutcome.MISSED)
    result.started += len(started)
    return started


def _backlog(workflow_ids: set[int]) -> dict[int, int]:
    """How many fires of each workflow wait under the `queue` policy.

    The tick holds these workflows' Schedule rows, so no other tick queues fires for them meanwhile.
    """
    if not workflow_ids:
        return {}
    waiting = Fire.objects.filter(outcome=FireOutcome.QUEUED, workflow_id__in=workflow_ids)
    return dict(waiting.values("workflow_id").annotate(count=Count("pk")).values_list("workflow_id", "count"))


def _move_rows(rows: list[Schedule], now: datetime) -> None:
    """Write each row's next fire time: one UPDATE per distinct pair (triggers fire in step)."""
    groups: dict[tuple, list[int]] = {}
    for row in rows:
        groups.setdefault((row.next_fire_at, row.last_fire_at), []).append(row.pk)
    for (next_at, last_at), ids in groups.items():
        Schedule.objects.filter(pk__in=ids).update(next_fire_at=next_at, last_fire_at=last_at, updated_at=now)


def _prepare(row: Schedule, fire_at: datetime, now: datetime, plans: dict) -> NewBatch | None:
    """Build the batch of one fire, or None if its owner cannot run (deleted, no definition)."""
    kind = triggers.batch_trigger_of(row.trigger)
    if row.workflow is not None:
        workflow = row.workflow
        if workflow.deleted_at is not None or workflow.current_version_id not in plans:
            return None
        batch = Batch(workflow=workflow, version_id=workflow.current_version_id)
        return batch_prepare(batch, plans[workflow.current_version_id], trigger=kind, scheduled_for=fire_at, now=now)
    if row.task.workflow is not None:
        return None
    snapshot = task_run_definition(row.task)
    batch = Batch(task=row.task, snapshot=snapshot)
    return batch_prepare(batch, runtime.blueprint_of(snapshot), trigger=kind, scheduled_for=fire_at, now=now)


def _busy(workflow_id: int) -> bool:
    return Batch.objects.filter(workflow_id=workflow_id, status=BatchStatus.RUNNING).exists()


def _start_queued(now: datetime, result: TickResult) -> None:
    """Start the oldest queued fire of each workflow that has no running batch.

    A fire of a workflow that can no longer fire with the `queue` policy is dropped instead:
    the disable (or delete, or edit) drops them in its own transaction, and this catches what
    it could not see (fires queued before that rule, a change made behind the services' back).
    """
    with transaction.atomic():
        queued = list(
            Fire.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(outcome=FireOutcome.QUEUED, workflow__isnull=False)
            .select_related("workflow")
            .order_by("scheduled_for")[:CLAIM]
        )
        closed = [fire.pk for fire in queued if not workflow_queues_fires(fire.workflow)]
        Fire.objects.filter(pk__in=closed).update(outcome=FireOutcome.DROPPED)
        seen = {fire.workflow_id for fire in queued if fire.pk in closed}
        for fire in queued:
            if fire.workflow_id in seen or _busy(fire.workflow_id):
                seen.add(fire.workflow_id)
                continue
            seen.add(fire.workflow_id)
            try:
                with transaction.atomic():
                    kind = triggers.batch_trigger_of(fire.workflow.trigger)
                    fire.batch = batch_start(
                        workflow=fire.workflow, actor=SCHEDULER_ACTOR, trigger=kind, scheduled_for=fire.scheduled_for
                    )
            except (IntegrityError, NotRunnable):
                fire.batch = None
            fire.outcome = FireOutcome.STARTED_LATE
            fire.save(update_fields=["batch", "outcome"])
            result.started += fire.batch is not None


def queued_fires_drop(*, workflow: Workflow, **_: object) -> int:
    """Mark the workflow's queued fires dropped (kept as records); the caller's transaction commits it.

    Connected to `workflows.signals.fire_queue_closed`. A fire the tick is starting right now
    is locked by it: this waits for that commit, after which the fire is no longer queued.
    """
    return Fire.objects.filter(workflow=workflow, outcome=FireOutcome.QUEUED).update(outcome=FireOutcome.DROPPED)
