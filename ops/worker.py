"""A Celery worker's part in operations: its metrics folder, its dead children, its heartbeat row.

Connected by `config/celery.py` (importing this module), so every `celery -A config worker`:

1. at `celeryd_init`, before any task, wipes and takes its own metrics folder
   (`celery-<node name>`, see `ops.multiproc`), which its pool's children inherit;
2. at `worker_process_shutdown`, marks the exiting pool child dead for prometheus_client;
3. at `worker_ready`, writes its `WorkerHeartbeat` row (node name, host, queues) and starts a
   daemon thread that writes `last_seen_at` every `BATON_WORKER_HEARTBEAT_SECONDS`; at
   `worker_shutdown` it stops the thread and marks the row stopped.

The beat process (`celery beat`) runs none of these: it is not a worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

from celery import signals

from ops import multiproc

logger = logging.getLogger(__name__)
_stop = threading.Event()


@signals.celeryd_init.connect(weak=False)
def _take_metrics_folder(sender: Any = None, **kwargs: Any) -> None:
    multiproc.start_service(f"celery-{sender}")


@signals.worker_process_shutdown.connect(weak=False)
def _mark_child_dead(pid: int | None = None, **kwargs: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid())


@signals.worker_ready.connect(weak=False)
def _start_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    from django.conf import settings

    queues = sender.app.amqp.queues
    consumed = sorted((queues.consume_from or queues).keys())
    name = str(sender.hostname)
    concurrency = int(getattr(sender.pool, "limit", 0) or sender.app.conf.worker_concurrency or 0)
    _beat(name, queues=consumed, concurrency=concurrency, first=True)
    interval = settings.BATON_WORKER_HEARTBEAT_SECONDS
    _stop.clear()
    thread = threading.Thread(target=_keep_beating, args=(name, interval), name="baton-heartbeat", daemon=True)
    thread.start()


@signals.worker_shutdown.connect(weak=False)
def _stop_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()
    name = str(getattr(sender, "hostname", "") or "")
    if not name:
        return
    from django.db import connection
    from django.utils import timezone

    from ops.models import WorkerHeartbeat

    try:
        WorkerHeartbeat.objects.filter(name=name).update(stopped_at=timezone.now())
    except Exception:  # the database may be the reason for the shutdown
        logger.warning("could not mark worker %s stopped", name, exc_info=True)
    finally:
        connection.close()


def _keep_beating(name: str, interval: float) -> None:
    while not _stop.wait(interval):
        _beat(name)


_identity: dict[str, dict[str, Any]] = {}  # node name -> what its row says besides the times


def _beat(name: str, *, queues: list[str] | None = None, concurrency: int = 0, first: bool = False) -> None:
    """Write the worker's row: all of it at start (or when it was deleted), else only `last_seen_at`; never raise."""
    from django.db import connection
    from django.utils import timezone

    from ops.models import WorkerHeartbeat

    now = timezone.now()
    if first:
        _identity[name] = {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "queues": queues or [],
            "concurrency": concurrency,
        }
    try:
        if first or not WorkerHeartbeat.objects.filter(name=name).update(last_seen_at=now, stopped_at=None):
            WorkerHeartbeat.objects.update_or_create(
                name=name,
                defaults={**_identity.get(name, {}), "started_at": now, "last_seen_at": now, "stopped_at": None},
            )
        if first:  # workers not seen for a week are gone for good: keep the list to the living and the recent
            WorkerHeartbeat.objects.filter(last_seen_at__lt=now - timedelta(days=7)).delete()
    except Exception:  # a database outage must not kill the worker; the row just ages
        logger.warning("could not write the heartbeat of worker %s", name, exc_info=True)
    finally:
        connection.close()  # the heartbeat thread's own; in the main process, none is kept for a pool to inherit
