"""Workflows over the API: the SPEC §10 definition, versions, enable/disable, run once, roles."""

from __future__ import annotations

import pytest

from access.models import AuditEntry
from executions.models import Batch
from tests.api.conftest import definition, post_json
from workflows.models import Task, Workflow

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/"


def test_editor_creates_a_workflow_from_a_definition_and_gets_it_back(client_for, alice):
    response = post_json(client_for(alice), URL, definition())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "release" and body["team"] == "platform" and body["version"] == 1
    assert body["definition"]["nodes"][0]["key"] == "a"
    got = client_for(alice).get(f"{URL}{body['id']}/").json()
    assert got["definition"] == body["definition"]
    assert AuditEntry.objects.filter(action="workflow.create", object_id=str(body["id"])).count() == 1


def test_invalid_definition_lists_every_problem_with_its_path_and_saves_nothing(client_for, alice):
    document = definition()
    document["edges"].append({"from": "b", "to": "a", "on": "success"})
    document["nodes"][0]["task"]["timeout_seconds"] = "soon"
    response = post_json(client_for(alice), URL, document)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["status"] == 400
    fields = {e["field"] for e in body["errors"]}
    assert "nodes[0].task.timeout_seconds" in fields
    assert not Workflow.objects.exists() and not Task.objects.exists()


def test_topology_problem_names_the_offending_nodes(client_for, alice):
    document = definition()
    document["edges"] = [{"from": "start", "to": "a"}]  # b is unreachable
    body = post_json(client_for(alice), URL, document).json()
    assert any("b" in e.get("nodes", []) for e in body["errors"]), body


def test_create_refuses_an_existing_name(client_for, alice, workflow):
    response = post_json(client_for(alice), URL, definition())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"


def test_put_makes_a_new_version_and_versions_are_listed_and_viewable(client_for, alice, workflow):
    client = client_for(alice)
    document = definition(description="second")
    response = client.put(f"{URL}{workflow.pk}/", document, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    versions = client.get(f"{URL}{workflow.pk}/versions/").json()
    assert [v["number"] for v in versions["results"]] == [2, 1]
    first = client.get(f"{URL}{workflow.pk}/versions/1/").json()
    assert first["definition"]["description"] == ""
    assert client.get(f"{URL}{workflow.pk}/versions/9/").status_code == 404


def test_patch_merges_top_level_fields_into_the_current_definition(client_for, alice, workflow):
    response = client_for(alice).patch(f"{URL}{workflow.pk}/", {"description": "patched"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["definition"]["description"] == "patched"
    assert response.json()["version"] == 2


def test_name_and_team_cannot_change_through_put(client_for, alice, workflow):
    response = client_for(alice).put(f"{URL}{workflow.pk}/", definition("renamed"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"


def test_delete_hides_the_workflow_and_keeps_its_batches(client_for, alice, workflow):
    client = client_for(alice)
    batch = post_json(client, f"{URL}{workflow.pk}/run/").json()
    assert client.delete(f"{URL}{workflow.pk}/").status_code == 204
    assert client.get(f"{URL}{workflow.pk}/").status_code == 404
    assert client.get(f"/api/v1/batches/{batch['id']}/").status_code == 200


def test_operator_enables_disables_and_runs_but_cannot_edit(
    client_for, bob, workflow, dispatched, django_capture_on_commit_callbacks
):
    client = client_for(bob)
    assert post_json(client, f"{URL}{workflow.pk}/disable/").json()["enabled"] is False
    assert post_json(client, f"{URL}{workflow.pk}/enable/").json()["enabled"] is True
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, f"{URL}{workflow.pk}/run/")
    assert response.status_code == 201
    batch = response.json()
    assert batch["status"] == "running" and batch["trigger"] == "manual"
    assert {r["node_key"] for r in batch["node_runs"]} >= {"a", "b"}
    assert dispatched.sent  # the first node was queued on commit
    assert client.put(f"{URL}{workflow.pk}/", definition(), format="json").status_code == 403
    assert client.delete(f"{URL}{workflow.pk}/").status_code == 403
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"workflow.disable", "workflow.enable", "workflow.run"} <= actions


def test_viewer_reads_but_cannot_run_or_toggle(client_for, carol, workflow):
    client = client_for(carol)
    assert client.get(URL).json()["count"] == 1
    assert post_json(client, f"{URL}{workflow.pk}/run/").status_code == 403
    assert post_json(client, f"{URL}{workflow.pk}/disable/").status_code == 403
    assert not Batch.objects.exists()


def test_creating_in_a_team_without_editor_role_is_forbidden(client_for, bob):
    assert post_json(client_for(bob), URL, definition()).status_code == 403


def test_another_teams_name_in_the_body_is_refused_like_an_unknown_team(client_for, mallory, platform):
    response = post_json(client_for(mallory), URL, definition())
    assert response.status_code == 400
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [("team", "no team named 'platform'")]
    assert not Workflow.objects.exists()
    assert AuditEntry.objects.filter(action="denied", team=platform).count() == 1


def test_an_unknown_team_is_not_created(client_for, alice):
    assert post_json(client_for(alice), URL, definition(team="nowhere")).status_code == 400


def test_shell_tasks_need_the_shell_permission(client_for, dave, alice):
    client = client_for(dave)
    assert post_json(client, URL, definition(kind="shell")).status_code == 403
    assert post_json(client_for(alice), URL, definition(kind="shell")).status_code == 201
    workflow = Workflow.objects.get()
    # Dave may still edit the rest of a workflow whose shell tasks he leaves unchanged...
    current = client.get(f"{URL}{workflow.pk}/").json()["definition"]
    assert (
        client.put(f"{URL}{workflow.pk}/", {**current, "description": "dave was here"}, format="json").status_code
        == 200
    )
    # ...but not change a shell command.
    current["nodes"][0]["task"]["config"] = {"script": "rm -rf /"}
    assert client.put(f"{URL}{workflow.pk}/", current, format="json").status_code == 403


def test_run_of_a_workflow_without_a_saved_definition_is_a_conflict(client_for, bob, platform):
    empty = Workflow.objects.create(team=platform, name="empty")
    assert post_json(client_for(bob), f"{URL}{empty.pk}/run/").status_code == 409


def test_list_filters_by_name_and_enabled(client_for, alice, workflow):
    client = client_for(alice)
    post_json(client, URL, definition("other", enabled=False))
    assert [w["name"] for w in client.get(URL, {"name": "rel"}).json()["results"]] == ["release"]
    assert [w["name"] for w in client.get(URL, {"enabled": "false"}).json()["results"]] == ["other"]
    assert [w["name"] for w in client.get(URL, {"ordering": "-name"}).json()["results"]] == ["release", "other"]
