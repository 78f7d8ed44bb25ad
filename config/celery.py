"""The Celery app: `celery -A config worker` and `celery -A config beat`."""

from __future__ import annotations

import os
import time

from celery import Celery, signals

from config import broker
from ops import worker as _operations  # noqa: F401  (the worker's metrics folder, heartbeat row; docs/operations.md)

broker.register()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection before and after every task unless
# this is set, so each node run would pay a new PostgreSQL connection (3–9 ms, measured).
# Keep connections, and let Django retire them as it does between web requests
# (CONN_MAX_AGE, CONN_HEALTH_CHECKS) around each task instead.
app.conf.update(CELERY_DB_REUSE_MAX=1_000_000_000)
app.autodiscover_tasks()


# A connection the previous task used less than this long ago is not pinged again (Django's
# CONN_HEALTH_CHECKS sends a `SELECT 1` before the first query of every task: 8 % of a no-op
# node's time on a busy worker). If the server went away in that second, the task's first query
# fails before anything ran, the node task retries (`autoretry_for`) and the next task reconnects.
PING_AFTER_IDLE_SECONDS = 1.0
_last_task_end = -PING_AFTER_IDLE_SECONDS


@signals.task_prerun.connect(weak=False)
def _retire_stale_connections_before(**kwargs) -> None:
    from django.db import close_old_connections, connections

    close_old_connections()
    if time.monotonic() - _last_task_end < PING_AFTER_IDLE_SECONDS:
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None and not connection.errors_occurred:
                connection.health_check_done = True


@signals.task_postrun.connect(weak=False)
def _retire_stale_connections_after(**kwargs) -> None:
    from django.db import close_old_connections

    global _last_task_end
    close_old_connections()
    _last_task_end = time.monotonic()
