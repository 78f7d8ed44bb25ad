"""Prometheus metrics after real batches, scraped over HTTP from the web process and from the workers' exporter."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
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


def test_a_sweep_is_counted(tmp_path, monkeypatch):
    sent: list = []
    monkeypatch.setattr(dispatch, "backend", lambda wakeups, countdown: sent.extend(wakeups))
    name = unique_name("swept")
    import_definition(two_step_workflow(name), tmp_path)
    call_command("run_workflow", name, stdout=StringIO())
    NodeRun.objects.filter(task_name=f"{name}-a").update(queued_at=timezone.now() - timedelta(minutes=5))
    before = samples_now()

    tasks.recover()  # the Celery task: the sweep re-sends the wake-up it thinks lost

    after = samples_now()
    assert len(sent) == 2  # the first send, then the sweep's
    assert delta(before, after, "baton_sweep_actions_total", action="redispatched") == 1
    assert delta(before, after, "baton_sweep_actions_total", action="worker_lost") == 0


T0 = datetime(2031, 5, 17, 9, 0, tzinfo=UTC)


def test_ticks_count_started_missed_and_skipped_fires_and_their_lateness(tmp_path, monkeypatch, time_machine, settings):
    monkeypatch.setattr(dispatch, "backend", lambda wakeups, countdown: None)  # nothing runs: the batch stays running
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 30
    time_machine.move_to(T0 - timedelta(seconds=30), tick=False)
    name = unique_name("ticked")
    trigger = {"type": "periodic", "every": 1, "unit": "minutes", "start": T0.isoformat(), "timezone": "UTC"}
    import_definition({**two_step_workflow(name, enabled=True), "trigger": trigger}, tmp_path)
    before = samples_now()

    time_machine.move_to(T0 + timedelta(minutes=10, seconds=40), tick=False)  # the scheduler was down 10 minutes
    tasks.tick()  # 09:00 to 09:10 missed (as the fire log counts them), one late batch for 09:10
    time_machine.move_to(T0 + timedelta(minutes=11, seconds=1), tick=False)
    tasks.tick()  # 09:11: the 09:10 batch still runs, overlap `skip`

    after = samples_now()
    fires = "baton_scheduler_fires_total"
    assert delta(before, after, fires, outcome="started") == 1
    assert delta(before, after, fires, outcome="missed") == 11
    assert delta(before, after, fires, outcome="skipped") == 1
    assert delta(before, after, "baton_scheduler_tick_seconds_count") == 2
    assert delta(before, after, "baton_scheduler_lateness_seconds_count") == 1
    assert delta(before, after, "baton_scheduler_lateness_seconds_bucket", le="30.0") == 0  # 40 s late
    assert delta(before, after, "baton_scheduler_lateness_seconds_bucket", le="60.0") == 1
    assert delta(before, after, "baton_batches_started_total", workflow=name, trigger="periodic") == 1


def delta(before: list, after: list, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def samples_now() -> list:
    from prometheus_client import generate_latest

    return samples(generate_latest(metrics.registry()).decode())


def test_a_failing_count_never_raises_into_the_engine_and_is_logged_once(caplog):
    metrics._failed.discard("record_run_duration")
    with caplog.at_level("WARNING", logger="ops.metrics"):
        for _ in range(3):  # a bad value: the observation fails inside prometheus_client
            metrics.record_run_duration(kind="shell", queue="default", seconds="not a number")  # type: ignore[arg-type]
    warnings = [record for record in caplog.records if "record_run_duration failed" in record.getMessage()]
    assert len(warnings) == 1
