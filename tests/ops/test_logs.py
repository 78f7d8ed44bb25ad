"""BATON_LOG_FORMAT=json: every record logged while a node run runs carries its batch, node, run and attempt."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest

from executions.models import NodeRun
from ops.logcontext import JsonFormatter, RunContextFilter, current, run_context
from ops.models import WorkerHeartbeat
from tests.conftest import database_url, import_definition, run_and_wait
from tests.ops.helpers import PYTHON, start_process, stop_process, unique_name


def _logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(unique_name("test-json"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_records_carry_the_ids_of_the_run_in_context_and_null_outside():
    logger, out = _logger()
    with run_context(batch_id="B1", node_key="build"):
        with run_context(run_id=7, attempt=2):
            logger.info("inside %s", "run", extra={"extra_key": 1})
            assert current() == {"batch_id": "B1", "node_key": "build", "run_id": 7, "attempt": 2}
        logger.warning("batch only")
    logger.info("outside")
    inside, batch_only, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside["message"] == "inside run" and inside["level"] == "INFO" and inside["extra_key"] == 1
    assert (inside["batch_id"], inside["node_key"], inside["run_id"], inside["attempt"]) == ("B1", "build", 7, 2)
    assert (batch_only["batch_id"], batch_only["run_id"]) == ("B1", None)
    assert {key: outside[key] for key in ("batch_id", "node_key", "run_id", "attempt")} == dict.fromkeys(
        ("batch_id", "node_key", "run_id", "attempt")
    )


def test_an_exception_is_one_json_record_with_its_traceback():
    logger, out = _logger()
    try:
        raise ValueError("boom")
    except ValueError:
        with run_context(batch_id="B2"):
            logger.exception("failed")
    (record,) = (json.loads(line) for line in out.getvalue().splitlines())
    assert record["batch_id"] == "B2" and "ValueError: boom" in record["exc_info"]


def test_unknown_context_fields_are_refused():
    with pytest.raises(TypeError, match="batch"), run_context(batch="x"):  # type: ignore[call-arg]
        pass


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_workers_json_log_names_the_run_of_each_record(worker, tmp_path):
    queue = f"json-logs-{os.getpid()}"
    node_name = f"json-{os.getpid()}@localhost"
    log = tmp_path / "worker.log"
    process = start_process(
        [
            *(PYTHON, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "-P", "solo", "-n", node_name),
            *("--without-gossip", "--without-mingle", "-l", "INFO"),
        ],
        log,
        {"DATABASE_URL": database_url(), "BATON_LOG_FORMAT": "json", "BATON_WORKER_HEARTBEAT_SECONDS": "0.5"},
        ready="ready.",
    )
    try:
        name, text = unique_name("json-logs"), unique_name("a line for machines")
        task = {
            "name": f"{name}-say",
            "kind": "python",
            "config": {"callable": "baton.log", "kwargs": {"message": text}},
        }
        document = {
            "name": name,
            "team": "ops",
            "nodes": [{"key": "say", "type": "task", "task": {**task, "queue": queue}}],
            "edges": [{"from": "start", "to": "say"}],
        }
        import_definition(document, tmp_path)
        report = run_and_wait(name)
    finally:
        stop_process(process)
    lines = log.read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # Celery's start-up banner is printed, not logged; every logged record is one JSON object.
    assert not [line for line in lines if not line.startswith("{") and ("succeeded in" in line or text in line)]
    assert any(record["logger"] == "celery.app.trace" for record in records)
    (said,) = [record for record in records if record["message"] == text]
    run = NodeRun.objects.get(batch_id=report["batch"], node_key="say")
    assert report["status"] == "succeeded"
    assert (said["batch_id"], said["node_key"], said["run_id"], said["attempt"]) == (report["batch"], "say", run.pk, 1)
    assert said["logger"] == "baton.task" and said["level"] == "INFO"
    # The worker said it stopped: the admin lists it as stopped, not as alive.
    stopped = WorkerHeartbeat.objects.get(name=node_name)
    assert stopped.queues == [queue] and stopped.stopped_at is not None and not stopped.is_alive()
