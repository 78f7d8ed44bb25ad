"""The scheduler tick with a controlled clock: exactly once per fire, misfires, overlaps, edits."""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from executions.lifecycle import batch_pause, batch_stop
from executions.models import Batch, Fire, FireOutcome
from executions.scheduler import tick
from tests.conftest import machine
from tests.executions.conftest import chain_document, shell
from workflows.models import Schedule, Task, Team
from workflows.services import schedule_sync, task_save, workflow_delete, workflow_save_definition, workflow_set_enabled

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2031, 5, 17, 9, 0, tzinfo=UTC)


def every_minute(name: str = "w", **extra) -> dict:
    trigger = {"type": "periodic", "every": 1, "unit": "minutes", "start": T0.isoformat(), "timezone": "UTC"}
    return chain_document(name, shell(f"{name}-a", "true"), trigger=trigger, **extra)


def save(document: dict):
    return workflow_save_definition(document=copy.deepcopy(document), actor=machine()).workflow


def at(minutes: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0 - timedelta(seconds=30), tick=False)
    return time_machine


def test_each_fire_starts_exactly_one_batch(recorder, clock):
    workflow = save(every_minute(overlap_policy="parallel"))
    assert Schedule.objects.get(workflow=workflow).next_fire_at == T0
    for minute in range(3):
        clock.move_to(at(minute, 0.5), tick=False)
        tick()
        tick()  # a redelivered tick changes nothing
    fires = sorted(Batch.objects.filter(workflow=workflow).values_list("scheduled_for", flat=True))
    assert fires == [at(0), at(1), at(2)]
    assert set(Batch.objects.values_list("trigger", flat=True)) == {"periodic"}


def test_disabled_workflow_gets_no_fires_and_reenabling_does_not_catch_up(recorder, clock):
    workflow = save(every_minute(overlap_policy="parallel"))
    workflow_set_enabled(workflow=workflow, enabled=False, actor=machine())
    assert not Schedule.objects.exists()
    clock.move_to(at(5, 1), tick=False)
    tick()
    workflow_set_enabled(workflow=workflow, enabled=True, actor=machine())
    tick()
    assert not Batch.objects.exists()
    assert Schedule.objects.get().next_fire_at == at(6)


def test_scheduler_down_fire_once_now_runs_one_late_batch_and_records_the_missed(recorder, clock, settings):
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 30
    workflow = save(every_minute(overlap_policy="parallel"))
    clock.move_to(at(10, 40), tick=False)  # down from 09:00 to 09:10:40
    tick()
    batches = list(Batch.objects.filter(workflow=workflow))
    assert [b.scheduled_for for b in batches] == [at(10)]
    missed = Fire.objects.get(outcome=FireOutcome.MISSED)
    assert (missed.missed_count, missed.scheduled_for, missed.missed_until) == (11, at(0), at(10))
    assert Fire.objects.get(outcome=FireOutcome.STARTED_LATE).batch == batches[0]
    assert Schedule.objects.get().next_fire_at == at(11)


def test_scheduler_down_skip_runs_nothing_missed(recorder, clock, settings):
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 30
    save(every_minute(misfire_policy="skip"))
    clock.move_to(at(10, 40), tick=False)
    tick()
    assert not Batch.objects.exists()
    assert Fire.objects.get(outcome=FireOutcome.MISSED).missed_count == 11


def test_overlap_skip_records_the_skipped_fire(recorder, clock):
    workflow = save(every_minute())  # skip is the default
    clock.move_to(at(0, 1), tick=False)
    tick()
    clock.move_to(at(1, 1), tick=False)
    tick()  # the first batch still runs: nothing drains the dispatches
    assert Batch.objects.filter(workflow=workflow).count() == 1
    assert Fire.objects.get(outcome=FireOutcome.SKIPPED_OVERLAP).scheduled_for == at(1)


