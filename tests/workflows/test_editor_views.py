"""The DAG editor's endpoints: dry validation, auto-layout, importable tasks, drawings, version diffs."""

from __future__ import annotations

import functools
import html
import json
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.conftest import example, machine
from workflows import kinds, layout
from workflows.models import Membership, Role, Task, Team, Workflow, WorkflowVersion
from workflows.services import task_save, workflow_save_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    client.force_login(get_user_model().objects.create_superuser("alice", "", "pw-alice-123"))
    return client


@pytest.fixture
def workflow():
    return workflow_save_definition(document=example("release-pipeline.json"), actor=machine()).workflow


def post(client, name, body):
    return client.post(reverse(name), json.dumps(body), content_type="application/json")


def test_validate_reports_a_violation_with_its_nodes_and_edges_and_saves_nothing(alice, workflow):
    document = example("release-pipeline.json")
    document["edges"].append({"from": "scan", "to": "build", "on": "success"})  # build now has two upstreams
    response = post(alice, "baton_workflow_validate", {"definition": document, "workflow": workflow.pk})
    body = response.json()
    assert response.status_code == 200 and body["ok"] is False
    (problem,) = body["problems"]
    assert "build" in problem["nodes"] and ["scan", "build"] in problem["edges"]
    assert workflow.versions.count() == 1 and Workflow.objects.count() == 1


def test_validate_accepts_a_valid_definition_and_writes_nothing(alice, workflow):
    document = example("release-pipeline.json")
    document["nodes"].append(
        {"key": "extra", "type": "task", "task": {"name": "shop-extra", "kind": "shell", "config": {"script": "true"}}}
    )
    document["edges"].append({"from": "deploy", "to": "extra", "on": "success"})
    body = post(alice, "baton_workflow_validate", {"definition": document, "workflow": workflow.pk}).json()
    assert body == {"ok": True, "problems": []}
    assert not Task.objects.filter(name="shop-extra").exists() and workflow.versions.count() == 1


def test_validate_runs_the_database_checks_too(alice, workflow):
    document = example("end-of-day-cutover.json")
    document["team"] = "platform"
    document["nodes"][0]["task"] = "shop-pull"  # belongs to release-pipeline
    body = post(alice, "baton_workflow_validate", {"definition": document}).json()
    assert any("already belongs to workflow 'release-pipeline'" in p["message"] for p in body["problems"])


def test_validate_refuses_renaming_the_edited_workflow(alice, workflow):
    document = example("release-pipeline.json")
    document["name"] = "renamed"
    body = post(alice, "baton_workflow_validate", {"definition": document, "workflow": workflow.pk}).json()
    assert body["problems"][0]["path"] == "name"


def test_validate_reports_unreadable_text(alice):
    body = post(alice, "baton_workflow_validate", {"definition": "{nodes: ["}).json()
    assert body["ok"] is False and body["problems"][0]["message"]


def test_validate_checks_only_the_shape_for_a_team_the_user_cannot_edit(client, workflow):
    bob = get_user_model().objects.create_user("bob", password="pw-bob-123", is_staff=True)
    Membership.objects.create(team=Team.objects.create(name="other"), user=bob, role=Role.EDITOR)
    client.force_login(bob)
    body = post(client, "baton_workflow_validate", {"definition": example("release-pipeline.json")}).json()
    assert [p["path"] for p in body["problems"]] == ["team"]


def test_layout_returns_a_position_for_every_node_and_start(alice):
    document = example("release-pipeline.json")
    positions = post(alice, "baton_workflow_layout", {"definition": document}).json()["positions"]
    assert set(positions) == {"start"} | {n["key"] for n in document["nodes"]}
    assert positions["pull"]["x"] < positions["scan"]["x"] < positions["checks"]["x"]


def test_standalone_tasks_lists_only_the_teams_free_tasks(alice, workflow):
    task_save(
        document={"team": workflow.team.name, "name": "free-task", "kind": "shell", "config": {"script": "true"}},
        actor=machine(),
    )
    tasks = alice.get(reverse("baton_standalone_tasks"), {"team": "platform"}).json()["tasks"]
    assert [t["name"] for t in tasks] == ["free-task"]


