"""Editing workflows whose triggers fire every second while the scheduler ticks: no deadlock."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from executions.models import Batch
from executions.scheduler import tick
from tests.api.conftest import definition
from tests.conftest import acting, machine
from workflows.services import task_save, workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)
SECONDS = 8


def every_second() -> dict:
    start = (timezone.now() - timedelta(seconds=5)).replace(microsecond=0)
    return {"type": "periodic", "every": 1, "unit": "seconds", "start": start.isoformat(), "timezone": "UTC"}


def test_editing_workflows_and_tasks_on_one_second_triggers_while_ticking_never_deadlocks(client_for, alice, platform):
    urls = []
    for index in range(3):
        document = definition(f"fast-{index}", trigger=every_second(), overlap_policy="parallel")
        urls.append(
            f"/api/v1/workflows/{workflow_save_definition(document=document, actor=acting(alice)).workflow.pk}/"
        )
    for index in range(2):
        document = {"name": f"ping-{index}", "kind": "python", "config": {"callable": "baton.noop"}}
        urls.append(
            f"/api/v1/tasks/{task_save(document={'team': platform.name, **document, 'trigger': every_second()}, actor=machine()).pk}/"
        )
    toggled = workflow_save_definition(
        document=definition("toggled", trigger=every_second(), overlap_policy="queue"), actor=acting(alice)
    ).workflow
    deadline = time.monotonic() + SECONDS
    errors: list[str] = []
    statuses: list[int] = []
    ticks: list[int] = []

    def editor(url: str) -> None:
        client = client_for(alice)
        edit = 0
        try:
            while time.monotonic() < deadline:
                edit += 1
                try:
                    response = client.patch(url, {"description": f"edit {edit}"}, format="json")
                    statuses.append(response.status_code)
                except Exception as exc:  # the test client re-raises what would be a 500
                    errors.append(f"PATCH {url}: {exc!r}")
        finally:
            connection.close()

    def toggler() -> None:
        client = client_for(alice)
        try:
            while time.monotonic() < deadline:
                for action in ("disable", "enable"):
                    try:
                        response = client.post(f"/api/v1/workflows/{toggled.pk}/{action}/")
                        statuses.append(response.status_code)
                    except Exception as exc:
                        errors.append(f"{action}: {exc!r}")
                    time.sleep(0.2)
        finally:
            connection.close()

    def scheduler() -> None:
        try:
            while time.monotonic() < deadline:
                try:
                    ticks.append(tick().started)
                except Exception as exc:
                    errors.append(f"tick: {exc!r}")
                time.sleep(0.05)
        finally:
            connection.close()

    threads = [threading.Thread(target=editor, args=(url,)) for url in urls] + [threading.Thread(target=toggler)]
    threads += [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], f"{len(errors)} failures, first: {errors[:3]}"
    assert statuses and set(statuses) == {200}, set(statuses)
    always_on = Batch.objects.exclude(workflow=toggled)
    assert len(ticks) > SECONDS and always_on.count() >= len(urls) * (SECONDS - 2)  # the fires went on
    assert Batch.objects.count() == sum(ticks)
    assert set(always_on.values_list("workflow__name", "task__name").distinct()) == {
        *((f"fast-{index}", None) for index in range(3)),
        *((None, f"ping-{index}") for index in range(2)),
    }
