"""Alerts end to end: a real worker runs the batch, a real alerts worker mails a local SMTP server and posts to a local receiver."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from alerts import outbox
from alerts.models import Alert, Delivery, DeliveryStatus
from alerts.services import channel_save, rule_save
from executions.models import Batch
from tests.alerts.receiver import local_receiver
from tests.conftest import REPO, database_url, import_definition, machine, run_and_wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
SECRET = "webhook-s3cret"
# Fast retries, for the alerts worker and for this process alike (the test decides and sends too).
FAST = {"BATON_ALERT_RETRY_SECONDS": 0.3, "BATON_ALERT_MAX_ATTEMPTS": 3, "BATON_ALERT_TIMEOUT_SECONDS": 3}


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    mailbox.port = controller.port  # type: ignore[attr-defined]
    yield mailbox
    controller.stop()


@pytest.fixture
def receiver():
    with local_receiver() as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _purge_alerts_queue() -> None:
    from config.celery import app

    with contextlib.suppress(Exception), app.connection_for_write() as connection:
        connection.default_channel.queue_purge("baton-alerts")


@contextlib.contextmanager
def _alerts_worker_running(smtp, log):
    """Run a second real worker on Baton's own `baton-alerts` queue, mailing the local SMTP server."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "BATON_HTTP_ALLOWED_NETWORKS": "127.0.0.1/32",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "BATON_BASE_URL": "https://baton.example.com",
        **{name: str(value) for name, value in FAST.items()},
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "baton-alerts", "-c", "2"]
    command += ["--pool", "threads", "--without-gossip", "--without-mingle", "-l", "INFO"]
    command += ["-n", f"alerts-{os.getpid()}@%h"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the alerts worker did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def alerts_settings(worker, smtp, settings):
    """This process sends as the alerts worker does (the test decides and sends once more itself)."""
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    for name, value in FAST.items():
        setattr(settings, name, value)
    _purge_alerts_queue()


@pytest.fixture
def alerts_worker(alerts_settings, smtp, tmp_path):
    with _alerts_worker_running(smtp, tmp_path / "alerts-worker.log") as process:
        yield process


def _wait(condition, timeout: float = 30, *, beat: bool = False) -> None:
    """Wait for `condition`; with `beat`, send the backstop every second as the beat entry does (every 30 s)."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    next_beat = time.monotonic() + 1
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        if beat and time.monotonic() >= next_beat:
            app.send_task("baton.alerts", queue="baton-alerts")
            next_beat += 1
        time.sleep(0.1)


def _failing_workflow(tmp_path) -> None:
    import_definition(
        {
            "name": "nightly-report",
            "team": "ops",
            "nodes": [
                {
                    "key": "export",
                    "type": "task",
                    "task": {
                        "name": "export",
                        "kind": "shell",
                        "config": {"script": "echo step 1; echo disk full >&2; exit 3"},
                    },
                }
            ],
            "edges": [{"from": "start", "to": "export"}],
        },
        tmp_path,
    )


def test_a_failing_batch_mails_once_and_posts_one_signed_webhook(alerts_worker, smtp, receiver, tmp_path):
    _failing_workflow(tmp_path)
    actor = machine()
    names = []
    for name, kind, config, language in (
        ("mail", "email", {"to": ["ops@example.com"]}, "en"),
        ("hook", "webhook", {"url": receiver.url, "secret": SECRET}, "zh-hans"),
        ("down", "webhook", {"url": f"http://127.0.0.1:{_free_port()}/", "secret": SECRET}, "en"),
        ("private", "webhook", {"url": "http://10.0.0.1/hook", "secret": SECRET}, "en"),
    ):
        document = {"team": "ops", "name": name, "kind": kind, "config": config, "language": language}
        channel_save(document=document, actor=actor)
        names.append(name)
    rule_save(document={"team": "ops", "triggers": ["failed", "timed_out"], "channels": names}, actor=actor)

    report = run_and_wait("nightly-report")
    assert report["status"] == "failed"
    batch = Batch.objects.get(pk=report["batch"])

    _wait(lambda: len(smtp.messages) == 1 and len(receiver.received) == 1)
    mail = message_from_bytes(smtp.messages[0], policy=policy.default)
    assert "nightly-report" in mail["Subject"] and batch.pk in mail["Subject"]
    body = mail.get_content()
    assert "Team: ops" in body and "disk full" in body
    assert f"https://baton.example.com/admin/executions/batch/{batch.pk}/change/" in body

    headers, raw = receiver.received[0]
    signed = hmac.new(SECRET.encode(), headers["x-baton-timestamp"].encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-baton-signature"], f"sha256={signed}")
    payload = json.loads(raw)
    assert payload["event"] == "failed" and payload["batch"]["id"] == batch.pk
    assert payload["failed_nodes"][0]["key"] == "export" and "disk full" in payload["failed_nodes"][0]["output_tail"]
    assert "失败" in payload["subject"]  # the channel's language

    # A second decision and send of the same batch (a re-delivered wake-up, the backstop) doubles nothing.
    outbox.alerts_run(batch_id=batch.pk)
    outbox.alerts_run()
    time.sleep(1)
    assert len(smtp.messages) == 1 and len(receiver.received) == 1
    assert Alert.objects.filter(batch=batch).count() == 1
    assert Delivery.objects.filter(alert__batch=batch).count() == 4

    # The unreachable channel is retried with back-off until its attempts run out; each failure is logged.
    down = lambda: Delivery.objects.get(alert__batch=batch, channel__name="down")  # noqa: E731
    _wait(lambda: down().status == DeliveryStatus.FAILED, timeout=30, beat=True)
    assert down().attempts == 3 and len(down().log) == 3
    assert all(not entry["ok"] and entry["error"] for entry in down().log)

    # The private address is refused by the HTTP tasks' SSRF guard, naming the setting that would allow it.
    private = Delivery.objects.get(alert__batch=batch, channel__name="private")
    assert private.last_error.startswith("refused: 10.0.0.1 (private)")
    assert "BATON_HTTP_ALLOWED_NETWORKS" in private.last_error
    assert private.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


def test_a_wake_up_lost_after_the_commit_is_delivered_once_by_the_backstop(alerts_settings, smtp, tmp_path):
    _failing_workflow(tmp_path)
    channel_save(
        document={"team": "ops", "name": "mail", "kind": "email", "config": {"to": "ops@example.com"}}, actor=machine()
    )
    rule_save(document={"team": "ops", "triggers": ["failed"], "channels": ["mail"]}, actor=machine())
    report = run_and_wait("nightly-report")  # no alerts worker runs: the wake-up waits in the queue
    _purge_alerts_queue()  # … and is lost, as if the worker had died between the commit and the send
    assert not Alert.objects.filter(batch_id=report["batch"]).exists()
    with _alerts_worker_running(smtp, tmp_path / "alerts-worker.log"):
        from config.celery import app

        app.send_task("baton.alerts", queue="baton-alerts")  # what the beat entry sends every 30 s
        app.send_task("baton.alerts", queue="baton-alerts")  # a second backstop round finds nothing new
        _wait(lambda: len(smtp.messages) == 1)
        time.sleep(1.5)
    assert len(smtp.messages) == 1
    assert Delivery.objects.get(alert__batch_id=report["batch"]).status == DeliveryStatus.SENT
