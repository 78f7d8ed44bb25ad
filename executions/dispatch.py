"""The Celery boundary: the only place that puts node-run ids on the broker.

Services call `dispatch_after_commit`, so a message never names a row that is not yet
committed (or was rolled back). Tests may swap `backend` for a recorder; the integration
tests keep the real one and run a real worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction


def _send(run_ids_and_queues: list[tuple[int, str]], countdown: float | None) -> None:
    from executions.tasks import run_node

    for run_id, queue in run_ids_and_queues:
        run_node.apply_async(args=(run_id,), queue=queue or "default", countdown=countdown)


backend: Callable[[list[tuple[int, str]], float | None], None] = _send


def dispatch_after_commit(runs: Iterable[tuple[int, str]], *, countdown: float | None = None) -> None:
    """Send (node-run id, queue) wake-ups once the current transaction commits."""
    runs = list(runs)
    if runs:
        transaction.on_commit(lambda: backend(runs, countdown))
