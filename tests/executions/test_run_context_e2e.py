"""Run context end to end on a real Celery worker: parameters, outputs between nodes, a fire's built-ins, re-runs.

The worker here consumes its own queue with loopback allowed (BATON_HTTP_ALLOWED_NETWORKS), so
an http node can post to a receiver in this process; the session's worker is left as it is.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from executions import scheduler
from executions.management.commands._report import wait_for_end
from executions.models import Batch
from tests.conftest import celery_worker, import_definition, run_and_wait
from tests.executions.conftest import json_server
from workflows.models import Schedule, Workflow

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
QUEUE = "context-e2e"


@pytest.fixture(scope="module")
def context_worker(worker, tmp_path_factory):
    """A worker on QUEUE that may reach loopback (the session's worker is started first, and keeps `default`)."""
    yield from celery_worker(tmp_path_factory, queues=QUEUE, env={"BATON_HTTP_ALLOWED_NETWORKS": "127.0.0.1/32"})


def _receipt(request) -> tuple[int, dict]:
    return 201, {"receipt": {"id": f"r-{len(request.server.seen)}"}}


@pytest.fixture
def receiver():
    with json_server(_receipt) as httpd:
        yield httpd


def received(server) -> list[tuple[str, dict]]:
    return [(path, json.loads(body)) for path, _, body in server.seen]


def task(name: str, kind: str, config: dict) -> dict:
    return {"name": name, "kind": kind, "config": config, "queue": QUEUE}


def release(port: int) -> dict:
    """build publishes `version`; deploy gets it in env; announce posts it (and the parameter) as JSON."""
    build = task("build", "shell", {"script": 'echo "building"; echo "version=2.3.$((3+1))" >> "$BATON_OUTPUT"'})
    deploy = task(
        "deploy",
        "shell",
        {
            "script": 'echo "deploying $VERSION to $TARGET"',
            "env": {"VERSION": "${nodes.build.outputs.version}", "TARGET": "${params.target}"},
        },
    )
    announce = task(
        "announce",
        "http",
        {
            "method": "POST",
            "url": f"http://127.0.0.1:{port}/releases/${{params.target}}",
            "body": {"version": "${nodes.build.outputs.version}", "target": "${params.target}"},
            "expected_status": [201],
            "outputs": {"receipt": "receipt.id"},
        },
    )
    return {
        "name": "release",
        "team": "platform",
        "params": {"target": {"type": "string", "default": "staging", "choices": ["staging", "prod/eu"]}},
        "nodes": [
            {"key": "build", "type": "task", "task": build},
            {"key": "deploy", "type": "task", "task": deploy},
            {"key": "announce", "type": "task", "task": announce},
        ],
        "edges": [
            {"from": "start", "to": "build"},
            {"from": "build", "to": "deploy", "on": "success"},
            {"from": "deploy", "to": "announce", "on": "success"},
        ],
    }


def test_a_build_publishes_its_version_and_the_deploy_gets_it_in_env_and_in_an_http_body(
    context_worker, receiver, tmp_path
):
    import_definition(release(receiver.server_port), tmp_path)
    report = run_and_wait("release", "--param", "target=prod/eu")
    assert report["status"] == "succeeded", report
    assert report["params"] == {"target": "prod/eu"}
    assert report["nodes"]["build"]["outputs"] == {"version": "2.3.4"}
    assert report["nodes"]["deploy"]["output"] == "deploying 2.3.4 to prod/eu\n"
    assert received(receiver) == [("/releases/prod%2Feu", {"version": "2.3.4", "target": "prod/eu"})]
    assert report["nodes"]["announce"]["outputs"] == {"receipt": "r-1"}

    default = run_and_wait("release")  # without --param: the declared default
    assert default["params"] == {"target": "staging"}
    assert default["nodes"]["deploy"]["output"] == "deploying 2.3.4 to staging\n"

    out = StringIO()
    call_command("rerun_batch", report["batch"], "--wait", "--json", "--timeout", "60", stdout=out)
    again = json.loads(out.getvalue())
    assert again["status"] == "succeeded" and again["params"] == report["params"]
    assert {key: node["outputs"] for key, node in again["nodes"].items() if key != "announce"} == {
        key: node["outputs"] for key, node in report["nodes"].items() if key != "announce"
    }
    assert received(receiver)[-1] == received(receiver)[0]
    with pytest.raises(CommandError, match="parameter target: must be one of staging, prod/eu, not 'qa'"):
        call_command("run_workflow", "release", "--param", "target=qa", stdout=StringIO())


def test_a_scheduled_batch_sees_its_fire_time_and_business_date(context_worker, tmp_path, settings):
    settings.BATON_SCHEDULER_LOOKAHEAD_SECONDS = 0
    stamp = task(
        "stamp",
        "shell",
        {
            "script": 'echo "$WHEN"',
            "env": {"WHEN": "${batch.fire_time|%Y-%m-%d %H:%M:%S} ${batch.business_date|%Y%m%d} ${params.region}"},
        },
    )
    document = {
        "name": "nightly",
        "team": "platform",
        "params": {"region": {"type": "string", "default": "eu"}},
        "trigger": {
            "type": "cron",
            "expression": "0 30 0 * * ?",
            "timezone": "Asia/Shanghai",
            "params": {"region": "cn"},
        },
        "nodes": [{"key": "stamp", "type": "task", "task": stamp}],
        "edges": [{"from": "start", "to": "stamp"}],
    }
    import_definition(document, tmp_path)
    row = Schedule.objects.get(workflow=Workflow.objects.get(name="nightly"))
    fire = row.next_fire_at
    assert scheduler.tick(now=fire).started == 1
    batch = wait_for_end(Batch.objects.get(workflow__name="nightly", scheduled_for=fire), 60)
    local = fire.astimezone(ZoneInfo("Asia/Shanghai"))
    business = local.date().toordinal() - 1
    expected = f"{local:%Y-%m-%d} 00:30:00 {datetime.fromordinal(business):%Y%m%d} cn\n"
    assert batch.node_runs.get().output == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["nodes"][1]["task"]["config"].update(script='echo "${nodes.build.outputs.version}"'),
            "nodes[1].task.config.script: a reference is never spliced into script text",
        ),
        (
            lambda d: d["nodes"][1]["task"]["config"]["env"].update(X="${params.colour}"),
            "nodes[1].task.config.env.X: ${params.colour} names an unknown parameter 'colour'",
        ),
        (
            lambda d: d["nodes"][0]["task"]["config"].update(env={"V": "${nodes.announce.outputs.receipt}"}),
            "nodes[0].task.config.env.V: ${nodes.announce.outputs.receipt}: node 'announce' is not on every path",
        ),
    ],
)
def test_the_validator_refuses_bad_references_with_a_clear_message(tmp_path, change, message):
    document = release(8080)
    change(document)
    with pytest.raises(CommandError) as refused:
        import_definition(document, tmp_path)
    assert message in str(refused.value)


