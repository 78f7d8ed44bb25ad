"""Celery tasks: thin wrappers that take ids and call one service."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from executions import lifecycle, scheduler
from executions.retention import history_archive
from ops import metrics
from workflows.task_config import is_reserved_queue


@shared_task(
    name="baton.run_node",
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # The database was unreachable before the claim: try again later (nothing ran yet).
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=10,
)
def run_node(self, node_run_id: int) -> str | None:
    """Run one node run; a duplicate delivery finds it already claimed and does nothing."""
    return lifecycle.node_run_execute(
        node_run_id=node_run_id, continue_for=settings.BATON_CONTINUATION_SECONDS, delivered_on=delivery_queue(self)
    )


def delivery_queue(task: Any) -> str:
    """Name the queue the current message came from.

    A worker that consumes only reserved queues (the control worker) got it from one of them,
    whatever the message says; otherwise its routing key names the queue (Celery routes a
    queue's messages by the queue's name).
    """
    consumed = list(task.app.amqp.queues.consume_from or ())
    if consumed and all(is_reserved_queue(name) for name in consumed):
        return consumed[0]
    return str((task.request.delivery_info or {}).get("routing_key") or "")


@shared_task(name="baton.recover", ignore_result=True)
def recover() -> dict[str, int]:
    """Repair lost messages, dead workers and overdue batches from the database."""
    counts = lifecycle.recover()
    metrics.record_sweep(counts)
    return counts


@shared_task(name="baton.retention", ignore_result=True)
def retention() -> int:
    """Archive and delete expired history, for at most BATON_RETENTION_BUDGET_SECONDS (the next run goes on)."""
    return history_archive(budget_seconds=settings.BATON_RETENTION_BUDGET_SECONDS).archived


@shared_task(name="baton.tick", ignore_result=True)
def tick() -> int:
    """Start the batches of due triggers."""
    began = time.monotonic()
    result = scheduler.tick()
    metrics.record_tick(
        seconds=time.monotonic() - began,
        started=result.started,
        missed=result.missed,
        skipped=result.skipped,
        queued=result.queued,
        lateness=result.lateness,
    )
    return result.started
