"""Prometheus metrics after real batches, scraped over HTTP from the web process and from the workers' exporter."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from executions import dispatch, tasks
from executions.models import NodeRun
from ops import metrics
from tests.conftest import database_url, import_definition, run_and_wait
from tests.ops.helpers import (
    PYTHON,
    free_port,
    samples,
    scrape,
    start_process,
    stop_process,
    two_step_workflow,
    unique_name,
    value,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _after_batch(url: str, name: str) -> list:
    """Scrape until the worker's count of the batch's end shows (it counts right after its commit)."""
    deadline = time.monotonic() + 10
    while True:
        found = scrape(url)
        if value(found, "baton_batches_ended_total", workflow=name) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _worker_runs(found: list, name: str) -> float:
    """Count the node-run durations a `celery-…` service (the test worker) recorded for shell tasks on `default`."""
    return sum(
        v
        for n, labels, v in found
        if n == name
        and labels["kind"] == "shell"
        and labels["queue"] == "default"
        and labels["service"].startswith("celery-")
    )


@pytest.mark.worker
def test_a_batch_shows_in_the_web_process_metrics_with_its_labels(worker, live_server, tmp_path):
    name = unique_name("metrics")
    import_definition(two_step_workflow(name), tmp_path)
    url = live_server.url + "/metrics"
    before = scrape(url)

    report = run_and_wait(name)
    found = _after_batch(url, name)

    assert report["status"] == "succeeded"
    assert value(found, "baton_batches_started_total", workflow=name, trigger="manual") == 1
    assert value(found, "baton_batches_ended_total", workflow=name, trigger="manual", status="succeeded") == 1
    assert value(found, "baton_batches_ended_total", workflow=name, status="failed") == 0
    for histogram in ("baton_node_run_duration_seconds_count", "baton_node_run_queue_wait_seconds_count"):
        assert _worker_runs(found, histogram) - _worker_runs(before, histogram) >= 2, histogram
    assert not any(report["batch"] in str(labels) for _, labels, _ in found)  # never a batch id in a label


@pytest.mark.worker
def test_the_exporter_serves_the_workers_metrics(worker, tmp_path):
    port = free_port()
    exporter = start_process(
        [PYTHON, "manage.py", "metrics_exporter", "--port", str(port)],
        tmp_path / "exporter.log",
        {"DATABASE_URL": database_url()},
        ready="serving the metrics",
    )
    try:
        name = unique_name("exported")
        import_definition(two_step_workflow(name, queue="default"), tmp_path)
        url = f"http://127.0.0.1:{port}/metrics"
        before = scrape(url)
        assert run_and_wait(name)["status"] == "succeeded"
        found = _after_batch(url, name)
    finally:
        stop_process(exporter)
    ended = [
        labels
        for n, labels, v in found
        if n == "baton_batches_ended_total" and labels.get("workflow") == name and v == 1
    ]
    assert [labels["status"] for labels in ended] == ["succeeded"]
    assert ended[0]["service"].startswith("celery-test-")  # the worker counted the end, in its own folder
    assert _worker_runs(found, "baton_node_run_duration_seconds_count") > _worker_runs(
        before, "baton_node_run_duration_seconds_count"
    )


def test_a_tick_and_a_sweep_are_counted(tmp_path, monkeypatch):
    sent: list = []
    monkeypatch.setattr(dispatch, "backend", lambda wakeups, countdown: sent.extend(wakeups))
    name = unique_name("swept")
    import_definition(two_step_workflow(name), tmp_path)
    call_command("run_workflow", name, stdout=StringIO())
    NodeRun.objects.filter(task_name=f"{name}-a").update(queued_at=timezone.now() - timedelta(minutes=5))
    before = samples_now()

    tasks.recover()
    tasks.tick()

    after = samples_now()
    assert (
        value(after, "baton_sweep_actions_total", action="redispatched")
        - value(before, "baton_sweep_actions_total", action="redispatched")
        == 1
    )
    assert value(after, "baton_scheduler_tick_seconds_count") - value(before, "baton_scheduler_tick_seconds_count") == 1


def samples_now() -> list:
    from prometheus_client import generate_latest

    return samples(generate_latest(metrics.registry()).decode())