def test_a_paused_batch_counts_as_running_for_overlap(recorder, clock):
    workflow = save(every_minute())
    clock.move_to(at(0, 1), tick=False)
    tick()
    first = Batch.objects.get(workflow=workflow)
    batch_pause(batch_id=first.pk, actor=machine())
    recorder.drain()  # its message finds nothing queued: the pause held it
    clock.move_to(at(1, 1), tick=False)
    tick()
    assert Batch.objects.filter(workflow=workflow).count() == 1
    assert Fire.objects.get(outcome=FireOutcome.SKIPPED_OVERLAP).scheduled_for == at(1)


def test_overlap_queue_starts_when_the_earlier_batch_ends(recorder, clock):
    workflow = save(every_minute(overlap_policy="queue"))
    clock.move_to(at(0, 1), tick=False)
    tick()
    clock.move_to(at(1, 1), tick=False)
    tick()
    assert Fire.objects.filter(outcome=FireOutcome.QUEUED).count() == 1
    recorder.drain()  # the first batch ends
    clock.move_to(at(1, 2), tick=False)
    tick()
    assert sorted(Batch.objects.filter(workflow=workflow).values_list("scheduled_for", flat=True)) == [at(0), at(1)]
    assert not Fire.objects.filter(outcome=FireOutcome.QUEUED).exists()


def test_overlap_parallel_starts_beside_the_running_batch(recorder, clock):
    workflow = save(every_minute(overlap_policy="parallel"))
    for minute in range(2):
        clock.move_to(at(minute, 1), tick=False)
        tick()
    assert Batch.objects.filter(workflow=workflow, status="running").count() == 2


def test_trigger_edit_takes_effect_on_the_next_tick(recorder, clock):
    document = every_minute(overlap_policy="parallel")
    save(document)
    document["trigger"] = {"type": "cron", "expression": "0 30 9 * * ?", "timezone": "UTC"}
    save(document)
    assert Schedule.objects.get().next_fire_at == at(30)
    clock.move_to(at(5), tick=False)
    tick()
    assert not Batch.objects.exists()


def test_deleted_workflow_stops_firing(recorder, clock):
    workflow = save(every_minute())
    workflow_delete(workflow=workflow, actor=machine())
    clock.move_to(at(3), tick=False)
    tick()
    assert not Batch.objects.exists() and not Schedule.objects.exists()


def test_standalone_task_fires_runs_of_its_own_and_loses_its_trigger_in_a_workflow(recorder, clock):
    team = Team.objects.create(name="ops")
    trigger = {"type": "cron", "expression": "0 * * * * ?", "timezone": "UTC"}
    task = task_save(
        document={
            "team": team.name,
            "name": "ping",
            "kind": "shell",
            "config": {"script": "echo pong"},
            "trigger": trigger,
        },
        actor=machine(),
    )
    clock.move_to(at(0, 1), tick=False)
    tick()
    run = Batch.objects.get(task=task)
    assert (run.scheduled_for, run.trigger, run.workflow_id) == (at(0), "cron", None)
    recorder.drain()
    run.refresh_from_db()
    assert run.status == "succeeded" and run.node_runs.get().output.strip() == "pong"
    save(
        {
            "name": "uses-ping",
            "team": "ops",
            "nodes": [{"key": "p", "type": "task", "task": "ping"}],
            "edges": [{"from": "start", "to": "p"}],
        }
    )
    task.refresh_from_db()
    assert task.trigger == {"type": "none"} and not Schedule.objects.filter(task=task).exists()


