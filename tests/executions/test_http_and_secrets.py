"""HTTP tasks and secrets through the engine: a local server, the SSRF guard, masking everywhere."""

from __future__ import annotations

import json

import pytest

from executions.models import NodeRun
from executions.selectors import batch_report
from tests.executions.conftest import chain_document, json_server, start
from workflows.models import Workflow
from workflows.services import workflow_export

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "tok-9f8e7d6c5b4a"


def _rollout(request) -> tuple[int, dict]:
    return (202 if request.path == "/rollout" else 500), {"echo": request.headers.get("Authorization", "")}


@pytest.fixture
def server():
    with json_server(_rollout) as httpd:
        yield httpd


def http_task(name: str, url: str, **config) -> dict:
    return {"name": name, "kind": "http", "config": {"method": "POST", "url": url, **config}}


def test_http_task_against_an_allowed_local_server_masks_the_secret(recorder, server, settings):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    url = f"http://127.0.0.1:{server.server_port}/rollout"
    task = http_task(
        "deploy", url, headers={"Authorization": {"secret": SECRET}}, body={"version": 3}, expected_status=[200, 202]
    )
    batch = start(chain_document("w", task))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "succeeded", run.output
    path, headers, body = server.seen[0]
    assert path == "/rollout" and headers["Authorization"] == SECRET and json.loads(body) == {"version": 3}
    assert "202" in run.output and SECRET not in run.output and "***" in run.output
    assert SECRET not in json.dumps(batch_report(batch))
    assert SECRET not in json.dumps(workflow_export(workflow=Workflow.objects.get()))


def test_unexpected_status_fails_the_node(recorder, server, settings):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    batch = start(chain_document("w", http_task("bad", f"http://127.0.0.1:{server.server_port}/broken")))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "failed" and "500" in run.output


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/rollout",
        "http://localhost:{port}/rollout",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
    ],
)
def test_ssrf_guard_refuses_internal_addresses_and_names_the_setting(recorder, server, url):
    batch = start(chain_document("w", http_task("probe", url.format(port=server.server_port))))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "failed"
    assert "BATON_HTTP_ALLOWED_NETWORKS" in run.output
    assert server.seen == []


def test_shell_secret_is_masked_in_output_report_and_export(recorder):
    task = {
        "name": "leaky",
        "kind": "shell",
        "config": {"script": "echo token=$TOKEN", "env": {"TOKEN": {"secret": SECRET}}},
    }
    batch = start(chain_document("w", task))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "succeeded" and run.output.strip() == "token=***"
    assert SECRET not in json.dumps(batch_report(batch))
    assert SECRET not in json.dumps(list(run.attempt_set.values_list("output", flat=True)))
