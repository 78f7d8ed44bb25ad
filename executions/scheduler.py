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

from executions.models import Batch, Fire, FireOutcome
from executions.services import NotRunnable, batch_start, task_run_start
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
            for row in due:
                _fire_row(row, now, result)
        if len(due) < CLAIM:
            break
    _start_queued(now, result)
    return result


def _fire_row(row: Schedule, now: datetime, result: TickResult) -> None:
    threshold = timedelta(seconds=settings.BATON_MISFIRE_THRESHOLD_SECONDS)
    plan = schedule.plan_fires(
        row.trigger, row.next_fire_at, now, misfire_policy=row.misfire_policy, threshold=threshold
    )
    for fire_at in plan.on_time:
        _fire(row, fire_at, now, result, late=False)
    if plan.missed_count:
        Fire.objects.create(
            workflow=row.workflow, task=row.task, scheduled_for=plan.missed_first, outcome=FireOutcome.MISSED,
            missed_count=plan.missed_count, missed_until=plan.missed_last,
        )  # fmt: skip
        result.missed += plan.missed_count
    if plan.late_fire is not None:
        _fire(row, plan.late_fire, now, result, late=True)
    row.last_fire_at = plan.on_time[-1] if plan.on_time else (plan.late_fire or row.last_fire_at)
    row.next_fire_at = plan.next_at
    row.save(update_fields=["next_fire_at", "last_fire_at", "updated_at"])


def _fire(row: Schedule, fire_at: datetime, now: datetime, result: TickResult, *, late: bool) -> None:
    """Start one fire's batch, or record why not."""
    owner = {"workflow": row.workflow, "task": row.task}
    if row.workflow is not None and row.overlap_policy != OverlapPolicy.PARALLEL and _busy(row.workflow_id):
        outcome = FireOutcome.QUEUED if row.overlap_policy == OverlapPolicy.QUEUE else FireOutcome.SKIPPED_OVERLAP
        Fire.objects.create(scheduled_for=fire_at, outcome=outcome, **owner)
        if outcome == FireOutcome.QUEUED:
            result.queued += 1
        else:
            result.skipped += 1
        return
    batch = _start(row, fire_at)
    if batch is None:
        return
    Fire.objects.create(
        scheduled_for=fire_at, outcome=FireOutcome.STARTED_LATE if late else FireOutcome.STARTED, batch=batch, **owner
    )
    result.started += 1
    result.lateness.append((batch.created_at - fire_at).total_seconds())


def _start(row: Schedule, fire_at: datetime) -> Batch | None:
    kind = TriggerKind.CRON if row.trigger.get("type") == "cron" else TriggerKind.PERIODIC
    try:
        with transaction.atomic():
            if row.workflow is not None:
                return batch_start(workflow=row.workflow, trigger=kind, scheduled_for=fire_at)
            return task_run_start(task=row.task, trigger=kind, scheduled_for=fire_at)
    except IntegrityError:
        return None  # another scheduler started this very fire
    except NotRunnable:
        return None


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
                    fire.batch = batch_start(
                        workflow=fire.workflow, trigger=TriggerKind.CRON, scheduled_for=fire.scheduled_for
                    )
            except (IntegrityError, NotRunnable):
                fire.batch = None
            fire.outcome = FireOutcome.STARTED_LATE
            fire.save(update_fields=["batch", "outcome"])
            result.started += fire.batch is not None
