"""The outbox in one process: batches run in-process, alerts decided and sent to a local receiver."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import outbox
from alerts.models import Alert, Delivery, DeliveryStatus
from alerts.services import channel_save, rule_save
from executions.models import Batch
from tests.alerts.receiver import local_receiver
from tests.conftest import machine
from tests.executions.conftest import recorder, start  # noqa: F401 (recorder is a fixture)
from tests.ops.test_metrics import delta, samples_now
from workflows.models import Team, Workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    with local_receiver() as server:
        yield server.parsed, server.url


def _workflow(flag, core: bool = False) -> dict:
    task = {"name": "check", "kind": "shell", "config": {"script": f"echo checking; test -f {flag}"}}
    nodes = [{"key": "check", "type": "task", "task": task, "core": core}]
    edges = [{"from": "start", "to": "check"}]
    if core:
        nodes.append(
            {"key": "after", "type": "task", "task": {"name": "after", "kind": "shell", "config": {"script": "true"}}}
        )
        edges.append({"from": "check", "to": "after", "on": "failure"})
    return {"name": "nightly", "team": "ops", "nodes": nodes, "edges": edges}


def _run(recorder, flag, core: bool = False) -> Batch:  # noqa: F811
    batch = start(_workflow(flag, core))
    recorder.drain()
    batch.refresh_from_db()
    return batch


def _channel_and_rule(url: str, **rule) -> None:
    Team.objects.get_or_create(name="ops")
    config = {"url": url, "secret": "k"}
    channel_save(document={"team": "ops", "name": "hook", "kind": "webhook", "config": config}, actor=machine())
    rule_save(document={"team": "ops", "channels": ["hook"], **rule}, actor=machine())


def test_repeated_failures_within_the_window_share_one_message_with_a_count(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    first = _run(recorder, tmp_path / "absent")
    _channel_and_rule(url, triggers=["failed"])
    outbox.alerts_run(batch_id=first.pk)
    assert [message["count"] for message in received] == [1]
    second, third = _run(recorder, tmp_path / "absent"), _run(recorder, tmp_path / "absent")
    outbox.alerts_run(batch_id=second.pk)
    outbox.alerts_run(batch_id=third.pk)
    assert len(received) == 1  # waiting for the window after the first message to close
    outbox.alerts_run(now=timezone.now() + timedelta(minutes=11))
    assert len(received) == 2
    assert received[1]["count"] == 2 and received[1]["batch"]["id"] == third.pk
    leader = Delivery.objects.get(alert__batch=third)
    assert Delivery.objects.get(alert__batch=second).sent_with == leader and leader.grouped == 2


def test_a_success_after_a_failure_is_a_recovery_naming_the_failure(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    flag = tmp_path / "ok"
    failed = _run(recorder, flag)
    _channel_and_rule(url, triggers=["recovered"])
    flag.write_text("")
    recovered = _run(recorder, flag)
    assert recovered.status == "succeeded"
    outbox.alerts_run(batch_id=recovered.pk)
    (message,) = received
    assert message["event"] == "recovered" and message["recovered_from"] == failed.pk
    assert _run(recorder, flag).status == "succeeded"
    outbox.alerts_run()
    assert len(received) == 1  # only the first success after a failure


def test_a_core_node_failure_alerts_once_for_its_batch(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    _channel_and_rule(url, triggers=["failed", "core_node_failed"])
    batch = _run(recorder, tmp_path / "absent", core=True)
    assert batch.status == "failed"
    outbox.alerts_run(batch_id=batch.pk)
    outbox.alerts_run()
    assert [message["event"] for message in received] == ["core_node_failed"]
    assert Alert.objects.get(batch=batch).trigger == "core_node_failed"


def test_a_muted_rule_records_the_alert_and_sends_nothing(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    _channel_and_rule(url, triggers=["failed"], muted_until=until)
    batch = _run(recorder, tmp_path / "absent")
    outbox.alerts_run(batch_id=batch.pk)
    assert received == [] and Alert.objects.get(batch=batch).muted
    assert not Delivery.objects.filter(alert__batch=batch).exists()


def test_the_backstop_finds_a_batch_whose_wake_up_was_lost(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    _channel_and_rule(url, triggers=["failed"])
    batch = _run(recorder, tmp_path / "absent")  # its wake-up went to a queue no worker reads here
    assert not Alert.objects.filter(batch=batch).exists()
    outbox.alerts_run()
    assert [message["batch"]["id"] for message in received] == [batch.pk]
    assert Delivery.objects.get(alert__batch=batch).status == DeliveryStatus.SENT


def test_a_workflows_own_rule_replaces_the_team_default(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    batch = _run(recorder, tmp_path / "absent")
    _channel_and_rule(url, triggers=["failed"])
    rule_save(document={"team": "ops", "workflow": "nightly", "triggers": ["stopped"]}, actor=machine())
    assert Workflow.objects.filter(name="nightly").exists()
    outbox.alerts_run(batch_id=batch.pk)
    assert received == [] and not Alert.objects.exists()


def test_a_running_long_rule_fires_when_the_batch_is_late_and_not_before(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    batch = start(_workflow(tmp_path / "absent"))  # not drained: the batch stays running
    _channel_and_rule(url, triggers=["running_long"], running_longer_than=600)
    outbox.alerts_run(now=batch.created_at + timedelta(seconds=599))
    assert received == [] and not Alert.objects.exists()
    outbox.alerts_run(now=batch.created_at + timedelta(seconds=601))
    outbox.alerts_run(now=batch.created_at + timedelta(seconds=900))
    (message,) = received
    assert message["event"] == "running_long" and message["batch"]["status"] == "running"
    assert "Running for 601 s (the rule's limit is 600 s)." in message["text"]
    recorder.drain()  # it ends failed: the running-long rule watches nothing else
    outbox.alerts_run()
    assert len(received) == 1


def test_each_channel_of_a_rule_gets_the_message_in_its_own_language(recorder, receiver, tmp_path):  # noqa: F811
    received, url = receiver
    Team.objects.get_or_create(name="ops")
    for name, language in (("english", "en"), ("chinese", "zh-hans")):
        config = {"url": f"{url}?{name}", "secret": "k"}
        document = {"team": "ops", "name": name, "kind": "webhook", "config": config, "language": language}
        channel_save(document=document, actor=machine())
    rule_save(document={"team": "ops", "channels": ["english", "chinese"], "triggers": ["failed"]}, actor=machine())
    batch = _run(recorder, tmp_path / "absent")
    outbox.alerts_run(batch_id=batch.pk)
    by_language = {message["language"]: message for message in received}
    assert set(by_language) == {"en", "zh-hans"}
    assert by_language["en"]["subject"] == f"[Baton] Workflow nightly failed — batch {batch.pk}"
    assert by_language["zh-hans"]["subject"] == f"[Baton] 工作流 nightly 失败 — 批次 {batch.pk}"
    assert "Team: ops" in by_language["en"]["text"] and "团队：ops" in by_language["zh-hans"]["text"]


def test_alert_sends_are_counted_by_channel_kind_and_outcome(recorder, receiver, tmp_path, settings):  # noqa: F811
    received, url = receiver
    _channel_and_rule(url, triggers=["failed", "recovered"])
    before = samples_now()
    outbox.alerts_run(batch_id=_run(recorder, tmp_path / "absent").pk)
    settings.BATON_HTTP_ALLOWED_NETWORKS = ()  # the guard now refuses the loopback receiver
    flag = tmp_path / "ok"
    flag.write_text("")
    outbox.alerts_run(batch_id=_run(recorder, flag).pk)
    after = samples_now()
    assert len(received) == 1
    assert delta(before, after, "baton_alert_sends_total", channel="webhook", outcome="sent") == 1
    assert delta(before, after, "baton_alert_sends_total", channel="webhook", outcome="failed") == 1


def test_retention_takes_a_batchs_alerts_and_deliveries_with_it(recorder, receiver, tmp_path):  # noqa: F811
    from executions.retention import history_archive

    _channel_and_rule(receiver[1], triggers=["failed"])
    batch = _run(recorder, tmp_path / "absent")
    outbox.alerts_run(batch_id=batch.pk)
    assert Alert.objects.filter(batch=batch).count() == 1 and Delivery.objects.count() == 1
    long_ago = timezone.now() - timedelta(days=400)
    Batch.objects.filter(pk=batch.pk).update(created_at=long_ago, finished_at=long_ago)
    report = history_archive(now=timezone.now(), directory=tmp_path / "archive")
    assert report.archived == 1 and not Batch.objects.filter(pk=batch.pk).exists()
    # No alert or delivery is left pointing at a batch that is gone (the outbox has no foreign key).
    assert not Alert.objects.exists() and not Delivery.objects.exists()
    outbox.alerts_run()  # and the backstop has nothing to trip over


def test_only_a_team_with_a_rule_wakes_the_alerts_task_and_a_new_rule_counts_at_once(
    recorder,  # noqa: F811
    receiver,
    tmp_path,
    monkeypatch,
):
    """A batch's end publishes a wake-up only for a team with an enabled rule; the backstop covers the rest."""
    from executions import dispatch

    woken: list[str | None] = []
    monkeypatch.setattr(dispatch, "alert_wakeup", lambda batch_id, **kwargs: woken.append(batch_id))
    received, url = receiver
    Team.objects.get_or_create(name="ops")
    assert outbox.team_has_rules(Team.objects.get(name="ops").pk) is False  # read and kept for a while
    quiet = _run(recorder, tmp_path / "absent")
    assert quiet.status == "failed" and woken == []

    _channel_and_rule(url, triggers=["failed"])  # saved here: this process forgets what it read
    loud = _run(recorder, tmp_path / "absent")
    assert woken == [loud.pk]

    # Another process read "no rules" just before the rule was saved: its batch wakes nobody...
    monkeypatch.setattr(outbox, "_rule_teams", (time.monotonic(), frozenset()))
    unseen = _run(recorder, tmp_path / "absent")
    assert woken == [loud.pk]
    outbox.alerts_run()  # ...and the backstop alerts it all the same (the wake-ups above were only recorded)
    alerted = Alert.objects.filter(batch__in=[quiet, loud, unseen]).values_list("batch_id", flat=True)
    assert sorted(alerted) == sorted([quiet.pk, loud.pk, unseen.pk])  # the backstop reads every end after its cursor
    assert len(received) == 1  # failures of one workflow within the window: one message with a count
