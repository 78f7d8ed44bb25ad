"""The control worker never runs a user task, even if a message names its queue (`baton-…` queues are Baton's)."""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from executions import dispatch, lifecycle
from executions.models import Batch, NodeRun
from executions.tasks import run_node
from tests.conftest import REPO, database_url, machine, stop_process
from tests.executions.conftest import Recorder, chain_document, shell, start
from workflows.models import Task, WorkflowVersion
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)
CONTROL = "baton-control"


def store_on_queue(document: dict, queue: str) -> None:
    """Save the workflow, then put its first task on `queue` behind the validator's back.

    As a task stored before the validator refused reserved queues would be.
    """
    workflow = workflow_save_definition(document=copy.deepcopy(document), actor=machine()).workflow
    version = workflow.current_version
    definition = version.definition
    definition["nodes"][0]["task"]["queue"] = queue
    WorkflowVersion.objects.filter(pk=version.pk).update(definition=definition)
    Task.objects.filter(name=definition["nodes"][0]["task"]["name"]).update(queue=queue)


def test_a_task_stored_on_the_control_queue_fails_naming_the_queue_and_never_runs(recorder, tmp_path):
    marker = tmp_path / "ran"
    document = chain_document("w", shell("sneaky", f"touch {marker}", retries=2), shell("after", "true"))
    document["edges"].append({"from": "n0", "to": "n1", "on": "failure"})
    document["edges"].remove({"from": "n0", "to": "n1", "on": "success"})
    store_on_queue(document, CONTROL)
    batch = lifecycle.batch_start(workflow=Task.objects.get(name="sneaky").workflow, actor=machine())
    assert [queue for _, queue, _ in recorder.sent] == [CONTROL]
    run_id = recorder.sent.popleft()[0]
    lifecycle.node_run_execute(node_run_id=run_id, delivered_on=CONTROL)
    run = NodeRun.objects.get(pk=run_id)
    assert (run.status, run.attempts) == ("failed", 1)  # no retry: it would fail the same way
    assert "'baton-control' is reserved" in run.output and "'baton-control' is reserved" in run.detail["error"]
    assert not marker.exists()
    recorder.drain()  # the failure edge runs as for any failed task
    batch.refresh_from_db()
    assert batch.status == "failed" and NodeRun.objects.get(batch=batch, node_key="n1").status == "succeeded"


def test_any_worker_refuses_a_task_stored_on_a_reserved_queue(recorder, tmp_path):
    marker = tmp_path / "ran"
    store_on_queue(chain_document("w", shell("sneaky", f"touch {marker}")), "baton-anything")
    batch = lifecycle.batch_start(workflow=Task.objects.get(name="sneaky").workflow, actor=machine())
    recorder.drain()  # delivered as if on the default queue
    batch.refresh_from_db()
    assert batch.status == "failed" and not marker.exists()
    assert "'baton-anything' is reserved" in NodeRun.objects.get(batch=batch).output


def test_a_forged_message_on_the_control_queue_is_dropped_and_the_run_keeps_its_own_delivery(recorder, tmp_path):
    marker = tmp_path / "ran"
    batch = start(chain_document("w", shell("honest", f"touch {marker}")))
    run_id, queue, _ = recorder.sent[0]
    assert queue == "default"
    assert lifecycle.node_run_execute(node_run_id=run_id, delivered_on=CONTROL) is None
    assert NodeRun.objects.get(pk=run_id).status == "queued" and not marker.exists()
    recorder.drain()  # the message on its own queue
    batch.refresh_from_db()
    assert batch.status == "succeeded" and marker.exists()


# --- a real control worker -----------------------------------------------------------------------


def _purge(queue: str) -> None:
    from config.celery import app

    with app.connection_for_write() as connection, contextlib.suppress(Exception):
        connection.default_channel.queue_purge(queue)


@pytest.fixture
def control_worker(django_db_setup, tmp_path) -> Iterator[subprocess.Popen]:
    """`celery worker -Q baton-control` as deployed (threads pool), on the test database."""
    log = tmp_path / "control.log"
    env = {**os.environ, "DATABASE_URL": database_url(), "BATON_HEARTBEAT_SECONDS": "0.2", "PYTHONUNBUFFERED": "1"}
    _purge(CONTROL)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        CONTROL,
        "--pool=threads",
        "-c",
        "2",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
        "-n",
        f"control-{os.getpid()}@%h",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the control worker did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)
    process.log_path = log  # type: ignore[attr-defined]
    yield process
    stop_process(process)


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.worker
def test_the_control_worker_fails_a_stored_task_on_its_queue_and_drops_a_forged_message(
    control_worker, tmp_path: Path, monkeypatch
):
    marker = tmp_path / "ran"
    store_on_queue(chain_document("w", shell("sneaky", f"touch {marker}; sleep 30")), CONTROL)
    batch = lifecycle.batch_start(
        workflow=Task.objects.get(name="sneaky").workflow, actor=machine()
    )  # sent to baton-control
    wait_for(lambda: Batch.objects.get(pk=batch.pk).status != "running")
    run = NodeRun.objects.get(batch=batch)
    assert (run.status, run.attempts) == ("failed", 1) and "'baton-control' is reserved" in run.output
    assert not marker.exists()

    # A forged message: a run of the default queue, delivered on the control queue.
    monkeypatch.setattr(dispatch, "backend", Recorder())  # no real message to the default queue
    honest = start(chain_document("h", shell("honest", f"touch {marker}")))
    message = run_node.apply_async(args=(NodeRun.objects.get(batch=honest).pk,), queue=CONTROL)
    wait_for(lambda: f"{message.id}] succeeded" in Path(control_worker.log_path).read_text(errors="replace"))
    assert NodeRun.objects.get(batch=honest).status == "queued" and not marker.exists()
