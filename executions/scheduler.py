"""The scheduler tick: start the batches of due triggers, exactly once per fire.

`celery -A config beat` sends `baton.tick` about once a second (one django-celery-beat entry,
created by a migration). Each tick:

1. claims due Schedule rows with `SELECT … FOR UPDATE SKIP LOCKED`, so a second scheduler
   (a standby, or a redelivered tick) takes other rows or none;
2. splits each row's fires since its last tick into on-time and missed (the misfire policy)
   and applies the overlap policy to each;
3. starts each fire's batch with its scheduled time, under the database's unique
   (workflow, scheduled_for) constraint — the last guard against a double start;
4. moves the row to its next fire time in the same transaction;
5. starts queued fires of workflows whose earlier batch has ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from executions import runtime
from executions.models import Batch, Fire, FireOutcome
from executions.services import NewBatch, NotRunnable, batch_prepare, batch_start, batches_insert, task_run_definition
from executions.states import BatchStatus, TriggerKind
from workflows import schedule
from workflows.models import OverlapPolicy, Schedule

CLAIM = 100


@dataclass
class TickResult:
    """What one tick did."""

    started: int = 0
    skipped: int = 0
    queued: int = 0
    missed: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds between fire time and start


def tick(*, now: datetime | None = None) -> TickResult:
    """Fire every due trigger once; see the module docstring for why it is safe to run twice."""
    now = now or timezone.now()
    result = TickResult()
    while True:
        with transaction.atomic():
            due = list(
                Schedule.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(next_fire_at__lte=now)
                .select_related("workflow", "task")
                .order_by("next_fire_at")[:CLAIM]
            )
            if due:
                _fire_rows(due, now, result)
        if len(due) < CLAIM:
            break
    _start_queued(now, result)
    return result


def _fire_rows(rows: list[Schedule], now: datetime, result: TickResult) -> None:
    """Fire a claimed chunk: build every batch in memory, insert them all in a few statements."""
    threshold = timedelta(seconds=settings.BATON_MISFIRE_THRESHOLD_SECONDS)
    workflow_ids = [row.workflow_id for row in rows if row.workflow_id]
    busy = set(
        Batch.objects.filter(workflow_id__in=workflow_ids, status=BatchStatus.RUNNING).values_list(
            "workflow_id", flat=True
        )
    )
    versions = [row.workflow.current_version_id for row in rows if row.workflow_id and row.workflow.current_version_id]
    plans = runtime.plans.get_many(versions)
    fires: list[Fire] = []
    new: list[NewBatch] = []
    outcomes: dict[int, str] = {}
    for row in rows:
        plan = schedule.plan_fires(
            row.trigger, row.next_fire_at, now, misfire_policy=row.misfire_policy, threshold=threshold
        )
        owner = {"workflow": row.workflow, "task": row.task}
        if plan.missed_count:
            fires.append(Fire(scheduled_for=plan.missed_first, outcome=FireOutcome.MISSED,
                              missed_count=plan.missed_count, missed_until=plan.missed_last, **owner))  # fmt: skip
            result.missed += plan.missed_count
        late = (plan.late_fire,) if plan.late_fire is not None else ()
        for fire_at, is_late in [*((f, False) for f in plan.on_time), *((f, True) for f in late)]:
            if row.workflow_id and row.overlap_policy != OverlapPolicy.PARALLEL and row.workflow_id in busy:
                queue = row.overlap_policy == OverlapPolicy.QUEUE
                fires.append(
                    Fire(
                        scheduled_for=fire_at,
                        outcome=FireOutcome.QUEUED if queue else FireOutcome.SKIPPED_OVERLAP,
                        **owner,
                    )
                )
                result.queued += queue
                result.skipped += not queue
                continue
            prepared = _prepare(row, fire_at, now, plans)
            if prepared is not None:
                new.append(prepared)
                busy.add(row.workflow_id)
                outcomes[id(prepared)] = FireOutcome.STARTED_LATE if is_late else FireOutcome.STARTED
        row.last_fire_at = plan.on_time[-1] if plan.on_time else (plan.late_fire or row.last_fire_at)
        row.next_fire_at, row.updated_at = plan.next_at, now
    started = batches_insert(new) if new else []
    fires += [Fire(scheduled_for=one.batch.scheduled_for, outcome=outcomes[id(one)], batch=one.batch,
                   workflow=one.batch.workflow, task=one.batch.task) for one in started]  # fmt: skip
    Fire.objects.bulk_create(fires)
    _move_rows(rows, now)
    result.started += len(started)
    result.lateness += [(now - one.batch.scheduled_for).total_seconds() for one in started]


def _move_rows(rows: list[Schedule], now: datetime) -> None:
    """Write each row's next fire time: one UPDATE per distinct pair (triggers fire in step)."""
    groups: dict[tuple, list[int]] = {}
    for row in rows:
        groups.setdefault((row.next_fire_at, row.last_fire_at), []).append(row.pk)
    for (next_at, last_at), ids in groups.items():
        Schedule.objects.filter(pk__in=ids).update(next_fire_at=next_at, last_fire_at=last_at, updated_at=now)


def _prepare(row: Schedule, fire_at: datetime, now: datetime, plans: dict) -> NewBatch | None:
    """Build the batch of one fire, or None if its owner cannot run (deleted, no definition)."""
    kind = TriggerKind.CRON if row.trigger.get("type") == "cron" else TriggerKind.PERIODIC
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
    return batch_prepare(batch, runtime.plan_of(snapshot), trigger=kind, scheduled_for=fire_at, now=now)


def _busy(workflow_id: int) -> bool:
    return Batch.objects.filter(workflow_id=workflow_id, status=BatchStatus.RUNNING).exists()


def _start_queued(now: datetime, result: TickResult) -> None:
    """Start the oldest queued fire of each workflow that has no running batch."""
    with transaction.atomic():
        queued = list(
            Fire.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(outcome=FireOutcome.QUEUED, workflow__isnull=False)
            .select_related("workflow")
            .order_by("scheduled_for")[:CLAIM]
        )
        seen: set[int] = set()
        for fire in queued:
            if fire.workflow_id in seen or _busy(fire.workflow_id):
                seen.add(fire.workflow_id)
                continue
            seen.add(fire.workflow_id)
            try:
                with transaction.atomic():
                    kind = TriggerKind.PERIODIC if fire.workflow.trigger.get("type") == "periodic" else TriggerKind.CRON
                    fire.batch = batch_start(workflow=fire.workflow, trigger=kind, scheduled_for=fire.scheduled_for)
            except (IntegrityError, NotRunnable):
                fire.batch = None
            fire.outcome = FireOutcome.STARTED_LATE
            fire.save(update_fields=["batch", "outcome"])
            result.started += fire.batch is not None