def test_drawing_gives_the_masked_definition_and_positions(alice, workflow):
    body = alice.get(reverse("baton_workflow_drawing", args=[workflow.pk])).json()
    assert body["version"] == 1 and len(body["definition"]["nodes"]) == 8
    assert set(body["positions"]) == {"start"} | {n["key"] for n in body["definition"]["nodes"]}


def test_another_teams_workflow_is_404(client, workflow):
    charlie = get_user_model().objects.create_user("charlie", password="pw-charlie-123", is_staff=True)
    Membership.objects.create(team=Team.objects.create(name="elsewhere"), user=charlie, role=Role.ADMIN)
    client.force_login(charlie)
    assert client.get(reverse("baton_workflow_drawing", args=[workflow.pk])).status_code == 404
    assert client.get(reverse("baton_workflow_diff", args=[workflow.pk])).status_code == 404


def test_a_viewer_gets_the_read_only_drawing_not_the_editor(client, workflow):
    viewer = get_user_model().objects.create_user("victor", password="pw-victor-123", is_staff=True)
    Membership.objects.create(team=workflow.team, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    assert client.get(reverse("baton_workflow_drawing", args=[workflow.pk])).status_code == 200
    page = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
    assert 'id="dag-drawing"' in page and 'id="dag-editor"' not in page


def test_change_page_mounts_the_editor_and_lists_version_diffs(alice, workflow):
    document = example("release-pipeline.json")
    document["nodes"][5]["task"]["config"]["script"] = "exit 1"
    workflow_save_definition(document=document, actor=machine())
    page = alice.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
    assert 'id="dag-editor"' in page and "baton/editor.js" in page and 'name="definition"' in page
    assert "?a=1&amp;b=2" in page and 'id="compare-versions"' in page


@pytest.mark.parametrize("page", ["add", "change"])
def test_the_editor_gets_the_task_kinds_and_their_starting_configs_from_the_server(alice, workflow, page):
    url = (
        reverse("admin:workflows_workflow_add")
        if page == "add"
        else reverse("admin:workflows_workflow_change", args=[workflow.pk])
    )
    (attribute,) = re.findall(r'<div id="dag-editor"[^>]* data-task-kinds="([^"]*)"', alice.get(url).content.decode())
    served = json.loads(html.unescape(attribute))
    assert served == kinds.editor_configs() and list(served) == list(kinds.TASK_KINDS)
    assert served["shell"] == {"script": "echo hello"}


def test_version_diff_page_shows_what_changed(alice, workflow):
    document = example("release-pipeline.json")
    document["nodes"][5]["task"]["config"]["script"] = "exit 1"
    document["edges"] = [e for e in document["edges"] if e["to"] != "notify"]
    document["nodes"] = [n for n in document["nodes"] if n["key"] != "notify"]
    workflow_save_definition(document=document, actor=machine())
    page = alice.get(reverse("baton_workflow_diff", args=[workflow.pk]), {"a": 1, "b": 2}).content.decode()
    assert "removed <strong>notify</strong>" in page
    assert "task.config.script" in page and "exit 1" in page
    assert "removed unit → notify (failure)" in page
    same = alice.get(reverse("baton_workflow_diff", args=[workflow.pk]), {"a": 2, "b": 2}).content.decode()
    assert 'id="diff-empty"' in same


def test_version_page_draws_that_version(alice, workflow):
    version = workflow.current_version
    page = alice.get(reverse("admin:workflows_workflowversion_change", args=[version.pk])).content.decode()
    assert f"/admin/baton/workflows/{workflow.pk}/drawing/?version=1" in page
    body = alice.get(reverse("baton_workflow_drawing", args=[workflow.pk]), {"version": 1}).json()
    assert body["version"] == 1
    assert alice.get(reverse("baton_workflow_drawing", args=[workflow.pk]), {"version": 9}).status_code == 404


# --------------------------------------------------------------------------- odd input is a 4xx (issue 10, item 8)


@pytest.mark.parametrize("workflow_id", ["abc", [1], 10**30, True, 0, -1, "1e3", 1.5])
def test_validate_answers_400_to_a_workflow_that_is_not_an_id(alice, workflow_id):
    response = post(alice, "baton_workflow_validate", {"definition": {}, "workflow": workflow_id})
    assert response.status_code == 400
    assert response.json()["problems"][0]["text"] == "workflow: must be the id of the edited workflow, or null"


def test_validate_takes_the_id_as_the_editor_sends_it(alice, workflow):
    body = post(
        alice, "baton_workflow_validate", {"definition": example("release-pipeline.json"), "workflow": str(workflow.pk)}
    )
    assert body.json() == {"ok": True, "problems": []}


@pytest.mark.parametrize("name", ["baton_workflow_validate", "baton_workflow_layout"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="100000-deep"),
        pytest.param('{"definition": 1' + "0" * 5000 + "}", id="5000-digit-number"),
        pytest.param("{not json", id="not-json"),
    ],
)
def test_an_unreadable_body_is_400(alice, name, body):
    response = alice.post(reverse(name), body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]", "the document is nested deeper than 32 levels (or a YAML alias contains itself)"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(6)
            ),
            "the document has more than 100000 values (a YAML alias counts at each use)",
        ),
        (
            '{"name": "w", "team": "t", "nodes": [{"key": "a", "position": {"x": 1e999, "y": 0}}]}',
            "nodes[0].position.x: must be a finite number, not inf",
        ),
    ],
)
def test_validate_reports_a_bomb_a_recursive_alias_and_infinity_as_problems(alice, text, message):
    started = time.monotonic()
    response = post(alice, "baton_workflow_validate", {"definition": text})
    assert response.status_code == 200 and time.monotonic() - started < 3
    (problem,) = response.json()["problems"]
    assert problem["text"].endswith(message)


