"""The live batch page's endpoints: state for polling, node output; buttons by role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from executions import dispatch
from executions.lifecycle import batch_start, batch_stop
from tests.conftest import example, machine
from workflows.models import Membership, Role, Team
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(monkeypatch):
    from executions import runtime

    runtime.blueprints.clear()  # version ids repeat across rolled-back tests; the plan cache is per process
    monkeypatch.setattr(dispatch, "backend", lambda runs, countdown: None)
    workflow = workflow_save_definition(document=example("release-pipeline.json"), actor=machine()).workflow
    return batch_start(workflow=workflow, actor=machine())


def login(client, name, role=None, team=None):
    user = get_user_model().objects.create_user(name, password=f"pw-{name}-123", is_staff=True)
    if role:
        Membership.objects.create(team=team, user=user, role=role)
    client.force_login(user)
    return client


def test_state_has_every_node_and_the_drawing_on_request(client, batch):
    login(client, "olga", Role.OPERATOR, batch.workflow.team)
    url = reverse("baton_batch_state", args=[batch.pk])
    body = client.get(url, {"drawing": 1}).json()
    assert body["batch"]["status"] == "running" and body["batch"]["running"] is True
    assert body["runs"]["pull"]["status"] == "queued" and body["runs"]["checks"]["status"] == "pending"
    assert set(body["positions"]) >= {"start", "pull", "deploy"}
    assert len(body["definition"]["nodes"]) == 8
    assert body["actions"] == {
        "stop": True,
        "pause": True,
        "continue": False,
        "rerun": False,
        "resume": False,
        "recover": True,  # skip a pending node
    }
    assert "definition" not in client.get(url).json()


def test_a_viewer_sees_the_state_but_no_action(client, batch):
    login(client, "victor", Role.VIEWER, batch.workflow.team)
    body = client.get(reverse("baton_batch_state", args=[batch.pk])).json()
    assert not any(body["actions"].values())


def test_a_finished_batch_offers_rerun_and_resume(client, batch):
    batch_stop(batch_id=batch.pk, actor=machine())
    login(client, "olga", Role.OPERATOR, batch.workflow.team)
    body = client.get(reverse("baton_batch_state", args=[batch.pk])).json()
    assert body["batch"]["status"] == "stopped"
    assert body["actions"] == {
        "stop": False,
        "pause": False,
        "continue": False,
        "rerun": True,
        "resume": True,
        "recover": True,
    }


def test_node_output_and_unknown_node(client, batch):
    batch.node_runs.filter(node_key="pull").update(output="pulling\n")
    login(client, "olga", Role.OPERATOR, batch.workflow.team)
    body = client.get(reverse("baton_batch_node_output", args=[batch.pk, "pull"])).json()
    assert body["output"] == "pulling\n" and body["status"] == "queued" and body["attempt_list"] == []
    assert client.get(reverse("baton_batch_node_output", args=[batch.pk, "nope"])).status_code == 404


def test_another_teams_batch_is_404(client, batch):
    login(client, "charlie", Role.ADMIN, Team.objects.create(name="elsewhere"))
    assert client.get(reverse("baton_batch_state", args=[batch.pk])).status_code == 404
    assert client.get(reverse("baton_batch_node_output", args=[batch.pk, "pull"])).status_code == 404


def test_batch_page_mounts_the_live_view_and_keeps_the_button_ids(client, batch):
    client.force_login(get_user_model().objects.create_superuser("alice", "", "pw-alice-123"))
    page = client.get(reverse("admin:executions_batch_change", args=[batch.pk])).content.decode()
    assert 'id="batch-live"' in page and "baton/batch.js" in page and 'id="batch-timeline"' in page
    for button in ("stop-batch", "rerun-batch", "resume-batch"):
        assert f'id="{button}"' in page
