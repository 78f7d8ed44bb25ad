"""A standalone task's "run once" and its runs over the API (docs/api.md): roles, teams, re-runs."""

from __future__ import annotations

import pytest

from access.models import AuditEntry
from executions import lifecycle
from executions.models import Batch
from tests.api.conftest import post_json
from tests.conftest import machine
from workflows.models import Task
from workflows.services import task_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def ping(platform) -> Task:
    return task_save(
        document={"team": platform.name, "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )


def test_an_operator_runs_a_standalone_task_once(client_for, bob, ping, dispatched, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client_for(bob), f"/api/v1/tasks/{ping.pk}/run/")
    assert response.status_code == 201
    body = response.json()
    assert body["task"] == {"id": ping.pk, "name": "ping"} and body["workflow"] is None and body["version"] is None
    assert body["trigger"] == "manual" and body["status"] == "running" and body["created_by"] == "bob"
    assert [(n["node_key"], n["status"]) for n in body["node_runs"]] == [("ping", "queued")]
    assert [run_id for run_id, _ in dispatched.sent] == [body["node_runs"][0]["id"]]
    assert AuditEntry.objects.filter(action="task.run", object_id=str(ping.pk), after={"batch": body["id"]}).exists()


def test_viewers_may_not_run_it_and_other_teams_do_not_see_it(client_for, carol, mallory, ping):
    assert post_json(client_for(carol), f"/api/v1/tasks/{ping.pk}/run/").status_code == 403
    assert post_json(client_for(mallory), f"/api/v1/tasks/{ping.pk}/run/").status_code == 404
    assert client_for(mallory).get(f"/api/v1/tasks/{ping.pk}/runs/").status_code == 404
    assert not Batch.objects.exists()


def test_a_task_of_a_workflow_runs_with_its_workflow_only(client_for, bob, workflow):
    task = Task.objects.get(name="release-a")
    response = post_json(client_for(bob), f"/api/v1/tasks/{task.pk}/run/")
    assert response.status_code == 409 and "run the workflow" in response.json()["detail"]


def test_the_runs_list_is_newest_first_with_re_runs_and_paginated(client_for, carol, ping):
    first = lifecycle.task_run_start(task=ping, actor=machine())
    lifecycle.batch_stop(batch_id=first.pk, actor=machine())
    again = lifecycle.batch_rerun(batch_id=first.pk, actor=machine())
    other = task_save(
        document={"team": ping.team.name, "name": "pong", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )
    lifecycle.task_run_start(task=other, actor=machine())
    body = client_for(carol).get(f"/api/v1/tasks/{ping.pk}/runs/").json()
    assert body["count"] == 2 and [b["id"] for b in body["results"]] == [again.pk, first.pk]
    assert body["results"][0]["rerun_of"] == first.pk and body["results"][0]["trigger"] == "rerun"
    assert body["results"][1]["status"] == "stopped"
    page = client_for(carol).get(f"/api/v1/tasks/{ping.pk}/runs/", {"page_size": 1, "page": 2}).json()
    assert [b["id"] for b in page["results"]] == [first.pk] and page["previous"] is not None
