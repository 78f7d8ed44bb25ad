"""Standalone tasks over the API: CRUD through the one task parser, shell permission, workflow tasks read-only."""

from __future__ import annotations

import pytest

from access.models import AuditEntry
from executions import lifecycle
from tests.api.conftest import post_json
from tests.conftest import machine
from workflows.models import Task

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def task_body(name: str = "ping", **extra):
    return {
        "team": "platform",
        "name": name,
        "kind": "http",
        "config": {"method": "GET", "url": "https://example.invalid/"},
        **extra,
    }


def test_editor_creates_reads_updates_and_deletes_a_standalone_task(client_for, dave):
    client = client_for(dave)
    created = post_json(
        client,
        URL,
        task_body(
            trigger={
                "type": "periodic",
                "every": 90,
                "unit": "minutes",
                "start": "2026-01-01T00:00:00+00:00",
                "timezone": "UTC",
            }
        ),
    )
    assert created.status_code == 201, created.json()
    task = created.json()
    assert task["team"] == "platform" and task["workflow"] is None and task["trigger"]["type"] == "periodic"
    updated = client.patch(f"{URL}{task['id']}/", {"timeout_seconds": 30}, format="json")
    assert updated.status_code == 200, updated.json()
    assert updated.json()["timeout_seconds"] == 30
    assert client.delete(f"{URL}{task['id']}/").status_code == 204
    assert not Task.objects.exists()
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "task.create",
        "task.update",
        "task.delete",
    ]


def test_secrets_are_masked_and_kept_on_update(client_for, dave):
    client = client_for(dave)
    body = task_body(
        config={"method": "GET", "url": "https://example.invalid/", "headers": {"Authorization": {"secret": "hunter2"}}}
    )
    task = post_json(client, URL, body).json()
    assert task["config"]["headers"]["Authorization"] == {"secret": "***"}
    client.patch(f"{URL}{task['id']}/", {"description": "x"}, format="json")
    assert "hunter2" not in str(client.get(f"{URL}{task['id']}/").json())
    assert Task.objects.get().config["headers"]["Authorization"] != {"secret": "***"}


def test_invalid_task_is_400_with_paths(client_for, dave):
    response = post_json(client_for(dave), URL, task_body(kind="ftp", retries=-1, colour="red"))
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"colour", "retries"} <= fields


def test_shell_tasks_need_the_permission(client_for, dave, alice):
    body = task_body("sh", kind="shell", config={"script": "echo hi"})
    assert post_json(client_for(dave), URL, body).status_code == 403
    assert post_json(client_for(alice), URL, body).status_code == 201


def test_tasks_of_a_workflow_are_read_only_here(client_for, alice, workflow):
    task = Task.objects.get(name="release-a")
    client = client_for(alice)
    assert client.get(f"{URL}{task.pk}/").json()["workflow"] == {"id": workflow.pk, "name": "release"}
    assert client.patch(f"{URL}{task.pk}/", {"retries": 2}, format="json").status_code == 409
    assert client.delete(f"{URL}{task.pk}/").status_code == 409


def test_a_task_with_runs_cannot_be_deleted(client_for, alice):
    client = client_for(alice)
    task = post_json(client, URL, task_body()).json()
    lifecycle.task_run_start(task=Task.objects.get(pk=task["id"]), actor=machine())
    assert client.delete(f"{URL}{task['id']}/").status_code == 409


def test_operator_and_viewer_cannot_write_tasks(client_for, bob, carol):
    assert post_json(client_for(bob), URL, task_body()).status_code == 403
    assert post_json(client_for(carol), URL, task_body()).status_code == 403


def test_rename_and_move_are_refused(client_for, alice):
    client = client_for(alice)
    task = post_json(client, URL, task_body()).json()
    assert client.patch(f"{URL}{task['id']}/", {"name": "pong"}, format="json").status_code == 400
    assert client.patch(f"{URL}{task['id']}/", {"team": "rivals"}, format="json").status_code == 400


def test_filters(client_for, alice, workflow):
    client = client_for(alice)
    post_json(client, URL, task_body())
    assert {t["name"] for t in client.get(URL, {"standalone": "true"}).json()["results"]} == {"ping"}
    assert {t["name"] for t in client.get(URL, {"kind": "python"}).json()["results"]} == {"release-a", "release-b"}
