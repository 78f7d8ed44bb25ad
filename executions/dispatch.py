"""The Celery boundary: the only place that puts node-run ids on the broker.

Services call `dispatch_after_commit`, so a message never names a row that is not yet
committed (or was rolled back). Tests may swap `backend` for a recorder; the integration
tests keep the real one and run a real worker.

A worker that has just finished a node may keep one successor for itself (`continuation`):
the successor is queued in the database like any other, but instead of a message round trip
through the broker the same worker process claims it right after the commit. If that worker
dies first, the run is still `queued` in the database and the recovery sweep sends it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction


def _send(run_ids_and_queues: list[tuple[int, str]], countdown: float | None) -> None:
    from django.db import connection

    from executions.tasks import run_node

    # Inside a transaction (a send before its commit) a broker that is down must not keep the
    # transaction's locks through kombu's connection retries: fail at once, the caller resends.
    retry = not connection.in_atomic_block
    for run_id, queue in run_ids_and_queues:
        run_node.apply_async(args=(run_id,), queue=queue or "default", countdown=countdown, retry=retry)


backend: Callable[[list[tuple[int, str]], float | None], None] = _send
_held = threading.local()


@contextmanager
def continuation(queue: str | None) -> Iterator[list[int]]:
    """Within it, hand the first run queued for `queue` (once committed) to the caller, not the broker.

    The yielded list receives that run's id after its transaction commits; it stays empty when
    nothing was queued for `queue`. `queue=None` holds nothing back.
    """
    slot: list[int] = []
    _held.slot = (queue or "default", slot) if queue is not None else None
    try:
        yield slot
    finally:
        _held.slot = None


def dispatch_after_commit(runs: Iterable[tuple[int, str]], *, countdown: float | None = None) -> None:
    """Send (node-run id, queue) wake-ups once the current transaction commits."""
    runs = _keep_one(list(runs), countdown)
    if runs:
        transaction.on_commit(lambda: backend(runs, countdown))


def dispatch_before_commit(runs: Iterable[tuple[int, str]]) -> None:
    """Send wake-ups now, inside the transaction that queued the runs, so the commit overlaps their transit.

    Only for runs whose claim waits for the queuing transaction: the PostgreSQL claim locks the
    row first (`executions.fastpath.CLAIM`), so it sees the committed `queued` status, or, if
    the transaction rolled back, `pending` and drops the message. A send that fails does not
    fail the transaction: it is tried again after the commit (and else the sweep sends it).
    """
    runs = _keep_one(list(runs), None)
    if runs:
        try:
            backend(runs, None)
        except Exception:  # the broker is down: the database still records the result
            transaction.on_commit(lambda: backend(runs, None))


def _keep_one(runs: list[tuple[int, str]], countdown: float | None) -> list[tuple[int, str]]:
    """Hand the first run for the continuation's queue to it (after commit); return the others."""
    held = getattr(_held, "slot", None)
    if held is not None and countdown is None:
        queue, slot = held
        mine = next((i for i, (_, q) in enumerate(runs) if (q or "default") == queue), None)
        if mine is not None:
            _held.slot = None  # one run per finish
            kept = runs.pop(mine)[0]
            transaction.on_commit(lambda: slot.append(kept))
    return runs
