"""Reads of worker liveness: who is alive, and which queues in use have no one consuming them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from access.scoping import scoped
from ops.models import WorkerHeartbeat, alive_since
from workflows.models import Role, Workflow
from workflows.task_config import is_reserved_queue


def live_queues(now: datetime | None = None) -> set[str]:
    """Return the queues some live worker consumes."""
    alive = WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen_at__gte=alive_since(now))
    return {queue for queues in alive.values_list("queues", flat=True) for queue in queues}


def used_queues(user: Any = None) -> dict[str, list[str]]:
    """Return the queues the tasks of enabled workflows use (those `user` may see), with the workflows using each."""
    workflows = Workflow.objects.alive() if user is None else scoped(user, Workflow, Role.VIEWER)
    rows = (
        workflows.filter(enabled=True, nodes__task__isnull=False)
        .values_list("nodes__task__queue", "name")
        .distinct()
        .order_by("nodes__task__queue", "name")
    )
    used: dict[str, list[str]] = {}
    for queue, name in rows:
        used.setdefault(queue or "default", []).append(name)
    return used


def queues_without_worker(user: Any = None, now: datetime | None = None) -> dict[str, list[str]]:
    """Return the queues enabled workflows use that no live worker consumes, with the workflows using each.

    Baton's reserved queues (`baton-…`) are left out: a task cannot use them.
    """
    alive = live_queues(now)
    return {
        queue: names
        for queue, names in used_queues(user).items()
        if queue not in alive and not is_reserved_queue(queue)
    }


def control_queues_without_worker(now: datetime | None = None) -> list[str]:
    """Return the queues of Baton's own tasks (the scheduler's tick, the recovery sweep) that no live worker consumes."""
    own = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if route.get("queue")}
    return sorted(own - live_queues(now))
