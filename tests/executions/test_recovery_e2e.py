"""The operator's recovery actions end to end on a real Celery worker, from the CLI and from the API.

Mark succeeded (an ended batch and a running one), re-run from a node (original and current
version), skip a pending node, pause and continue, bulk stop / re-run / resume, each with its plan.
A task that must still be running when the operator acts waits for a marker file the test creates.
"""

from __future__ import annotations

import json
import time
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from access.models import AuditEntry, Membership
from executions.models import Batch
from tests.conftest import import_definition, run_and_wait
from tests.executions.conftest import chain_document, shell
from workflows.models import Role, Team, Workflow

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/batches/"


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def wait_for(condition, timeout: float = 60) -> None:
    """Re-check `condition` until it holds (a client-side wait; the engine never polls)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def states(batch_id: str) -> dict[str, str]:
    return dict(Batch.objects.get(pk=batch_id).node_runs.values_list("node_key", "status"))


def waits_for(marker: Path) -> str:
    return f"while [ ! -e {marker} ]; do sleep 0.05; done; echo waited"


def branching(marker: Path) -> dict:
    """n0 fails (n1 on its success, r on its failure); w waits for `marker`, so the batch runs on meanwhile."""
    document = chain_document("recover", shell("a", "echo a; exit 3"), shell("b", "echo b"))
    document["nodes"] += [
        {"key": "r", "type": "task", "task": shell("r", "echo rollback")},
        {"key": "w", "type": "task", "task": shell("w", waits_for(marker))},
    ]
    document["edges"] += [{"from": "n0", "to": "r", "on": "failure"}, {"from": "start", "to": "w"}]
    return document


def test_cli_mark_succeeded_continues_an_ended_batch(worker, tmp_path):
    import_definition(
        chain_document("recover", shell("a", "echo a"), shell("b", "echo bad; exit 1"), shell("c", "echo c")), tmp_path
    )
    first = run_and_wait("recover")
    assert first["status"] == "failed" and first["nodes"]["n2"]["status"] == "skipped"
    plan = command("mark_succeeded", first["batch"], "n1", "--plan")
    assert "kept:      n0 (succeeded), n1 (succeeded)" in plan and "will run:  n2" in plan
    report = json.loads(
        command("mark_succeeded", first["batch"], "n1", "--reason", "checked by hand", "--wait", "--json")
    )
    assert report["batch"] != first["batch"] and report["status"] == "succeeded"
    marked = report["nodes"]["n1"]
    assert (marked["status"], marked["attempts"], marked["output"]) == ("succeeded", 1, "bad\n")
    assert marked["set_reason"] == "checked by hand" and marked["set_by"]
    assert report["nodes"]["n2"]["output"] == "c\n" and report["nodes"]["n0"]["attempts"] == 1
    entry = AuditEntry.objects.get(action="node.mark_succeeded")
    assert entry.via == "cli" and entry.object_id == first["batch"]


def test_cli_mark_succeeded_in_a_running_batch(worker, tmp_path):
    marker = tmp_path / "go"
    import_definition(branching(marker), tmp_path)
    batch_id = command("run_workflow", "recover").strip()
    # w's wake-up goes through the broker to another pool process, while the first runs n0 and
    # continues with r: on a loaded machine r may end before w is claimed.
    wait_for(lambda: states(batch_id)["r"] == "succeeded" and states(batch_id)["w"] == "running")
    assert states(batch_id) == {"n0": "failed", "n1": "skipped", "r": "succeeded", "w": "running"}
    assert "running:   w" in command("mark_succeeded", batch_id, "n0", "--plan")
    assert "marked succeeded" in command("mark_succeeded", batch_id, "n0", "--reason", "known flake")
    wait_for(lambda: states(batch_id)["n1"] == "succeeded")
    marker.touch()
    report = json.loads(command("show_batch", batch_id, "--json", "--wait", "--timeout", "60"))
    assert report["status"] == "succeeded" and report["nodes"]["n0"]["set_reason"] == "known flake"


def test_cli_rerun_from_a_node_on_the_original_and_the_current_version(worker, tmp_path):
    counter = tmp_path / "count"
    document = chain_document(
        "recover", shell("a", f"echo ran >> {counter}; echo a"), shell("b", "echo v1"), shell("c", "echo c")
    )
    import_definition(document, tmp_path)
    first = run_and_wait("recover")
    plan = command("rerun_batch", first["batch"], "--from", "n1", "--plan")
    assert "on version 1 (original)" in plan and "kept:      n0 (succeeded)" in plan and "will run:  n1, n2" in plan
    again = json.loads(command("rerun_batch", first["batch"], "--from", "n1", "--wait", "--json"))
    assert again["status"] == "succeeded" and again["nodes"]["n1"]["output"] == "v1\n"
    assert again["nodes"]["n0"]["output"] == "a\n" and counter.read_text() == "ran\n"  # kept, not run
    document["nodes"][1]["task"]["config"]["script"] = "echo v2"
    import_definition(document, tmp_path)
    assert "on version 2 (current)" in command(
        "rerun_batch", first["batch"], "--from", "n1", "--current-version", "--plan"
    )
    current = json.loads(
        command("rerun_batch", first["batch"], "--from", "n1", "--current-version", "--wait", "--json")
    )
    assert current["nodes"]["n1"]["output"] == "v2\n" and counter.read_text() == "ran\n"
    assert Batch.objects.get(pk=current["batch"]).version.number == 2


def test_cli_pause_skip_and_continue(worker, tmp_path):
    marker = tmp_path / "go"
    import_definition(
        chain_document("recover", shell("a", waits_for(marker)), shell("b", "echo b"), shell("c", "echo c")), tmp_path
    )
    batch_id = command("run_workflow", "recover").strip()
    wait_for(lambda: states(batch_id)["n0"] == "running")
    assert "paused" in command("pause_batch", batch_id)
    assert "will skip: n1, n2" in command("skip_node", batch_id, "n1", "--plan")
    assert "skipped" in command("skip_node", batch_id, "n2", "--reason", "not tonight")
    marker.touch()
    wait_for(lambda: states(batch_id)["n0"] == "succeeded")
    batch = Batch.objects.get(pk=batch_id)
    assert batch.status == "running" and states(batch_id) == {"n0": "succeeded", "n1": "pending", "n2": "skipped"}
    report = json.loads(command("pause_batch", batch_id, "--continue", "--wait", "--json", "--timeout", "60"))
    assert report["status"] == "succeeded"
    assert {k: n["status"] for k, n in report["nodes"].items()} == {
        "n0": "succeeded",
        "n1": "succeeded",
        "n2": "skipped",
    }
    assert report["nodes"]["n2"]["set_reason"] == "not tonight"
    assert {e.action for e in AuditEntry.objects.filter(object_id=batch_id, via="cli")} >= {
        "batch.pause",
        "batch.continue",
        "node.skip",
    }


@pytest.fixture
def operator(worker, tmp_path):
    """An operator of team t (the team the definitions belong to) with an API client."""
    import_definition(chain_document("seed", shell("seed-task", "true")), tmp_path)
    user = get_user_model().objects.create_user("olga", is_staff=True)
    Membership.objects.create(user=user, team=Team.objects.get(name="t"), role=Role.OPERATOR)
    client = APIClient()
    client.force_authenticate(user)
    return client


def post(client: APIClient, path: str, body: dict | None = None):
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def api_run(client: APIClient, name: str) -> str:
    workflow = Workflow.objects.get(name=name)
    response = post(client, f"/api/v1/workflows/{workflow.pk}/run/")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def wait_end(batch_id: str) -> Batch:
    wait_for(lambda: Batch.objects.get(pk=batch_id).status != "running")
    return Batch.objects.get(pk=batch_id)


def test_api_mark_succeeded_rerun_from_and_plans(operator, tmp_path):
    import_definition(
        chain_document("recover", shell("a", "echo a"), shell("b", "exit 1"), shell("c", "echo c")), tmp_path
    )
    failed = wait_end(api_run(operator, "recover"))
    plan = operator.get(f"{URL}{failed.pk}/rerun-plan/", {"action": "mark_succeeded", "node": "n1"}).json()
    assert plan["allowed"] and plan["will_run"] == ["n2"] and plan["new_batch"]
    refused = operator.get(f"{URL}{failed.pk}/rerun-plan/", {"action": "skip", "node": "n1"}).json()
    assert not refused["allowed"] and "only a node of a running or paused batch" in refused["refusal"]
    response = post(operator, f"{URL}{failed.pk}/mark-succeeded/", {"node": "n1"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "reason"
    response = post(operator, f"{URL}{failed.pk}/mark-succeeded/", {"node": "n1", "reason": "by hand"})
    assert response.status_code == 201, response.json()
    continued = wait_end(response.json()["id"])
    assert continued.status == "succeeded" and continued.node_runs.get(node_key="n1").set_by == "olga"
    plan = operator.get(f"{URL}{failed.pk}/rerun-plan/", {"action": "rerun_from", "node": "n2"}).json()
    assert not plan["allowed"] and "'n2' would be skipped" in plan["refusal"]  # n1 is kept as it failed
    plan = operator.get(f"{URL}{continued.pk}/rerun-plan/", {"action": "rerun_from", "node": "n2"}).json()
    assert (plan["kept"], plan["will_run"], plan["version_choice"]) == (["n0", "n1"], ["n2"], "original")
    response = post(operator, f"{URL}{continued.pk}/rerun/", {"from_node": "n2"})
    assert response.status_code == 201, response.json()
    again = wait_end(response.json()["id"])
    assert again.status == "succeeded" and again.node_runs.get(node_key="n0").detail["kept_from"] == continued.pk
    assert AuditEntry.objects.get(action="batch.rerun_from").via == "api"
    assert post(operator, f"{URL}{again.pk}/mark-succeeded/", {"node": "n2", "reason": "x"}).status_code == 409


def test_api_pause_skip_continue_and_bulk(operator, tmp_path):
    marker = tmp_path / "go"
    import_definition(
        chain_document("recover", shell("a", waits_for(marker)), shell("b", "echo b"), shell("c", "echo c")), tmp_path
    )
    batch_id = api_run(operator, "recover")
    wait_for(lambda: states(batch_id)["n0"] == "running")
    response = post(operator, f"{URL}{batch_id}/pause/")
    assert response.status_code == 200 and response.json()["paused_at"]
    assert post(operator, f"{URL}{batch_id}/pause/").status_code == 409
    response = post(operator, f"{URL}{batch_id}/skip/", {"node": "n2", "reason": "tonight only"})
    assert response.status_code == 200, response.json()
    marker.touch()
    wait_for(lambda: states(batch_id)["n0"] == "succeeded")
    assert states(batch_id)["n1"] == "pending"
    assert post(operator, f"{URL}{batch_id}/continue/").status_code == 200
    ended = wait_end(batch_id)
    assert ended.status == "succeeded" and states(batch_id) == {"n0": "succeeded", "n1": "succeeded", "n2": "skipped"}
    # Bulk: one re-run, one refused stop (it ended), one unknown batch; each on its own.
    answer = post(operator, f"{URL}bulk/", {"action": "rerun", "batches": [batch_id, "NOPE0000"]}).json()
    first, unknown = answer["results"]
    assert first["ok"] and first["new_batch"] and not unknown["ok"] and "no batch" in unknown["error"]
    wait_end(first["new_batch"])
    answer = post(operator, f"{URL}bulk/", {"action": "stop", "batches": [batch_id]}).json()
    assert not answer["results"][0]["ok"] and "not running" in answer["results"][0]["error"]
    assert AuditEntry.objects.filter(action="batch.rerun", object_id=batch_id, via="api").count() == 1
