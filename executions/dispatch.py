"""The Celery boundary: the only place that puts node-run ids on the broker.

A wake-up is a (node-run id, queue) pair, sent as the task `baton.run_node` by name through the
current Celery app: this module imports nothing of Baton, so every service can import it.
Services send after the commit (`after_commit`), so a message never names a row that is not yet
committed (or was rolled back), or before it where the claim waits for the commit
(`before_commit`). Tests may swap `backend` for a recorder; the integration tests keep the real
one and run a real worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from celery import current_app
from django.db import connection, transaction

logger = logging.getLogger(__name__)
RUN_NODE = "baton.run_node"
DEFAULT_QUEUE = "default"

Wakeup = tuple[int, str]  # (node-run id, queue; "" is the default queue)


def queue_name(queue: str) -> str:
    """Name the broker queue of a node run's queue field ("" is the default queue)."""
    return queue or DEFAULT_QUEUE


def _send(wakeups: list[Wakeup], countdown: float | None) -> None:
    # Inside a transaction (a send before its commit) a broker that is down must not keep the
    # transaction's locks through kombu's connection retries: fail at once, the caller resends.
    retry = not connection.in_atomic_block
    for run_id, queue in wakeups:
        current_app.send_task(RUN_NODE, args=(run_id,), queue=queue_name(queue), countdown=countdown, retry=retry)


backend: Callable[[list[Wakeup], float | None], None] = _send


def send(wakeups: Iterable[Wakeup], *, countdown: float | None = None) -> None:
    """Send wake-ups now (outside a transaction, or for rows already committed)."""
    wakeups = list(wakeups)
    if wakeups:
        backend(wakeups, countdown)


def committed(wakeups: Iterable[Wakeup]) -> None:
    """Send wake-ups of runs whose queuing has committed; never raise.

    A broker still down after kombu's retries leaves them to the sweep, which re-sends a run
    queued for too long: the database holds the run, the message is only its wake-up.
    """
    wakeups = list(wakeups)
    try:
        send(wakeups)
    except Exception:
        logger.warning("could not send %d wake-up(s); the sweep will re-send them", len(wakeups), exc_info=True)


def after_commit(wakeups: Iterable[Wakeup], *, countdown: float | None = None) -> None:
    """Send wake-ups once the current transaction commits."""
    wakeups = list(wakeups)
    if wakeups:
        transaction.on_commit(lambda: backend(wakeups, countdown))


def before_commit(wakeups: Iterable[Wakeup]) -> None:
    """Send wake-ups now, inside the transaction that queued the runs, so the commit overlaps their transit.

    Only for runs whose claim waits for the queuing transaction (`HopStore.claims_wait_for_commit`):
    the PostgreSQL claim locks the row first, so it sees the committed `queued` status, or, if the
    transaction rolled back, `pending` and drops the message. A send that fails does not fail the
    transaction: it is tried again after the commit (and else the sweep sends it).
    """
    wakeups = list(wakeups)
    if wakeups:
        try:
            backend(wakeups, None)
        except Exception:  # the broker is down: the database still records the result
            transaction.on_commit(lambda: backend(wakeups, None))


# -- alerts -------------------------------------------------------------------------------
# The alerts app (`alerts.outbox`) reads what happened from the event log; these only wake it,
# by task name on Baton's own queue, so `executions` never imports it. A lost wake-up costs a
# delay, never an alert: the periodic backstop reads the event log too.
ALERTS = "baton.alerts"
ALERTS_QUEUE = "baton-alerts"


def alert_wakeup(batch_id: str | None, *, countdown: float | None = None) -> None:
    """Ask the alerts task to look at a batch (None: at everything due); never raise."""
    try:
        current_app.send_task(ALERTS, args=(batch_id,), queue=ALERTS_QUEUE, countdown=countdown, retry=False)
    except Exception:  # the broker is down: the backstop delivers the alert
        logger.warning("could not wake the alerts task for batch %s; the backstop will", batch_id, exc_info=True)


# Whether a team's batches are worth a wake-up: the alerts app sets this to "the team has an
# enabled rule" (`alerts.outbox.team_has_rules`); None wakes for every batch. A wake-up left out
# costs nothing but time: the backstop reads every batch's end from the event log.
alert_wanted: Callable[[int], bool] | None = None


def alert_after_commit(batch_id: str, *, team_id: int | None = None) -> None:
    """Wake the alerts task for a batch once the current transaction (which ended it) commits.

    Not for a team without alert rules: a publish to the broker was a quarter of a no-op
    node's time on a busy worker, for a task that would find nothing to do.
    """
    if alert_wanted is not None and team_id is not None and not alert_wanted(team_id):
        return
    transaction.on_commit(lambda: alert_wakeup(batch_id))
