"""Alerts about scheduled fires (missed, skipped by the overlap policy), deadlines, the rule's owner and history.

The scheduler ticks on a controlled clock (time_machine); the outbox is run with `now` passed in.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from alerts import outbox
from alerts.models import Alert, Delivery, DeliveryStatus
from alerts.services import channel_save, rule_save
from executions.lifecycle import batch_start, batch_stop
from executions.models import Batch, Fire, FireOutcome
from executions.scheduler import tick
from tests.alerts.receiver import local_receiver
from tests.conftest import acting, machine
from tests.executions.conftest import chain_document, recorder, shell  # noqa: F401 (recorder is a fixture)
from workflows.models import Membership, Role, Team
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2031, 5, 17, 9, 0, tzinfo=UTC)


def at(minutes: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def every_minute(zone: str = "UTC", **extra) -> dict:
    trigger = {"type": "periodic", "every": 1, "unit": "minutes", "start": T0.isoformat(), "timezone": zone}
    return chain_document("nightly", shell("nightly-a", "true"), trigger=trigger, **extra)


def save(document: dict):
    return workflow_save_definition(document=copy.deepcopy(document), actor=machine()).workflow


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0 - timedelta(seconds=30), tick=False)
    return time_machine


@pytest.fixture
def receiver(settings):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    with local_receiver() as server:
        yield server


def channel_and_rule(url: str, actor=None, language: str = "en", **rule) -> None:
    Team.objects.get_or_create(name="t")
    config = {"url": url, "secret": "k"}
    document = {"team": "t", "name": "hook", "kind": "webhook", "config": config, "language": language}
    channel_save(document=document, actor=machine())
    rule_save(document={"team": "t", "channels": ["hook"], **rule}, actor=actor or machine())


# -- misfire and overlap-skip: decided in the tick's transaction, keyed by the fire ----------------------


def test_a_fire_skipped_by_the_overlap_policy_alerts_once_keyed_by_its_fire(recorder, clock, receiver):  # noqa: F811
    save(every_minute())  # overlap policy skip (the default)
    channel_and_rule(receiver.url, triggers=["skipped"])
    clock.move_to(at(0, 1), tick=False)
    tick()
    assert not Alert.objects.exists()  # a started fire is no alert
    clock.move_to(at(1, 1), tick=False)
    tick()  # the first batch still runs: the fire is skipped
    tick()  # a redelivered tick doubles nothing
    skipped = Fire.objects.get(outcome=FireOutcome.SKIPPED_OVERLAP)
    alert = Alert.objects.get()
    assert (alert.fire, alert.batch, alert.trigger) == (skipped, None, "skipped")
    assert Delivery.objects.get(alert=alert).status == DeliveryStatus.PENDING  # written with the fire
    outbox.alerts_run(now=at(1, 2))
    outbox.alerts_run(now=at(1, 3))
    (message,) = receiver.parsed
    assert message["event"] == "skipped" and message["batch"] is None and message["workflow"] == "nightly"
    assert message["fire"]["scheduled_for"] == at(1).isoformat()
    assert "skipped a fire (overlap policy)" in message["subject"]
    assert "previous batch was still running" in message["text"]
    workflow_page = f"/admin/workflows/workflow/{skipped.workflow_id}/change/"
    assert message["url"].endswith(workflow_page) and message["text"].endswith(workflow_page)


def test_skipped_fires_within_the_window_share_one_message_with_a_count(recorder, clock, receiver):  # noqa: F811
    save(every_minute())
    channel_and_rule(receiver.url, triggers=["failed", "skipped"])
    for minute in range(4):
        clock.move_to(at(minute, 1), tick=False)
        tick()
        outbox.alerts_run(now=at(minute, 2))
    assert Alert.objects.filter(trigger="skipped").count() == 3
    assert len(receiver.parsed) == 1  # the first at once, the next two wait for the window
    outbox.alerts_run(now=at(30))
    assert [message["count"] for message in receiver.parsed] == [1, 2]
    assert receiver.parsed[1]["fire"]["scheduled_for"] == at(3).isoformat()


def test_a_missed_run_of_fires_alerts_once_with_the_count_in_the_channels_language(
    recorder,  # noqa: F811
    clock,
    receiver,
    settings,
):
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 30
    save(every_minute(misfire_policy="skip"))
    channel_and_rule(receiver.url, language="zh-hans", triggers=["missed"])
    clock.move_to(at(10, 40), tick=False)  # the scheduler was down from 09:00 to 09:10:40
    tick()
    missed = Fire.objects.get(outcome=FireOutcome.MISSED)
    assert Alert.objects.get().fire == missed
    outbox.alerts_run(now=at(10, 41))
    (message,) = receiver.parsed
    assert message["event"] == "missed" and message["fire"]["missed_count"] == 11
    assert message["language"] == "zh-hans"
    assert "工作流" in message["subject"] and "11" in message["text"]


def test_a_rule_without_the_fire_triggers_ignores_missed_and_skipped_fires(recorder, clock, receiver, settings):  # noqa: F811
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 30
    save(every_minute(misfire_policy="skip"))
    channel_and_rule(receiver.url, triggers=["failed"])
    clock.move_to(at(10, 40), tick=False)
    tick()
    assert Fire.objects.filter(outcome=FireOutcome.MISSED).exists() and not Alert.objects.exists()


# -- deadlines: the backstop's clock ----------------------------------------------------------------------


def test_not_started_within_fires_for_the_late_fire_only_and_not_before(recorder, clock, receiver):  # noqa: F811
    save(every_minute())
    channel_and_rule(receiver.url, triggers=["not_started_within"], start_within=5)
    clock.move_to(at(0, 1), tick=False)
    tick()  # started 1 s after its fire: on time
    clock.move_to(at(1, 1), tick=False)
    tick()  # skipped: never starts
    skipped = Fire.objects.get(outcome=FireOutcome.SKIPPED_OVERLAP)
    outbox.alerts_run(now=at(6, -1))
    assert not Alert.objects.exists()
    outbox.alerts_run(now=at(6, 1))
    outbox.alerts_run(now=at(7))
    alert = Alert.objects.get()
    assert (alert.fire, alert.trigger) == (skipped, "not_started_within")
    (message,) = receiver.parsed
    assert message["event"] == "not_started_within"
    assert "Expected to start within 5 min of its fire time." in message["text"]


def test_not_succeeded_by_uses_the_triggers_zone_and_spares_the_batch_that_succeeded_in_time(
    recorder,  # noqa: F811
    clock,
    receiver,
):
    save(every_minute(zone="Asia/Shanghai", overlap_policy="parallel"))
    channel_and_rule(receiver.url, triggers=["not_succeeded_by"], deadline="17:02")  # 09:02 UTC
    clock.move_to(at(0, 1), tick=False)
    tick()
    recorder.drain()  # the 09:00 batch succeeds at 09:00:01
    clock.move_to(at(1, 1), tick=False)
    tick()  # the 09:01 batch keeps running
    on_time, late = Fire.objects.filter(batch__isnull=False).order_by("scheduled_for")
    assert on_time.batch.status == "succeeded" and late.batch.status == "running"
    outbox.alerts_run(now=at(2, -1))
    assert not Alert.objects.exists()
    outbox.alerts_run(now=at(2, 1))
    outbox.alerts_run(now=at(3))
    alert = Alert.objects.get()
    assert (alert.fire, alert.batch, alert.trigger) == (late, late.batch, "not_succeeded_by")
    (message,) = receiver.parsed
    assert message["batch"]["id"] == late.batch_id and message["fire"]["scheduled_for"] == at(1).isoformat()
    assert "Expected to succeed by 17:02 (the trigger's time zone)." in message["text"]


def test_a_new_deadline_rule_does_not_alert_deadlines_that_passed_before_it(recorder, clock, receiver):  # noqa: F811
    save(every_minute())
    clock.move_to(at(0, 1), tick=False)
    tick()
    clock.move_to(at(1, 1), tick=False)
    tick()  # skipped
    clock.move_to(at(20), tick=False)
    channel_and_rule(receiver.url, triggers=["not_started_within"], start_within=5)
    outbox.alerts_run(now=at(20, 1))
    assert not Alert.objects.exists()


# -- stopped: only by someone other than the rule's owner -------------------------------------------------


@pytest.fixture
def people():
    team, _ = Team.objects.get_or_create(name="t")
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    for user in (alice, bob):
        Membership.objects.create(user=user, team=team, role=Role.EDITOR)
    return alice, bob


def test_stopped_alerts_only_when_someone_other_than_the_rules_owner_stopped_it(recorder, receiver, people):  # noqa: F811
    alice, bob = people
    workflow = save(chain_document("nightly", shell("nightly-a", "sleep 30")))
    channel_and_rule(receiver.url, actor=acting(alice), triggers=["stopped"])
    mine = batch_start(workflow=workflow, actor=machine())
    batch_stop(batch_id=mine.pk, actor=acting(alice))
    theirs = batch_start(workflow=workflow, actor=machine())
    batch_stop(batch_id=theirs.pk, actor=acting(bob))
    recorder.drain()
    assert Batch.objects.get(pk=mine.pk).status == Batch.objects.get(pk=theirs.pk).status == "stopped"
    outbox.alerts_run()
    assert list(Alert.objects.values_list("batch_id", flat=True)) == [theirs.pk]
    assert [(message["batch"]["id"], message["count"]) for message in receiver.parsed] == [(theirs.pk, 1)]


def test_a_rule_records_its_owner_and_a_rule_without_one_alerts_every_stop(recorder, receiver, people):  # noqa: F811
    alice, _ = people
    workflow = save(chain_document("nightly", shell("nightly-a", "sleep 30")))
    channel_and_rule(receiver.url, triggers=["stopped"])  # made by the machine's operator: no owner
    assert Alert.objects.count() == 0
    batch = batch_start(workflow=workflow, actor=machine())
    batch_stop(batch_id=batch.pk, actor=acting(alice))
    recorder.drain()
    outbox.alerts_run()
    assert [message["batch"]["id"] for message in receiver.parsed] == [batch.pk]
    rule = rule_save(document={"team": "t", "triggers": ["failed"]}, actor=acting(alice))
    assert rule.created_by == alice


# -- running long relative to the owner's history ---------------------------------------------------------


def test_running_long_relative_to_the_p95_of_recent_successes(recorder, receiver):  # noqa: F811
    workflow = save(chain_document("nightly", shell("nightly-a", "true")))
    base = datetime(2031, 5, 1, tzinfo=UTC)
    for index, seconds in enumerate((10, 20, 30)):
        done = batch_start(workflow=workflow, actor=machine())
        recorder.drain()
        start = base + timedelta(hours=index)
        Batch.objects.filter(pk=done.pk).update(created_at=start, finished_at=start + timedelta(seconds=seconds))
    running = batch_start(workflow=workflow, actor=machine())  # not drained: it keeps running
    channel_and_rule(
        receiver.url, triggers=["running_long"], running_long_factor=2, running_long_history=3
    )  # 2 × p95 (30 s)
    outbox.alerts_run(now=running.created_at + timedelta(seconds=59))
    assert not Alert.objects.exists()
    outbox.alerts_run(now=running.created_at + timedelta(seconds=61))
    (message,) = receiver.parsed
    assert message["event"] == "running_long" and message["batch"]["id"] == running.pk
    assert "2 × the p95 of recent successes" in message["text"]


def test_running_long_relative_needs_enough_history(recorder, receiver):  # noqa: F811
    workflow = save(chain_document("nightly", shell("nightly-a", "true")))
    batch_start(workflow=workflow, actor=machine())
    recorder.drain()  # one success only
    running = batch_start(workflow=workflow, actor=machine())
    channel_and_rule(receiver.url, triggers=["running_long"], running_long_factor=1.5)
    outbox.alerts_run(now=running.created_at + timedelta(days=1))
    assert not Alert.objects.exists()
