"""SIGKILL the worker that ended a batch after the end committed and before the alert was sent: still one message."""

from __future__ import annotations

import re
import sys

import pytest
from celery import current_app

from alerts.models import Alert, Delivery, DeliveryStatus
from alerts.services import channel_save, rule_save
from executions.dispatch import ALERTS, ALERTS_QUEUE
from executions.models import Batch, NodeRun
from tests.alerts.receiver import local_receiver
from tests.conftest import machine
from tests.faults.conftest import Worker, chain, shell, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def _alerts_worker(cluster) -> Worker:
    """Start a worker on `baton-alerts` only, as `make run` does (threads), in the cluster's environment."""
    name = f"alerts-{len(cluster.workers)}"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ALERTS_QUEUE, "--pool=threads"]
    command += ["-c", "2", "--without-gossip", "--without-mingle", "-l", "INFO", "-n", f"{name}@%h"]
    env = {**cluster.env, "BATON_HTTP_ALLOWED_NETWORKS": "127.0.0.1/32", "BATON_ALERT_GROUP_SECONDS": "0"}
    worker = Worker(name, command, env, cluster.directory / f"{name}.log")
    cluster.workers.append(worker)
    worker.wait_ready()
    return worker


def test_a_worker_killed_between_the_batch_end_and_the_alert_still_delivers_exactly_once(
    cluster, redis_server, settings
):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    engine = cluster.start_worker(concurrency=1)
    workflow = cluster.workflow(chain("alerted", shell("fails-late", "sleep 1; false")))
    with local_receiver() as receiver:
        channel = {"team": "faults", "name": "hook", "kind": "webhook", "config": {"url": receiver.url, "secret": "k"}}
        channel_save(document=channel, actor=machine())
        rule_save(document={"team": "faults", "triggers": ["failed"], "channels": ["hook"]}, actor=machine())
        (batch_id,) = cluster.start(workflow)
        wait_until(lambda: NodeRun.objects.filter(batch_id=batch_id, status="running").exists(), 30, message="running")

        # The broker goes away while the node runs: the worker commits the batch's end (the state
        # change, with its event) but its wake-up to the alerts queue cannot be sent; then it dies.
        redis_server.kill()
        wait_until(lambda: Batch.objects.get(pk=batch_id).status == "failed", 30, message="the batch ended")
        engine.kill()
        assert not Alert.objects.exists()  # nothing decided yet: the wake-up never left

        # The broker is back, empty. An alerts worker and the backstop (beat's periodic run, sent
        # here twice) plus a late duplicate wake-up for the batch: one alert, one message.
        redis_server.start()
        alerts = _alerts_worker(cluster)
        for batch in (None, None, batch_id):
            current_app.send_task(ALERTS, args=(batch,), queue=ALERTS_QUEUE)
        finished = re.compile(rf"Task {re.escape(ALERTS)}\[[^\]]+\] succeeded")
        wait_until(lambda: len(finished.findall(alerts.text())) >= 3, 60, message="the three alerts runs ended")

        assert [message["batch"]["id"] for message in receiver.parsed] == [batch_id], alerts.text()[-3000:]
        assert Alert.objects.get().batch_id == batch_id
        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
