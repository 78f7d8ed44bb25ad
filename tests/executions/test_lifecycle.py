"""The lifecycle services, driven in-process: transitions, retries, timeouts, stop, re-run, recovery, continuation."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone

from baton import errors
from executions import lifecycle
from executions.models import Attempt, Batch, Event, NodeRun
from executions.states import BatchStatus, NodeStatus
from tests.conftest import example, machine
from tests.executions.conftest import chain_document, join_document, python, shell, start, states

pytestmark = pytest.mark.django_db(transaction=True)


def test_release_pipeline_succeeds_node_by_node(recorder):
    batch = start(example("release-pipeline.json"))
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED
    assert states(batch) == {
        "pull": "succeeded",
        "scan": "succeeded",
        "unit": "succeeded",
        "checks": "succeeded",
        "build": "succeeded",
        "deploy": "succeeded",
        "rollback": "skipped",
        "notify": "skipped",
    }


def test_failed_core_node_fails_the_batch_and_runs_rollback(recorder):
    document = example("release-pipeline.json")
    document["nodes"][5]["task"]["config"]["script"] = "exit 1"
    batch = start(document)
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    assert states(batch)["deploy"] == "failed" and states(batch)["rollback"] == "succeeded"


def test_every_transition_is_an_event(recorder):
    batch = start(chain_document("w", shell("a", "true"), shell("b", "true")))
    recorder.drain()
    trail = list(Event.objects.filter(batch=batch, node_key="n1").values_list("from_status", "to_status"))
    assert trail == [("", "pending"), ("pending", "queued"), ("queued", "running"), ("running", "succeeded")]
    assert Event.objects.filter(batch=batch, node_key="", to_status="succeeded").count() == 1


def test_retries_record_every_attempt_then_fail(recorder):
    batch = start(chain_document("w", shell("flaky", "echo try; exit 3", retries=2)))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch, node_key="n0")
    assert (run.status, run.attempts) == (NodeStatus.FAILED, 3)
    assert list(Attempt.objects.filter(node_run=run).values_list("status", flat=True)) == ["failed"] * 3
    assert run.detail["exit_code"] == 3 and "try" in run.output
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED


def test_retry_succeeds_on_a_later_attempt(recorder, tmp_path):
    marker = tmp_path / "seen"
    script = f"if [ -e {marker} ]; then echo second; else touch {marker}; exit 1; fi"
    batch = start(chain_document("w", shell("flaky", script, retries=1)))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch, node_key="n0")
    assert (run.status, run.attempts, run.output.strip()) == (NodeStatus.SUCCEEDED, 2, "second")


def test_task_timeout_is_timed_out_and_fires_the_failure_edge(recorder):
    document = chain_document("w", shell("slow", "sleep 20", timeout_seconds=1))
    document["nodes"].append({"key": "cleanup", "type": "task", "task": shell("cleanup", "echo cleanup")})
    document["edges"].append({"from": "n0", "to": "cleanup", "on": "failure"})
    batch = start(document)
    recorder.drain()
    batch.refresh_from_db()
    assert states(batch) == {"n0": "timed_out", "cleanup": "succeeded"}
    assert batch.status == BatchStatus.FAILED


def test_python_builtins_run_and_fail(recorder):
    batch = start(
        chain_document("w", python("hi", "baton.echo", message="hello"), python("boom", "baton.fail", message="nope"))
    )
    recorder.drain()
    runs = {r.node_key: r for r in NodeRun.objects.filter(batch=batch)}
    assert runs["n0"].status == "succeeded" and "hello" in runs["n0"].output
    assert runs["n1"].status == "failed" and "nope" in runs["n1"].output


def test_second_delivery_of_a_message_does_not_run_the_node_twice(recorder):
    batch = start(chain_document("w", shell("a", "echo once")))
    run_id, _, _ = recorder.sent[0]
    recorder.drain()
    assert lifecycle.node_run_execute(node_run_id=run_id) is None
    assert NodeRun.objects.get(pk=run_id).attempts == 1
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED


def test_stop_stops_pending_and_queued_runs_and_ends_the_batch(recorder):
    batch = start(chain_document("w", shell("a", "true"), shell("b", "true")))
    lifecycle.batch_stop(batch_id=batch.pk, actor=machine())
    recorder.drain()  # the queued message arrives after the stop: it must not start
    batch.refresh_from_db()
    assert batch.status == BatchStatus.STOPPED
    assert states(batch) == {"n0": "stopped", "n1": "stopped"}
    assert NodeRun.objects.get(batch=batch, node_key="n0").attempts == 0


def test_stop_of_a_finished_batch_is_refused(recorder):
    batch = start(chain_document("w", shell("a", "true")))
    recorder.drain()
    with pytest.raises(errors.TransitionNotPossible, match="succeeded, not running"):
        lifecycle.batch_stop(batch_id=batch.pk, actor=machine())


def test_batch_deadline_is_enforced_by_the_recovery_sweep(recorder):
    batch = start(chain_document("w", shell("a", "true")))
    Batch.objects.filter(pk=batch.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    counts = lifecycle.recover()
    assert counts["timed_out"] == 1
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TIMED_OUT and states(batch) == {"n0": "stopped"}


def test_lost_message_is_redispatched_by_the_sweep(recorder, settings):
    batch = start(chain_document("w", shell("a", "true")))
    recorder.sent.clear()  # the broker lost the message
    later = timezone.now() + timedelta(seconds=settings.BATON_REDISPATCH_SECONDS + 1)
    assert lifecycle.recover(now=later)["redispatched"] == 1
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED


def test_the_sweep_backs_off_resending_a_run_that_waits_in_a_backlog(recorder, settings):
    settings.BATON_REDISPATCH_SECONDS = 30
    batch = start(chain_document("w", python("a", "baton.noop")))
    run = NodeRun.objects.get(batch=batch)
    recorder.sent.clear()
    t0 = run.queued_at

    def resent_at(seconds: float) -> int:
        recorder.sent.clear()
        lifecycle.recover(now=t0 + timedelta(seconds=seconds))
        return len(recorder.sent)

    # Re-sent after 30 s of waiting, then after gaps of 30, 60, 120 s; queued_at stays the real one.
    assert [resent_at(s) for s in (29, 31, 60, 62, 121, 123, 242, 244)] == [0, 1, 0, 1, 0, 1, 0, 1]
    run.refresh_from_db()
    assert run.queued_at == t0 and run.resent == 4
    # A claim resets the back-off: the next wait (a retry) starts again at 30 s.
    claimed = lifecycle.node_run_claim(run.pk)
    run.refresh_from_db()
    assert claimed is not None and (run.resent, run.resend_at) == (0, None)


def test_dead_worker_is_detected_and_the_retry_policy_applies(recorder, settings):
    batch = start(chain_document("w", shell("a", "true", retries=1)))
    run = NodeRun.objects.get(batch=batch)
    recorder.sent.clear()
    lifecycle.node_run_claim(run.pk)  # a worker claimed it, then died without a heartbeat
    later = timezone.now() + timedelta(seconds=settings.BATON_WORKER_LOST_SECONDS + 1)
    assert lifecycle.recover(now=later)["worker_lost"] == 1
    run.refresh_from_db()
    assert run.status == NodeStatus.RETRYING and run.detail["error"] == "worker_lost"
    recorder.drain()
    run.refresh_from_db()
    assert (run.status, run.attempts) == (NodeStatus.SUCCEEDED, 2)


def test_rerun_makes_a_linked_batch_on_the_same_version(recorder):
    document = chain_document("w", shell("a", "true"))
    first = start(document)
    recorder.drain()
    document["nodes"][0]["task"]["config"]["script"] = "exit 1"
    from workflows.services import workflow_save_definition

    workflow_save_definition(document=document, actor=machine())
    second = lifecycle.batch_rerun(batch_id=first.pk, actor=machine())
    recorder.drain()
    second.refresh_from_db()
    assert second.rerun_of_id == first.pk and second.version_id == first.version_id
    assert second.trigger == "rerun" and second.status == BatchStatus.SUCCEEDED


def test_resume_keeps_succeeded_nodes_and_runs_the_rest(recorder, tmp_path):
    marker = tmp_path / "fixed"
    document = chain_document("w", shell("a", "echo a"), shell("b", f"test -e {marker}"), shell("c", "echo c"))
    first = start(document)
    recorder.drain()
    first.refresh_from_db()
    assert first.status == BatchStatus.FAILED
    plan = lifecycle.rerun_plan(batch=first, resume=True)
    assert plan.kept == ("n0",) and plan.will_run == ("n1", "n2")
    marker.touch()
    resumed = lifecycle.batch_rerun(batch_id=first.pk, resume=True, actor=machine())
    recorder.drain()
    resumed.refresh_from_db()
    assert resumed.status == BatchStatus.SUCCEEDED and resumed.trigger == "resume"
    kept = NodeRun.objects.get(batch=resumed, node_key="n0")
    assert kept.detail["kept_from"] == first.pk and kept.attempts == 1
    assert len(recorder.history) == 2 + 2  # first: n0, n1 (n2 skipped); resumed: only n1 and n2


def test_rerun_of_a_running_batch_is_refused(recorder):
    batch = start(chain_document("w", shell("a", "true")))
    with pytest.raises(errors.TransitionNotPossible):
        lifecycle.batch_rerun(batch_id=batch.pk, actor=machine())


@pytest.mark.parametrize("resume", [False, True])
def test_rerun_of_a_deleted_workflows_batch_is_refused(recorder, resume):
    from workflows.services import workflow_delete

    first = start(chain_document("w", shell("a", "true"), shell("b", "exit 1")))
    recorder.drain()
    workflow_delete(workflow=first.workflow, actor=machine())
    with pytest.raises(errors.BatonError, match="'w' is deleted"):
        lifecycle.batch_rerun(batch_id=first.pk, resume=resume, actor=machine())
    assert list(Batch.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_finished_task_survives_a_database_blip(monkeypatch):
    from django.db import OperationalError

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return "recorded"

    monkeypatch.setattr("executions.lifecycle.run.time.sleep", lambda seconds: None)
    assert lifecycle.surviving_database_loss(flaky) == "recorded" and len(calls) == 3
    with pytest.raises(OperationalError):
        lifecycle.surviving_database_loss(lambda: (_ for _ in ()).throw(OperationalError("down")), attempts=2)


def test_a_hop_costs_a_handful_of_queries(recorder):
    from contextlib import contextmanager

    from django.db import connection

    from executions import kinds

    @contextmanager
    def statements():
        seen: list[str] = []

        def wrapper(execute, sql, params, many, context):
            if not sql.lstrip().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT")):
                seen.append(sql.split()[0])
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            yield seen

    start(chain_document("w", shell("a", "true"), shell("b", "true")))
    run_id, _, _ = recorder.sent.popleft()
    with statements() as claim:
        run = lifecycle.node_run_claim(run_id)
    outcome = kinds.Outcome(status="succeeded", output="", detail={})
    with statements() as finish:
        lifecycle.node_run_finish(run=run, outcome=outcome, retries=0, interval=0)

    if connection.vendor == "postgresql":
        # claim: one statement (guarded update + event); a finish whose successor depends on
        # nothing else: one statement (lock, guarded update, attempt, successor, events).
        assert claim == ["WITH"]
        assert finish == ["WITH"]
    else:
        # claim: read the run, guarded update, one event; finish: lock the batch, guarded update,
        # the attempt, read the states, queue the successor, the events in one insert.
        assert claim == ["SELECT", "UPDATE", "INSERT"]
        assert finish == ["SELECT", "UPDATE", "INSERT", "SELECT", "UPDATE", "INSERT"]
    # Both paths leave the same record: a's attempt and events, b queued.
    a = NodeRun.objects.get(pk=run_id)
    assert (a.status, a.attempts, a.attempt_set.get().status) == ("succeeded", 1, "succeeded")
    assert list(a.events.values_list("from_status", "to_status")) == [
        ("", "pending"),
        ("pending", "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    b = NodeRun.objects.get(batch=a.batch, node_key="n1")
    assert b.status == "queued" and b.events.last().from_status == "pending"


# --- continuation: a worker runs the successor it queued itself ---------------------------


def test_a_chain_continues_in_the_same_worker_without_broker_messages(recorder):
    batch = start(chain_document("w", python("a", "baton.noop"), python("b", "baton.noop"), python("c", "baton.noop")))
    first, _, _ = recorder.sent.popleft()
    assert lifecycle.node_run_execute(node_run_id=first, continue_for=5) == "succeeded"
    batch.refresh_from_db()
    assert batch.status == "succeeded"
    assert states(batch) == {"n0": "succeeded", "n1": "succeeded", "n2": "succeeded"}
    assert recorder.history == [first]  # n1 and n2 never went through the broker
    # The record is the same as through the broker: queued, then claimed, one attempt each.
    n2 = batch.node_runs.get(node_key="n2")
    assert list(n2.events.values_list("to_status", flat=True)) == ["pending", "queued", "running", "succeeded"]
    assert n2.attempt_set.count() == 1


def test_without_continuation_every_successor_goes_through_the_broker(recorder):
    batch = start(chain_document("w", python("a", "baton.noop"), python("b", "baton.noop")))
    first, _, _ = recorder.sent.popleft()
    lifecycle.node_run_execute(node_run_id=first, continue_for=0)
    n1 = batch.node_runs.get(node_key="n1")
    assert n1.status == "queued" and [run_id for run_id, _, _ in recorder.sent] == [n1.pk]


def test_continuation_hands_back_to_the_broker_when_its_time_is_up(recorder):
    batch = start(chain_document("w", python("a", "baton.noop"), python("b", "baton.noop"), python("c", "baton.noop")))
    first, _, _ = recorder.sent.popleft()
    lifecycle.node_run_execute(node_run_id=first, continue_for=1e-9)  # a has run: the budget is spent
    n1 = batch.node_runs.get(node_key="n1")
    assert n1.status == "queued" and [run_id for run_id, _, _ in recorder.sent] == [n1.pk]
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == "succeeded"


def test_a_fan_out_continues_with_one_branch_and_sends_the_others(recorder):
    document = {
        "name": "fan",
        "team": "t",
        "nodes": [{"key": k, "type": "task", "task": python(k, "baton.noop")} for k in ("a", "b", "c", "d")],
        "edges": [{"from": "start", "to": "a"}, *({"from": "a", "to": k, "on": "success"} for k in ("b", "c", "d"))],
    }
    batch = start(document)
    first, _, _ = recorder.sent.popleft()
    lifecycle.node_run_execute(node_run_id=first, continue_for=5)
    sent = [run_id for run_id, _, _ in recorder.sent]
    ran_here = [r for r in batch.node_runs.filter(node_key__in=["b", "c", "d"]) if r.status == "succeeded"]
    assert len(sent) == 2 and len(ran_here) == 1 and ran_here[0].pk not in sent
    recorder.drain()
    assert set(states(batch).values()) == {"succeeded"}


def test_a_successor_on_another_queue_is_sent_to_that_queue(recorder):
    batch = start(chain_document("w", python("a", "baton.noop"), {**python("b", "baton.noop"), "queue": "deploy"}))
    first, _, _ = recorder.sent.popleft()
    lifecycle.node_run_execute(node_run_id=first, continue_for=5)
    n1 = batch.node_runs.get(node_key="n1")
    assert n1.status == "queued" and list(recorder.sent) == [(n1.pk, "deploy", None)]


def test_a_finish_into_a_join_reads_the_batch_and_asks_the_engine(recorder):
    from django.db import connection

    from executions import kinds

    batch = start(join_document())
    runs = [lifecycle.node_run_claim(run_id) for run_id, _, _ in list(recorder.sent)]
    recorder.sent.clear()
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql.split()[0])
        return execute(sql, params, many, context)

    outcome = kinds.Outcome(status="succeeded", output="", detail={})
    with connection.execute_wrapper(wrapper):
        lifecycle.node_run_finish(run=runs[0], outcome=outcome, retries=0, interval=0)
    assert states(batch)["c"] == "pending"
    if connection.vendor == "postgresql":
        assert seen == ["SELECT", "WITH"]  # lock; record + read the states; nothing to apply yet
    lifecycle.node_run_finish(run=runs[1], outcome=outcome, retries=0, interval=0)
    assert states(batch) == {"a": "succeeded", "b": "succeeded", "j": "succeeded", "c": "queued"}
    assert [run_id for run_id, _, _ in recorder.sent] == [batch.node_runs.get(node_key="c").pk]


def test_a_chain_finish_after_a_stop_request_queues_nothing(recorder):
    from executions import kinds

    batch = start(chain_document("w", python("a", "baton.noop"), python("b", "baton.noop")))
    run = lifecycle.node_run_claim(recorder.sent.popleft()[0])
    lifecycle.batch_stop(batch_id=batch.pk, actor=machine())
    outcome = kinds.Outcome(status="succeeded", output="", detail={})
    assert lifecycle.node_run_finish(run=run, outcome=outcome, retries=0, interval=0).status == "succeeded"
    batch.refresh_from_db()
    assert batch.status == "stopped" and states(batch) == {"n0": "succeeded", "n1": "stopped"}
    assert not recorder.sent


@pytest.mark.parametrize("commits", [True, False])
def test_a_wake_up_sent_before_the_commit_is_claimed_only_once_it_commits(recorder, commits):
    """On PostgreSQL a finish sends its successors' wake-ups before it commits: the claim waits."""
    import threading
    import time

    from django.db import connection, transaction

    from executions import kinds

    if connection.vendor != "postgresql":
        pytest.skip("the SQLite path sends wake-ups after the commit")
    batch = start(chain_document("w", python("a", "baton.noop"), python("b", "baton.noop")))
    run = lifecycle.node_run_claim(recorder.sent.popleft()[0])
    result: dict = {}

    def claimer(run_id: int) -> None:
        try:
            t0 = time.monotonic()
            result["claimed"] = lifecycle.node_run_claim(run_id)
            result["waited"] = time.monotonic() - t0
        finally:
            connection.close()

    class Abort(Exception):
        pass

    outcome = kinds.Outcome(status="succeeded", output="", detail={})
    with pytest.raises(Abort) if not commits else contextlib.nullcontext(), transaction.atomic():
        lifecycle.node_run_finish(run=run, outcome=outcome, retries=0, interval=0)
        ((run_id, _, _),) = recorder.sent  # sent, not yet committed
        thread = threading.Thread(target=claimer, args=(run_id,))
        thread.start()
        time.sleep(0.4)
        assert thread.is_alive()  # the claim waits for this transaction
        if not commits:
            raise Abort
    thread.join(10)
    b = batch.node_runs.get(node_key="n1")
    if commits:
        assert result["claimed"] is not None and result["waited"] >= 0.3 and b.status == "running"
    else:
        assert result["claimed"] is None and b.status == "pending"  # the stray wake-up is dropped


