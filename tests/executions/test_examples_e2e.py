"""End to end through the CLI and a real Celery worker (PostgreSQL + Redis in CI; the embedded default once)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import call_command

from executions.models import Batch, NodeRun
from tests.conftest import EXAMPLES, example, import_definition, run_and_wait

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_release_pipeline_succeeds_with_parallel_scan_and_unit(worker, tmp_path):
    import_definition(EXAMPLES / "release-pipeline.json", tmp_path)
    report = run_and_wait("release-pipeline")
    nodes = report["nodes"]
    assert report["status"] == "succeeded"
    for key in ("pull", "scan", "unit", "build", "deploy"):
        assert nodes[key]["status"] == "succeeded", key
    assert nodes["checks"] == {"status": "succeeded"}
    assert nodes["rollback"]["status"] == nodes["notify"]["status"] == "skipped"
    scan, unit, build = nodes["scan"], nodes["unit"], nodes["build"]
    assert at(scan["started_at"]) < at(unit["finished_at"]) and at(unit["started_at"]) < at(scan["finished_at"])
    assert at(build["started_at"]) >= max(at(scan["finished_at"]), at(unit["finished_at"]))
    assert nodes["pull"]["output"].strip() == "pulling" and nodes["pull"]["attempts"] == 1
    assert at(nodes["pull"]["started_at"]).utcoffset() is not None


def test_release_pipeline_with_failing_deploy_fails_and_rolls_back(worker, tmp_path):
    document = example("release-pipeline.json")
    document["nodes"][5]["task"]["config"]["script"] = "exit 1"
    import_definition(document, tmp_path)
    report = run_and_wait("release-pipeline")
    assert report["status"] == "failed"
    assert report["nodes"]["deploy"]["status"] == "failed"
    assert report["nodes"]["rollback"]["status"] == "succeeded"


def test_end_of_day_cutover_or_join_does_not_wait_for_the_replica(worker, tmp_path):
    import_definition(EXAMPLES / "end-of-day-cutover.json", tmp_path)
    report = run_and_wait("日切-end-of-day")
    nodes = report["nodes"]
    assert report["status"] == "succeeded"
    assert all(n["status"] == "succeeded" for n in nodes.values())
    assert at(nodes["switch-date"]["started_at"]) < at(nodes["replica-report"]["finished_at"])
    assert at(nodes["reopen"]["started_at"]) >= max(
        at(n["finished_at"]) for k, n in nodes.items() if "finished_at" in n and k != "reopen"
    )


def test_run_workflow_without_wait_prints_the_batch_id_and_show_batch_waits(worker, tmp_path):
    import_definition(EXAMPLES / "release-pipeline.json", tmp_path)
    out = StringIO()
    call_command("run_workflow", "release-pipeline", "--team", "platform", stdout=out)
    batch_id = out.getvalue().strip()
    assert Batch.objects.filter(pk=batch_id).exists()
    out = StringIO()
    call_command("show_batch", batch_id.lower(), "--wait", "--json", "--timeout", "60", stdout=out)
    report = json.loads(out.getvalue())
    assert report["batch"] == batch_id and report["status"] == "succeeded"
    assert set(report) == {"batch", "status", "params", "nodes"}
    assert set(report["nodes"]["pull"]) == {"status", "started_at", "finished_at", "attempts", "output", "outputs"}


def test_stop_kills_the_running_shell_and_stops_the_rest(worker, tmp_path):
    pid_file = tmp_path / "pid"
    document = {
        "name": "long",
        "team": "ops",
        "nodes": [
            {
                "key": "sleep",
                "type": "task",
                "task": {"name": "sleeper", "kind": "shell", "config": {"script": f"echo $$ > {pid_file}; sleep 60"}},
            },
            {"key": "after", "type": "task", "task": {"name": "after", "kind": "shell", "config": {"script": "true"}}},
        ],
        "edges": [{"from": "start", "to": "sleep"}, {"from": "sleep", "to": "after", "on": "success"}],
    }
    import_definition(document, tmp_path)
    out = StringIO()
    call_command("run_workflow", "long", stdout=out)
    batch_id = out.getvalue().strip()
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the shell task never started"
        time.sleep(0.05)
    call_command("stop_batch", batch_id, stdout=StringIO())
    out = StringIO()
    call_command("show_batch", batch_id, "--wait", "--json", "--timeout", "30", stdout=out)
    report = json.loads(out.getvalue())
    assert report["status"] == "stopped"
    assert report["nodes"]["sleep"]["status"] == "stopped" and report["nodes"]["after"]["status"] == "stopped"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def test_batch_timeout_ends_the_batch_timed_out(worker, tmp_path):
    document = {
        "name": "too-slow",
        "team": "ops",
        "timeout_seconds": 2,
        "nodes": [
            {
                "key": "sleep",
                "type": "task",
                "task": {
                    "name": "slow",
                    "kind": "python",
                    "config": {"callable": "baton.sleep", "kwargs": {"seconds": 60}},
                },
            }
        ],
        "edges": [{"from": "start", "to": "sleep"}],
    }
    import_definition(document, tmp_path)
    started = time.monotonic()
    report = run_and_wait("too-slow")
    assert report["status"] == "timed_out" and report["nodes"]["sleep"]["status"] == "stopped"
    assert time.monotonic() - started < 15


def test_task_timeout_and_retries_through_the_worker(worker, tmp_path):
    document = {
        "name": "retrying",
        "team": "ops",
        "nodes": [
            {
                "key": "slow",
                "type": "task",
                "task": {
                    "name": "slow-one",
                    "kind": "shell",
                    "config": {"script": "sleep 30"},
                    "timeout_seconds": 1,
                    "retries": 1,
                    "retry_interval_seconds": 1,
                },
            },
            {
                "key": "alarm",
                "type": "task",
                "task": {
                    "name": "alarm",
                    "kind": "python",
                    "config": {"callable": "baton.echo", "kwargs": {"message": "slow timed out"}},
                },
            },
        ],
        "edges": [{"from": "start", "to": "slow"}, {"from": "slow", "to": "alarm", "on": "failure"}],
    }
    import_definition(document, tmp_path)
    report = run_and_wait("retrying")
    assert report["nodes"]["slow"]["status"] == "timed_out" and report["nodes"]["slow"]["attempts"] == 2
    assert report["nodes"]["alarm"]["status"] == "succeeded" and "slow timed out" in report["nodes"]["alarm"]["output"]
    assert report["status"] == "failed"


@pytest.mark.parametrize("join", ["and", "or"])
def test_wide_fan_in_fires_the_join_exactly_once(worker, tmp_path, join):
    branches = [f"b{i}" for i in range(19)]
    nodes = [
        {
            "key": b,
            "type": "task",
            "task": {"name": f"{join}-{b}", "kind": "python", "config": {"callable": "baton.noop", "kwargs": {}}},
        }
        for b in branches
    ]
    nodes += [
        {"key": "join", "type": join},
        {
            "key": "last",
            "type": "task",
            "task": {"name": f"{join}-last", "kind": "python", "config": {"callable": "baton.noop", "kwargs": {}}},
        },
    ]
    edges = [{"from": "start", "to": b} for b in branches] + [
        {"from": b, "to": "join", "on": "success"} for b in branches
    ]
    edges.append({"from": "join", "to": "last"})
    import_definition({"name": f"fan-{join}", "team": "ops", "nodes": nodes, "edges": edges}, tmp_path)
    for _ in range(3):
        report = run_and_wait(f"fan-{join}")
        assert report["status"] == "succeeded"
        batch = Batch.objects.get(pk=report["batch"])
        last = NodeRun.objects.get(batch=batch, node_key="last")
        assert last.attempts == 1 and last.events.filter(to_status="queued").count() == 1