class TimedStream:
    """A stdout that notes when each piece was written."""

    def __init__(self) -> None:
        self.pieces: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.pieces.append((time.time(), text))
        return len(text)

    def flush(self) -> None:
        pass


def test_show_batch_follow_prints_each_line_within_two_seconds_of_its_printing(context_worker, tmp_path):
    ticking = task("tick", "shell", {"script": 'for i in 1 2 3 4; do echo "line $i $(date +%s.%N)"; sleep 1; done'})
    document = {
        "name": "ticker",
        "team": "platform",
        "nodes": [{"key": "tick", "type": "task", "task": ticking}],
        "edges": [{"from": "start", "to": "tick"}],
    }
    import_definition(document, tmp_path)
    out = StringIO()
    call_command("run_workflow", "ticker", stdout=out)
    stream = TimedStream()
    call_command("show_batch", out.getvalue().strip(), "--follow", "--timeout", "60", stdout=stream)
    arrived = {}
    for at, text in stream.pieces:
        for line in text.splitlines():
            if line.startswith("line "):
                arrived[line.split()[1]] = at - float(line.split()[2])
    assert sorted(arrived) == ["1", "2", "3", "4"], stream.pieces
    assert all(delay < 2.0 for delay in arrived.values()), arrived
    assert stream.pieces[0][1].startswith("==> tick <==")
    assert any("batch " in text and "succeeded" in text for _, text in stream.pieces)  # then the report