def test_a_broker_down_at_a_finish_does_not_lose_the_result_or_the_wake_up(monkeypatch):
    """The send before the commit fails: the finish still commits and the wake-up goes after it."""
    from django.db import connection

    from executions import dispatch, kinds

    calls: list[tuple[bool, list]] = []

    def flaky(runs, countdown):
        calls.append((connection.in_atomic_block, list(runs)))
        if connection.in_atomic_block:
            raise ConnectionError("broker down")

    monkeypatch.setattr(dispatch, "backend", flaky)
    batch = start(chain_document("w", python("a", "baton.noop"), python("b", "baton.noop")))
    run = lifecycle.node_run_claim(calls[-1][1][0][0])
    outcome = kinds.Outcome(status="succeeded", output="", detail={})
    assert lifecycle.node_run_finish(run=run, outcome=outcome, retries=0, interval=0).status == "succeeded"
    b = batch.node_runs.get(node_key="n1")
    assert states(batch) == {"n0": "succeeded", "n1": "queued"}
    assert calls[-1] == (False, [(b.pk, b.queue)])  # sent again once committed


def test_a_send_inside_a_transaction_does_not_retry_the_broker(monkeypatch):
    from celery import current_app
    from django.db import transaction

    from executions import dispatch

    sent: list[tuple] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs)))
    dispatch.send([(1, "")])
    with transaction.atomic():
        dispatch.send([(2, "deploy")])
    assert [(name, s["args"], s["queue"], s["retry"]) for name, s in sent] == [
        ("baton.run_node", (1,), "default", True),
        ("baton.run_node", (2,), "deploy", False),
    ]
