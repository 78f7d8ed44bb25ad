"""The Celery app: `celery -A config worker` and `celery -A config beat`."""

from __future__ import annotations

import os

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


@signals.task_prerun.connect(weak=False)
def _retire_stale_connections_before(**kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()


@signals.task_postrun.connect(weak=False)
def _retire_stale_connections_after(**kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()
