"""Composite reads of batches for the CLI, the admin and the API."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from access.scoping import scoped
from executions.kinds.masking import live_slice
from executions.models import Batch, DailyOutcome, NodeRun, normalize_batch_id
from executions.states import BATCH_FINISHED, BatchStatus
from workflows import graph
from workflows.models import Schedule, Task, Workflow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def batch_report(batch: Batch) -> dict[str, Any]:
    """Return SPEC §11's report: batch id, status and every node's status, times and output.

    Beyond §11: each task node's `outputs` (the values it published) and the batch's `params`.
    """
    nodes: dict[str, Any] = {}
    for run in batch.node_runs.order_by("id"):
        if run.node_type == graph.TASK:
            nodes[run.node_key] = {
                "status": run.status,
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "attempts": run.attempts,
                "output": run.output,
                "outputs": run.outputs,
            }
            if run.set_by:  # the status was set by an operator (mark succeeded, skip)
                nodes[run.node_key] |= {"set_by": run.set_by, "set_reason": run.set_reason}
        else:
            nodes[run.node_key] = {"status": run.status}
    report = {
        "batch": batch.pk,
        "status": batch.status,
        "params": (batch.context or {}).get("params", {}),
        "nodes": nodes,
    }
    if batch.paused_at is not None and batch.status == BatchStatus.RUNNING:
        report["paused"] = True
    return report


def batch_find(text: str) -> Batch | None:
    """Return the batch with this id, typed loosely (case, dashes, O/0, I/L/1)."""
    return Batch.objects.select_related("workflow", "version").filter(pk=normalize_batch_id(text)).first()


def batches_matching(text: str, queryset: QuerySet[Batch] | None = None) -> QuerySet[Batch]:
    """Return batches whose id contains the typed fragment."""
    queryset = queryset if queryset is not None else Batch.objects.all()
    return queryset.filter(pk__contains=normalize_batch_id(text))


def node_runs_of(batch: Batch) -> QuerySet[NodeRun]:
    """Return a batch's node runs in definition order."""
    return batch.node_runs.order_by("id")


def node_run_output_since(run: NodeRun, offset: int) -> dict[str, Any]:
    """Return a node run's output after `offset` (bytes of all it printed), for following it while it runs.

    A running task's output is written about once a second (the heartbeat); `offset` in the answer
    is where the next read starts. A new attempt starts its output afresh: the answer names the
    attempt, and a follower reading another attempt than before starts again from 0.
    """
    text, end = live_slice(run.output, offset)
    return {"status": run.status, "attempt": run.attempts, "output": text, "offset": end}


HOME_DAYS = 14


def home_summary(user: Any, *, now: datetime) -> dict[str, Any]:
    """What the console's home page shows a user: running batches, the last day's failures, the next fires, outcomes per day."""
    visible = scoped(user, Batch)
    owners = ("workflow", "task")
    running = visible.filter(status=BatchStatus.RUNNING).select_related(*owners).order_by("-created_at")[:20]
    failures = (
        visible.filter(
            status__in=[BatchStatus.FAILED, BatchStatus.TIMED_OUT], finished_at__gte=now - timedelta(hours=24)
        )
        .select_related(*owners)
        .order_by("-finished_at")[:20]
    )
    schedules = (
        Schedule.objects.filter(
            Q(workflow__in=scoped(user, Workflow).values("pk")) | Q(task__in=scoped(user, Task).values("pk")),
            next_fire_at__isnull=False,
        )
        .select_related(*owners)
        .order_by("next_fire_at")[:10]
    )
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=back) for back in range(HOME_DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    counts: dict[tuple[date, str], int] = defaultdict(int)
    live = (
        visible.filter(created_at__gte=since, status__in=BATCH_FINISHED)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "status")
        .annotate(n=Count("pk"))
    )
    archived = scoped(user, DailyOutcome).filter(day__gte=days[0]).values("day", "status").annotate(n=Sum("count"))
    for row in [*live, *archived]:
        counts[(row["day"], row["status"])] += row["n"]
    return {
        "running": list(running),
        "failures": list(failures),
        "schedules": list(schedules),
        "days": days,
        "counts": counts,
    }


def workflow_records(
    workflow: Workflow, *, status: str = "", query: str = "", before: datetime | None = None, limit: int = 20
) -> tuple[list[Batch], datetime | None]:
    """One page of a workflow's batches, newest first, and where the next page starts (keyset: no count)."""
    rows = Batch.objects.filter(workflow=workflow)
    if status:
        rows = rows.filter(status=status)
    if query:
        rows = batches_matching(query, rows)
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    page = list(rows.order_by("-created_at")[: limit + 1])
    return page[:limit], (page[limit - 1].created_at if len(page) > limit else None)