def test_two_schedulers_side_by_side_start_each_fire_once(recorder, clock):
    for index in range(5):
        save(every_minute(f"w{index}", overlap_policy="parallel"))
    errors: list[BaseException] = []

    def scheduler(now: datetime) -> None:
        try:
            tick(now=now)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    for minute in range(4):
        now = at(minute, 0.5)
        clock.move_to(now, tick=False)
        threads = [threading.Thread(target=scheduler, args=(now,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    for index in range(5):
        fires = sorted(Batch.objects.filter(workflow__name=f"w{index}").values_list("scheduled_for", flat=True))
        assert fires == [at(m) for m in range(4)], index


def test_schedule_sync_is_idempotent_for_an_unchanged_trigger(recorder, clock):
    workflow = save(every_minute())
    first = Schedule.objects.get().next_fire_at
    clock.move_to(at(0, 30), tick=False)
    schedule_sync(workflow=workflow)
    assert Schedule.objects.get().next_fire_at == first


def test_stopped_batch_frees_the_workflow_for_the_next_fire(recorder, clock):
    workflow = save(every_minute())
    clock.move_to(at(0, 1), tick=False)
    tick()
    batch_stop(batch_id=Batch.objects.get().pk, actor=machine())
    recorder.drain()
    clock.move_to(at(1, 1), tick=False)
    tick()
    assert Batch.objects.filter(workflow=workflow).count() == 2


def test_task_outside_any_workflow_keeps_team_unique_names():
    team = Team.objects.create(name="ops")
    task_save(
        document={"team": team.name, "name": "ping", "kind": "shell", "config": {"script": "true"}}, actor=machine()
    )
    task_save(
        document={"team": team.name, "name": "ping", "kind": "shell", "config": {"script": "false"}}, actor=machine()
    )
    assert Task.objects.get().config == {"script": "false"}


def test_a_fire_another_scheduler_already_started_is_left_out_of_the_chunk(recorder, clock):
    from executions.lifecycle import batch_start

    workflows = [save(every_minute(f"w{i}", overlap_policy="parallel")) for i in range(3)]
    batch_start(workflow=workflows[1], scheduled_for=at(0), actor=machine())  # the other scheduler won this fire
    clock.move_to(at(0, 1), tick=False)
    result = tick()
    assert result.started == 2
    for workflow in workflows:
        assert list(Batch.objects.filter(workflow=workflow).values_list("scheduled_for", flat=True)) == [at(0)]
    assert Fire.objects.filter(outcome=FireOutcome.STARTED).count() == 2


# --- the lookahead: claimed ahead of the fire, started at it --------------------------------


def _tick_timed() -> tuple[float, object]:
    began = time.monotonic()
    result = tick()
    return time.monotonic() - began, result


def test_a_fire_due_within_the_lookahead_is_claimed_now_and_started_no_earlier_than_its_time(recorder, clock):
    workflow = save(every_minute(overlap_policy="parallel"))
    clock.move_to(at(0, -0.4), tick=True)  # 0.4 s before the fire; the clock runs
    elapsed, result = _tick_timed()
    assert result.started == 1 and result.waited > 0.2 and elapsed < 1.0
    batch = Batch.objects.get(workflow=workflow)
    assert batch.scheduled_for == at(0)
    # Everything it recorded says when it really started: at or after the fire, never before.
    assert batch.created_at >= at(0) and batch.deadline_at >= at(0) + timedelta(seconds=1)
    assert all(moment >= at(0) for moment in batch.events.values_list("at", flat=True))
    assert all(moment >= at(0) for moment in batch.node_runs.values_list("queued_at", flat=True))
    fire = Fire.objects.get()
    assert (fire.outcome, fire.batch_id) == (FireOutcome.STARTED, batch.pk) and fire.recorded_at >= at(0)
    assert 0 <= result.lateness[0] < 0.5
    assert Schedule.objects.get().next_fire_at == at(1)


def test_two_schedulers_looking_ahead_at_the_same_fire_start_it_once(recorder, clock):
    for index in range(3):
        save(every_minute(f"w{index}", overlap_policy="parallel"))
    clock.move_to(at(0, -0.4), tick=True)
    errors: list[BaseException] = []
    results = []

    def scheduler() -> None:
        try:
            results.append(tick())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.started for r in results) == 3
    for index in range(3):
        batches = list(Batch.objects.filter(workflow__name=f"w{index}").values_list("scheduled_for", "created_at"))
        assert len(batches) == 1 and batches[0][0] == at(0) and batches[0][1] >= at(0), index
    assert Fire.objects.count() == 3


def test_a_fire_beyond_the_lookahead_is_not_claimed(recorder, clock, settings):
    settings.BATON_SCHEDULER_LOOKAHEAD_SECONDS = 1.0
    save(every_minute(overlap_policy="parallel"))
    clock.move_to(at(0, -1.5), tick=False)
    elapsed, result = _tick_timed()
    assert (result.started, result.waited) == (0, 0.0) and elapsed < 0.5
    assert not Batch.objects.exists() and not Fire.objects.exists()
    row = Schedule.objects.get()
    assert (row.next_fire_at, row.last_fire_at) == (at(0), None)


def test_a_clock_that_does_not_reach_the_fire_within_the_lookahead_leaves_the_row_due(recorder, clock, settings):
    settings.BATON_SCHEDULER_LOOKAHEAD_SECONDS = 0.3
    workflow = save(every_minute(overlap_policy="parallel"))
    clock.move_to(at(0, -0.2), tick=False)  # the clock stands still: the fire never comes
    elapsed, result = _tick_timed()
    assert result.started == 0 and elapsed < 0.3 + 0.25  # waited no longer than the lookahead
    assert not Batch.objects.exists() and not Fire.objects.exists()
    assert Schedule.objects.get().next_fire_at == at(0)  # rolled back: still due
    clock.move_to(at(0, 0.1), tick=False)
    assert tick().started == 1
    assert Batch.objects.get(workflow=workflow).scheduled_for == at(0)


def test_the_overlap_policy_is_decided_after_the_wait(recorder, clock):
    workflow = save(every_minute())  # skip
    clock.move_to(at(0, 1), tick=False)
    tick()
    first = Batch.objects.get(workflow=workflow)
    clock.move_to(at(1, -0.5), tick=True)
    # The running batch ends while the tick waits for the 09:01 fire: that fire starts.
    stopper = threading.Timer(0.15, lambda: (batch_stop(batch_id=first.pk, actor=machine()), connection.close()))
    stopper.start()
    result = tick()
    stopper.join()
    assert (result.started, result.skipped) == (1, 0)
    assert sorted(Batch.objects.filter(workflow=workflow).values_list("scheduled_for", flat=True)) == [at(0), at(1)]
    assert not Fire.objects.filter(outcome=FireOutcome.SKIPPED_OVERLAP).exists()


# --- misfires: Quartz judges the earliest missed fire -----------------------------------------


def every_5_seconds(**extra) -> dict:
    trigger = {"type": "cron", "expression": "0/5 * * * * ?", "timezone": "UTC"}
    return chain_document("w", shell("w-a", "true"), trigger=trigger, overlap_policy="parallel", **extra)


@pytest.mark.parametrize(("policy", "batches"), [("fire_once_now", 1), ("skip", 0)])
def test_a_90_second_outage_of_a_5_second_trigger_is_one_misfire(recorder, clock, settings, policy, batches):
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 60
    clock.move_to(at(0, -2), tick=False)
    workflow = save(every_5_seconds(misfire_policy=policy))
    clock.move_to(at(0, 0.5), tick=False)
    assert tick().started == 1  # the 09:00:00 fire, on time
    clock.move_to(at(1, 30.5), tick=False)  # the scheduler was down from 09:00:01 to 09:01:30.5
    result = tick()
    late = list(
        Batch.objects.filter(workflow=workflow, scheduled_for__gt=at(0)).values_list("scheduled_for", flat=True)
    )
    assert (result.started, len(late)) == (batches, batches)
    if batches:
        assert late == [at(1, 30)]  # once, now: as the latest missed fire
        assert Fire.objects.get(outcome=FireOutcome.STARTED_LATE).batch.scheduled_for == at(1, 30)
    missed = Fire.objects.get(outcome=FireOutcome.MISSED)
    assert (missed.missed_count, missed.scheduled_for, missed.missed_until) == (18, at(0, 5), at(1, 30))
    assert Schedule.objects.get().next_fire_at == at(1, 35)  # the first fire after now


def test_a_30_second_outage_of_a_5_second_trigger_fires_each_late_fire(recorder, clock, settings):
    settings.BATON_MISFIRE_THRESHOLD_SECONDS = 60
    clock.move_to(at(0, -2), tick=False)
    workflow = save(every_5_seconds())
    clock.move_to(at(0, 0.5), tick=False)
    tick()
    clock.move_to(at(0, 30.5), tick=False)
    assert tick().started == 6
    fires = sorted(Batch.objects.filter(workflow=workflow).values_list("scheduled_for", flat=True))
    assert fires == [at(0, seconds) for seconds in range(0, 31, 5)]
    assert not Fire.objects.filter(outcome=FireOutcome.MISSED).exists()
    assert Schedule.objects.get().next_fire_at == at(0, 35)


# --- the `queue` overlap backlog --------------------------------------------------------------


def queue_four_fires(clock) -> object:
    """A `queue` workflow whose first batch runs on while four more fires come."""
    workflow = save(every_minute(overlap_policy="queue"))
    for minute in range(5):
        clock.move_to(at(minute, 1), tick=False)
        tick()
    return workflow


def outcomes(workflow) -> list[tuple[datetime, str]]:
    return sorted(Fire.objects.filter(workflow=workflow).values_list("scheduled_for", "outcome"))


def test_the_queue_backlog_is_bounded_and_fires_past_it_are_skipped(recorder, clock, settings):
    settings.BATON_OVERLAP_QUEUE_LIMIT = 2
    workflow = queue_four_fires(clock)
    assert outcomes(workflow) == [
        (at(0), "started"),
        (at(1), "queued"),
        (at(2), "queued"),
        (at(3), "skipped_backlog"),
        (at(4), "skipped_backlog"),
    ]
    recorder.drain()
    clock.move_to(at(4, 2), tick=False)
    tick()  # the oldest queued fire starts; the backlog has room again
    clock.move_to(at(5, 1), tick=False)
    tick()
    assert [outcome for _, outcome in outcomes(workflow)][1:] == [
        "started_late",
        "queued",
        "skipped_backlog",
        "skipped_backlog",
        "queued",
    ]


@pytest.mark.parametrize(
    "close",
    [
        lambda workflow: workflow_set_enabled(workflow=workflow, enabled=False, actor=machine()),
        lambda workflow: workflow_delete(workflow=workflow, actor=machine()),
        lambda workflow: save(every_minute(overlap_policy="skip")),
        lambda workflow: save({**every_minute(overlap_policy="queue"), "trigger": {"type": "none"}}),
    ],
    ids=["disabled", "deleted", "policy-no-longer-queue", "trigger-removed"],
)
def test_queued_fires_are_dropped_when_the_workflow_can_no_longer_fire(recorder, clock, close):
    workflow = queue_four_fires(clock)
    close(workflow)
    # Dropped in the same transaction, kept as a record.
    assert [outcome for _, outcome in outcomes(workflow)] == ["started"] + ["dropped"] * 4
    recorder.drain()  # the running batch ends
    clock.move_to(at(4, 30), tick=False)
    tick()
    assert Batch.objects.filter(workflow=workflow).count() == 1


def test_the_tick_drops_a_queued_fire_of_a_workflow_disabled_behind_its_back(recorder, clock):
    from workflows.models import Workflow

    workflow = queue_four_fires(clock)
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)  # e.g. a fire queued before this rule
    recorder.drain()
    clock.move_to(at(4, 30), tick=False)
    assert tick().started == 0
    assert Batch.objects.filter(workflow=workflow).count() == 1
    assert [outcome for _, outcome in outcomes(workflow)] == ["started"] + ["dropped"] * 4
