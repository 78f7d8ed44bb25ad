"""Composite reads of batches for the CLI, the admin and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from executions.kinds.masking import live_slice
from executions.models import Batch, NodeRun, normalize_batch_id
from workflows import graph


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
        else:
            nodes[run.node_key] = {"status": run.status}
    return {
        "batch": batch.pk,
        "status": batch.status,
        "params": (batch.context or {}).get("params", {}),
        "nodes": nodes,
    }


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
