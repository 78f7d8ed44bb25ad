"""Run once with parameters through the API, and the values a batch and its node runs show."""

from __future__ import annotations

import pytest

from executions.models import NodeRun
from tests.api.conftest import definition, post_json
from tests.conftest import acting
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db
URL = "/api/v1/workflows/"
PARAMS = {"env": {"type": "string", "default": "staging", "choices": ["staging", "prod"]}, "count": {"type": "integer"}}


@pytest.fixture
def with_params(platform, alice):
    return workflow_save_definition(document=definition("p", params=PARAMS), actor=acting(alice)).workflow


def test_run_once_takes_values_in_its_body_and_the_batch_shows_them(client_for, bob, with_params):
    response = post_json(client_for(bob), f"{URL}{with_params.pk}/run/", {"params": {"env": "prod", "count": 2}})
    assert response.status_code == 201, response.json()
    batch = response.json()
    assert batch["context"]["params"] == {"env": "prod", "count": 2}
    assert set(batch["context"]["batch"]) == {"workflow", "fire_time", "fire_date", "business_date"}
    assert all(run["outputs"] == {} for run in batch["node_runs"])
    NodeRun.objects.filter(batch_id=batch["id"], node_key="a").update(outputs={"version": "1.0"})
    shown = client_for(bob).get(f"/api/v1/batches/{batch['id']}/").json()
    assert next(run for run in shown["node_runs"] if run["node_key"] == "a")["outputs"] == {"version": "1.0"}


def test_run_once_without_a_body_takes_the_defaults(client_for, bob, with_params):
    batch = post_json(client_for(bob), f"{URL}{with_params.pk}/run/").json()
    assert batch["context"]["params"] == {"env": "staging", "count": None}


def test_bad_values_are_refused_naming_each_parameter(client_for, bob, with_params):
    response = post_json(
        client_for(bob), f"{URL}{with_params.pk}/run/", {"params": {"env": "qa", "count": "2", "x": 1}}
    )
    assert response.status_code == 400
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert errors == {
        "params.x": "is not a parameter of this workflow (parameters: env, count)",
        "params.env": "must be one of staging, prod, not 'qa'",
        "params.count": "must be an integer, not a string",
    }
    assert post_json(client_for(bob), f"{URL}{with_params.pk}/run/", {"values": {}}).status_code == 400


def test_a_node_runs_output_is_served_from_an_offset(client_for, bob, with_params):
    batch = post_json(client_for(bob), f"{URL}{with_params.pk}/run/").json()
    run = NodeRun.objects.get(batch_id=batch["id"], node_key="a")
    NodeRun.objects.filter(pk=run.pk).update(output="line 1\nline 2\n", status="running", attempts=1)
    url = f"/api/v1/node-runs/{run.pk}/output/"
    first = client_for(bob).get(url).json()
    assert first == {"status": "running", "attempt": 1, "output": "line 1\nline 2\n", "offset": 14}
    NodeRun.objects.filter(pk=run.pk).update(output="line 1\nline 2\nline 3\n")
    assert client_for(bob).get(url, {"offset": 14}).json()["output"] == "line 3\n"
    assert client_for(bob).get(url, {"offset": -1}).status_code == 400


def test_a_rerun_keeps_the_values_unless_the_body_changes_some_and_the_trail_says_so(client_for, bob, with_params):
    from access.models import AuditEntry
    from executions.models import Batch

    first = post_json(client_for(bob), f"{URL}{with_params.pk}/run/", {"params": {"env": "prod", "count": 2}}).json()
    Batch.objects.filter(pk=first["id"]).update(status="failed")
    same = post_json(client_for(bob), f"/api/v1/batches/{first['id']}/rerun/").json()
    assert same["context"] == first["context"]
    Batch.objects.filter(pk=same["id"]).update(status="failed")
    edited = post_json(client_for(bob), f"/api/v1/batches/{same['id']}/rerun/", {"params": {"count": 5}}).json()
    assert edited["context"]["params"] == {"env": "prod", "count": 5}
    assert edited["context"]["batch"] == first["context"]["batch"]
    entry = AuditEntry.objects.filter(action="batch.rerun").order_by("-id").first()
    assert entry.after["params"] == {"env": "prod", "count": 5}
    assert entry.after["params_before"] == {"env": "prod", "count": 2}
    refused = post_json(client_for(bob), f"/api/v1/batches/{same['id']}/resume/", {"params": {"count": 6}})
    assert refused.status_code == 400 and "cannot be changed on a resume" in refused.json()["errors"][0]["message"]
