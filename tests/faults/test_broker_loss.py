"""Restart Redis with its data lost while batches run: every queued message and ETA is gone."""

from __future__ import annotations

import time

import pytest

from executions.models import Batch, NodeRun
from tests.faults.conftest import REDISPATCH_SECONDS, chain, python, read_pids, shell

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_redis_restarted_empty_while_batches_run(cluster, redis_server, tmp_path):
    pids = tmp_path / "shell-pids"
    cluster.start_worker()
    cluster.start_sweeper()
    document = chain(
        "through-a-broker-loss",
        python("nap-a", "baton.sleep", seconds=0.2),
        shell("shell-b", f"echo $$ >> {pids}; sleep 0.3"),
        python("nap-c", "baton.sleep", seconds=0.2),
        # fails every attempt: its retries are ETA messages a worker holds unacknowledged
        shell("always-fails", "false", retries=2, retry_interval_seconds=1),
        python("nap-e", "baton.sleep", seconds=0.2),
    )
    document["edges"][-1]["on"] = "failure"  # n3 -> n4 on failure
    workflow = cluster.workflow(document)
    ids = cluster.start(workflow, 12)
    time.sleep(1.5)
    running = Batch.objects.filter(pk__in=ids, status="running").count()
    redis_server.restart(down_for=1.0)  # everything queued and unacknowledged is lost
    time.sleep(1.5)
    redis_server.restart(down_for=0.0)  # and once more, while the sweep re-sends
    started = time.monotonic()
    cluster.wait_finished(ids, timeout=90)
    took = time.monotonic() - started
    print(f"{running} of {len(ids)} batches were running at the loss; all ended {took:.1f}s after the restart")
    print(f"sweep: {cluster.sweeper.counts}, errors while Redis was down: {len(cluster.sweeper.errors)}")

    # every batch ends "failed" (n3 failed, its failure branch n4 ran), none hangs
    assert set(Batch.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"failed"}, cluster.describe(ids)
    runs = NodeRun.objects.filter(batch_id__in=ids)
    assert set(runs.filter(node_key="n3").values_list("status", "attempts")) == {("failed", 3)}
    assert set(runs.exclude(node_key="n3").values_list("status", "attempts")) == {("succeeded", 1)}
    assert running > 0, "the broker was lost after every batch had ended: nothing was tested"
    assert cluster.sweeper.counts.get("redispatched", 0) > 0
    assert took < 60 + 3 * REDISPATCH_SECONDS
    assert len(read_pids(pids)) >= len(ids)
    cluster.assert_finished(ids)
    cluster.assert_no_task_processes()


def test_rabbitmq_restarted_while_batches_run(rabbitmq_cluster, rabbitmq_broker, tmp_path):
    """RabbitMQ keeps Celery's persistent messages across a restart; every batch ends once, each node once."""
    cluster = rabbitmq_cluster
    pids = tmp_path / "shell-pids"
    cluster.start_worker()
    cluster.start_sweeper()
    document = chain(
        "through-a-rabbitmq-restart",
        python("nap-a", "baton.sleep", seconds=0.2),
        shell("shell-b", f"echo $$ >> {pids}; sleep 0.5"),
        python("nap-c", "baton.sleep", seconds=0.2),
        shell("always-fails", "false", retries=2, retry_interval_seconds=1),
        python("nap-e", "baton.sleep", seconds=0.2),
    )
    document["edges"][-1]["on"] = "failure"
    workflow = cluster.workflow(document)
    ids = cluster.start(workflow, 12)
    time.sleep(1.5)
    running = Batch.objects.filter(pk__in=ids, status="running").count()
    rabbitmq_broker.restart(down_for=1.0)  # every connection drops; unacknowledged deliveries come back
    started = time.monotonic()
    cluster.wait_finished(ids, timeout=90)
    print(
        f"{running} of {len(ids)} batches were running at the restart; all ended {time.monotonic() - started:.1f}s after it"
    )

    assert set(Batch.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"failed"}, cluster.describe(ids)
    runs = NodeRun.objects.filter(batch_id__in=ids)
    assert set(runs.filter(node_key="n3").values_list("status", "attempts")) == {("failed", 3)}
    assert set(runs.exclude(node_key="n3").values_list("status", "attempts")) == {("succeeded", 1)}
    assert running > 0, "the broker restarted after every batch had ended: nothing was tested"
    # A delivery that came back after the restart found its run already claimed: each shell ran once.
    assert len(read_pids(pids)) == len(ids)
    cluster.assert_finished(ids)
    cluster.assert_no_task_processes()