def test_validate_checks_a_posted_document_before_looking_anything_up(client):
    bob = get_user_model().objects.create_user("bob", password="pw-bob-123", is_staff=True)
    Membership.objects.create(team=Team.objects.create(name="other"), user=bob, role=Role.EDITOR)
    client.force_login(bob)
    document = {**example("release-pipeline.json"), "team": "plat\u0000form"}
    response = post(client, "baton_workflow_validate", {"definition": document})
    assert response.status_code == 200
    assert [p["text"] for p in response.json()["problems"]] == ["team: contains a NUL character"]


def test_layout_answers_400_to_a_definition_nested_too_deeply(alice):
    deep = functools.reduce(lambda inner, _: [inner], range(40), [])
    response = post(alice, "baton_workflow_layout", {"definition": {"nodes": deep}})
    assert response.status_code == 400 and b"nested deeper than 32 levels" in response.content


@pytest.mark.parametrize("version", ["abc", "-1", "1.0", "99999999999999999999"])
def test_drawing_answers_400_to_a_version_that_is_not_a_number(alice, workflow, version):
    response = alice.get(reverse("baton_workflow_drawing", args=[workflow.pk]), {"version": version})
    assert response.status_code == 400


def store_odd_position(workflow):
    """Write a 4000-digit position into the stored version, as a save before the parser's bounds could."""
    definition = workflow.current_version.definition
    definition["nodes"][0]["position"] = {"x": 10**4000, "y": 0}
    WorkflowVersion.objects.filter(pk=workflow.current_version.pk).update(definition=definition)


def test_drawing_lays_out_a_stored_odd_position_instead_of_failing(alice, workflow):
    store_odd_position(workflow)
    response = alice.get(reverse("baton_workflow_drawing", args=[workflow.pk]))
    assert response.status_code == 200
    laid_out = layout.layout_document(workflow.current_version.definition)
    assert response.json()["positions"] == {key: {"x": x, "y": y} for key, (x, y) in laid_out.items()}


def test_the_live_poll_lays_out_a_stored_odd_position_instead_of_failing(alice, workflow, monkeypatch):
    from executions import dispatch
    from executions.lifecycle import batch_start

    store_odd_position(workflow)
    monkeypatch.setattr(dispatch, "backend", lambda runs, countdown: None)
    batch = batch_start(workflow=workflow, actor=machine())
    response = alice.get(reverse("baton_batch_state", args=[batch.pk]), {"drawing": 1})
    assert response.status_code == 200 and set(response.json()["positions"]) >= {"start", "pull"}


@pytest.mark.parametrize(
    "url",
    [
        "/admin/executions/batch/%00/change/",
        "/admin/workflows/workflow/1%00/change/",
        "/admin/executions/batch/?q=%00",
        "/admin/baton/batches/%00/state/",
    ],
)
def test_nul_anywhere_in_an_admin_url_is_400(alice, url):
    response = alice.get(url)
    assert response.status_code == 400 and response.content == b"The URL contains a NUL character."
