"""The admin as staff use it: run once, watch a batch, search, edit a definition."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from executions.models import Batch
from tests.conftest import example, machine
from workflows.models import Workflow
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("alice", "", "pw-alice-123")
    client.force_login(user)
    return client


@pytest.fixture
def workflow():
    return workflow_save_definition(document=example("release-pipeline.json"), actor=machine()).workflow


def test_changelists_render(staff, workflow):
    for name in (
        "workflows_team",
        "workflows_task",
        "workflows_workflow",
        "workflows_workflowversion",
        "executions_batch",
    ):
        assert staff.get(reverse(f"admin:{name}_changelist")).status_code == 200, name


def test_run_once_starts_a_batch_and_its_page_shows_every_node(staff, workflow, monkeypatch):
    from executions import dispatch

    monkeypatch.setattr(dispatch, "backend", lambda runs, countdown: None)
    response = staff.post(reverse("admin:workflows_workflow_run", args=[workflow.pk]))
    batch = Batch.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:executions_batch_change", args=[batch.pk])
    page = staff.get(response.url).content.decode()
    for key in ("pull", "scan", "unit", "checks", "build", "deploy", "rollback", "notify"):
        assert key in page
    assert "status-queued" in page and 'id="stop-batch"' in page


def test_batch_search_by_partial_id(staff, workflow):
    from executions.lifecycle import batch_start

    batches = [batch_start(workflow=workflow, actor=machine()) for _ in range(3)]
    target = batches[1]
    response = staff.get(reverse("admin:executions_batch_changelist"), {"q": target.pk[2:6].lower()})
    found = set(re.findall(r"/admin/executions/batch/([0-9A-Z]{8})/change/", response.content.decode()))
    assert target.pk in found


def test_definition_violation_shows_every_message_and_saves_nothing(staff, workflow):
    document = example("release-pipeline.json")
    document["edges"].append({"from": "build", "to": "build", "on": "success"})
    document["nodes"][1]["task"]["kind"] = "teleport"
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    response = staff.post(url, {"definition": json.dumps(document)})
    assert response.status_code == 200
    page = response.content.decode()
    assert "self-loop" in page or "build" in page
    assert "teleport" in page
    assert workflow.versions.count() == 1


def test_definition_edit_makes_a_new_version(staff, workflow):
    document = example("release-pipeline.json")
    document["description"] = "changed in the admin"
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    response = staff.post(url, {"definition": json.dumps(document)})
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2 and workflow.description == "changed in the admin"


def test_add_workflow_through_the_admin(staff):
    document = example("end-of-day-cutover.json")
    response = staff.post(reverse("admin:workflows_workflow_add"), {"definition": json.dumps(document)})
    assert response.status_code == 302
    assert Workflow.objects.get().name == "日切-end-of-day"


def test_rerun_confirmation_lists_the_nodes_that_will_run(staff, workflow):
    from executions.lifecycle import batch_start, batch_stop

    batch = batch_start(workflow=workflow, actor=machine())
    batch_stop(batch_id=batch.pk, actor=machine())
    page = staff.get(reverse("admin:executions_batch_rerun", args=[batch.pk]) + "?resume=1").content.decode()
    assert 'id="will-run"' in page and "deploy" in page


def test_trigger_next_fire_times_are_shown_on_the_workflow_page(staff):
    document = example("release-pipeline.json")
    document["enabled"] = True
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    page = staff.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
    assert page.count("<li>") >= 5 and "baton-next-fires" in page and "+08:00" in page
    listing = staff.get(reverse("admin:workflows_workflow_changelist")).content.decode()
    assert "next fire" in listing.lower()


def test_standalone_task_trigger_edit_is_validated_and_scheduled_and_run_once_works(staff, monkeypatch):
    from executions import dispatch
    from workflows.models import Schedule, Task, Team

    monkeypatch.setattr(dispatch, "backend", lambda runs, countdown: None)
    team = Team.objects.create(name="ops")
    task = Task.objects.create(
        team=team, name="ping", kind="python", config={"callable": "baton.noop"}, trigger={"type": "none"}
    )
    url = reverse("admin:workflows_task_change", args=[task.pk])
    form = {
        "description": "",
        "kind": "python",
        "config": json.dumps({"callable": "baton.noop"}),
        "timeout_seconds": 60,
        "retries": 0,
        "retry_interval_seconds": 0,
        "queue": "default",
    }
    bad = staff.post(
        url, {**form, "trigger": json.dumps({"type": "cron", "expression": "0 0 25 * * ?", "timezone": "UTC"})}
    )
    assert bad.status_code == 200 and "hours" in bad.content.decode()
    good = staff.post(
        url, {**form, "trigger": json.dumps({"type": "cron", "expression": "0 0 2 * * ?", "timezone": "UTC"})}
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    assert Schedule.objects.get(task=task).next_fire_at.hour == 2
    page = staff.get(url).content.decode()
    assert "baton-next-fires" in page
    response = staff.post(
        reverse("admin:workflows_task_changelist"), {"action": "run_once", "_selected_action": [task.pk]}
    )
    assert response.status_code == 302
    run = Batch.objects.get(task=task)
    assert run.workflow_id is None
    listing = staff.get(reverse("admin:executions_batch_changelist"), {"task__id__exact": task.pk}).content.decode()
    assert run.pk in listing and "task ping" in listing
    assert staff.get(reverse("admin:executions_batch_change", args=[run.pk])).status_code == 200
    assert staff.get(reverse("admin:executions_fire_changelist")).status_code == 200
