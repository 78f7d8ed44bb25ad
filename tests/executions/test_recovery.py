"""The operator's recovery actions in-process (dispatches drained here): the services, their refusals, the plans, the CLI.

The same actions on a real worker, from the CLI and the API: test_recovery_e2e.
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from access.models import AuditEntry
from baton import errors
from executions import actions, kinds, lifecycle
from executions.models import Batch, NodeRun
from executions.states import BatchStatus, NodeStatus
from tests.conftest import machine
from tests.executions.conftest import chain_document, shell, start, states
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def branching(marker: Path) -> dict:
    """a fails (b on its success, r on its failure); w waits for `marker`, so the batch runs on meanwhile."""
    document = chain_document("w", shell("a", "exit 3"), shell("b", "echo b"))
    document["nodes"] += [
        {"key": "r", "type": "task", "task": shell("r", "echo rollback")},
        {"key": "w", "type": "task", "task": shell("w", f"test -e {marker}")},
    ]
    document["edges"] += [{"from": "n0", "to": "r", "on": "failure"}, {"from": "start", "to": "w"}]
    return document


def test_the_table_in_decisions_md_is_the_one_the_code_checks():
    assert actions.table_markdown() in (REPO / "docs" / "decisions.md").read_text()


def test_every_action_refuses_with_the_tables_reason():
    assert (
        actions.refusal(actions.PAUSE, actions.SUCCEEDED, batch="B")
        == "batch B is succeeded: only a running batch can be paused"
    )
    assert actions.refusal(actions.SKIP, actions.RUNNING, batch="B", node="x", node_state="running") == (
        "node 'x' is running: only a pending node (not started yet) can be skipped"
    )
    assert actions.allowed(actions.MARK_SUCCEEDED, actions.FAILED, "timed_out")
    assert not actions.allowed(actions.MARK_SUCCEEDED, actions.STOPPING, "failed")
    assert actions.allowed(actions.STOP, actions.PAUSED) and not actions.allowed(actions.RERUN, actions.PAUSED)


def test_mark_succeeded_in_an_ended_batch_continues_it_keeping_every_other_result(recorder):
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", "echo broken; exit 1"), shell("c", "echo c")))
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    plan = lifecycle.action_plan(actions.MARK_SUCCEEDED, batch, "n1")
    assert (plan.kept, plan.will_run, plan.new_batch) == (("n0", "n1"), ("n2",), True)
    with pytest.raises(errors.Invalid, match="give a reason"):
        lifecycle.node_mark_succeeded(batch_id=batch.pk, node_key="n1", actor=machine(), reason=" ")
    new = lifecycle.node_mark_succeeded(batch_id=batch.pk, node_key="n1", actor=machine(), reason="fixed by hand")
    recorder.drain()
    new.refresh_from_db()
    assert new.pk != batch.pk and new.rerun_of_id == batch.pk and new.status == BatchStatus.SUCCEEDED
    marked = new.node_runs.get(node_key="n1")
    assert (marked.status, marked.attempts, marked.output) == ("succeeded", 1, "broken\n")
    assert marked.set_by and marked.set_reason == "fixed by hand"
    assert new.node_runs.get(node_key="n0").attempts == 1  # kept, not run again
    entry = AuditEntry.objects.get(action="node.mark_succeeded")
    assert entry.object_id == batch.pk and entry.after["reason"] == "fixed by hand" and entry.after["batch"] == new.pk
    with pytest.raises(errors.TransitionNotPossible, match="'n1' is succeeded: only a failed"):
        lifecycle.node_mark_succeeded(batch_id=new.pk, node_key="n1", actor=machine(), reason="again")


def test_mark_succeeded_in_a_running_batch_fires_the_success_edges(recorder, tmp_path):
    marker = tmp_path / "go"
    batch = start(branching(marker))
    run_w = batch.node_runs.get(node_key="w")
    sent = list(recorder.sent)
    recorder.sent.clear()
    for run_id, _queue, _ in sent:
        if run_id != run_w.pk:
            lifecycle.node_run_execute(node_run_id=run_id)
    recorder.drain()  # r, the rollback, ran on a's failure
    assert states(batch) == {"n0": "failed", "n1": "skipped", "r": "succeeded", "w": "queued"}
    plan = lifecycle.action_plan(actions.MARK_SUCCEEDED, batch, "n0")
    assert (plan.will_run, plan.running, plan.new_batch) == (("n1",), ("w",), False)
    lifecycle.node_mark_succeeded(batch_id=batch.pk, node_key="n0", actor=machine(), reason="ok by hand")
    assert states(batch)["n1"] == "queued"
    marker.touch()
    recorder.drain()
    lifecycle.node_run_execute(node_run_id=run_w.pk)
    batch.refresh_from_db()
    assert states(batch) == {"n0": "succeeded", "n1": "succeeded", "r": "succeeded", "w": "succeeded"}
    assert batch.status == BatchStatus.SUCCEEDED
    a = batch.node_runs.get(node_key="n0")
    assert a.attempts == 1 and a.set_reason == "ok by hand"
    assert a.attempt_set.get().status == "failed"  # its real attempt is kept


def test_skip_a_pending_node_skips_what_follows_on_success(recorder):
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", "echo b"), shell("c", "echo c")))
    lifecycle.node_skip(batch_id=batch.pk, node_key="n1", actor=machine(), reason="not tonight")
    recorder.drain()
    batch.refresh_from_db()
    assert states(batch) == {"n0": "succeeded", "n1": "skipped", "n2": "skipped"}
    assert batch.status == BatchStatus.SUCCEEDED
    assert batch.node_runs.get(node_key="n1").set_reason == "not tonight"
    assert "skipped attempts=0 (set by cli:test: not tonight)" in command("show_batch", batch.pk)
    with pytest.raises(errors.TransitionNotPossible, match=r"batch .* is succeeded: only a node of a running"):
        lifecycle.node_skip(batch_id=batch.pk, node_key="n2", actor=machine())


def test_skip_refuses_a_queued_node_and_an_unknown_one(recorder):
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", "echo b")))
    with pytest.raises(errors.TransitionNotPossible, match="'n0' is queued: only a pending node"):
        lifecycle.node_skip(batch_id=batch.pk, node_key="n0", actor=machine())
    with pytest.raises(errors.TransitionNotPossible, match="has no node 'zz'"):
        lifecycle.node_skip(batch_id=batch.pk, node_key="zz", actor=machine())


def test_pause_holds_queued_nodes_and_continue_starts_them(recorder):
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", "echo b")))
    lifecycle.batch_pause(batch_id=batch.pk, actor=machine())
    assert states(batch) == {"n0": "pending", "n1": "pending"}
    recorder.drain()  # the message of n0 finds nothing to claim
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING and batch.paused_at is not None
    assert lifecycle.recover()["finished"] == 0  # the sweep leaves a paused batch as it is
    assert "(paused)" in command("show_batch", batch.pk)
    assert states(batch) == {"n0": "pending", "n1": "pending"}
    with pytest.raises(errors.TransitionNotPossible, match="is paused: only a running batch can be paused"):
        lifecycle.batch_pause(batch_id=batch.pk, actor=machine())
    lifecycle.batch_continue(batch_id=batch.pk, actor=machine())
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED and states(batch) == {"n0": "succeeded", "n1": "succeeded"}
    assert {e.action for e in AuditEntry.objects.filter(object_id=batch.pk)} >= {"batch.pause", "batch.continue"}


def test_a_node_finishing_while_paused_starts_nothing(recorder):
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", "echo b")))
    run_a = batch.node_runs.get(node_key="n0")
    claimed = lifecycle.node_run_claim(run_a.pk)
    assert claimed is not None
    lifecycle.batch_pause(batch_id=batch.pk, actor=machine())
    outcome = kinds.Outcome(status=kinds.SUCCEEDED, output="a\n")
    lifecycle.node_run_finish(run=claimed, outcome=outcome, retries=0, interval=0)
    assert states(batch) == {"n0": "succeeded", "n1": "pending"}
    lifecycle.batch_continue(batch_id=batch.pk, actor=machine())
    assert states(batch)["n1"] == "queued"


def test_the_timeout_still_ends_a_paused_batch(recorder):
    batch = start(chain_document("w", shell("a", "echo a")))
    lifecycle.batch_pause(batch_id=batch.pk, actor=machine())
    batch.refresh_from_db()
    lifecycle.recover(now=batch.deadline_at + timedelta(seconds=1))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TIMED_OUT and states(batch) == {"n0": "stopped"}


def test_rerun_from_a_node_keeps_the_rest_with_outputs(recorder, tmp_path):
    counter = tmp_path / "count"
    script = f'echo ran >> {counter}; echo "n=1" >> "$BATON_OUTPUT"'
    batch = start(chain_document("w", shell("a", script), shell("b", "echo b"), shell("c", "echo c")))
    recorder.drain()
    plan = lifecycle.rerun_plan(batch=batch, from_node="n1")
    assert (plan.kept, plan.will_run, plan.version_choice) == (("n0",), ("n1", "n2"), "original")
    new = lifecycle.batch_rerun(batch_id=batch.pk, actor=machine(), from_node="n1")
    recorder.drain()
    new.refresh_from_db()
    assert new.status == BatchStatus.SUCCEEDED and counter.read_text() == "ran\n"
    kept = new.node_runs.get(node_key="n0")
    assert kept.outputs == {"n": "1"} and kept.detail["kept_from"] == batch.pk
    assert AuditEntry.objects.get(action="batch.rerun_from").after["from_node"] == "n1"


def test_rerun_from_a_node_on_the_current_version(recorder):
    document = chain_document("w", shell("a", "echo a"), shell("b", "echo v1"))
    batch = start(document)
    recorder.drain()
    document["nodes"][1]["task"]["config"]["script"] = "echo v2"
    workflow_save_definition(document=document, actor=machine())
    assert lifecycle.rerun_plan(batch=batch, from_node="n1", version="current").version == 2
    new = lifecycle.batch_rerun(batch_id=batch.pk, actor=machine(), from_node="n1", version="current")
    recorder.drain()
    new.refresh_from_db()
    assert new.version.number == 2 and new.node_runs.get(node_key="n1").output == "v2\n"
    original = lifecycle.batch_rerun(batch_id=batch.pk, actor=machine(), from_node="n1")
    recorder.drain()
    assert Batch.objects.get(pk=original.pk).version.number == 1
    assert original.node_runs.get(node_key="n1").output == "v1\n"


def test_a_logic_node_that_became_a_task_is_not_kept_by_a_rerun_on_the_current_version(recorder):
    """v1's AND node `gate` is a task in v2: it never ran as a task, so a re-run from b on v2 runs it."""
    document = {
        "name": "w",
        "team": "t",
        "nodes": [
            {"key": "a", "type": "task", "task": shell("a", "echo a")},
            {"key": "gate", "type": "and"},
            {"key": "b", "type": "task", "task": shell("b", "echo b")},
        ],
        "edges": [
            {"from": "start", "to": "a"},
            {"from": "a", "to": "gate", "on": "success"},
            {"from": "gate", "to": "b"},
        ],
    }
    batch = start(document)
    recorder.drain()
    assert Batch.objects.get(pk=batch.pk).status == BatchStatus.SUCCEEDED
    document["nodes"][1] = {"key": "gate", "type": "task", "task": shell("gate", "echo gate-task")}
    document["edges"][2]["on"] = "success"
    workflow_save_definition(document=document, actor=machine())

    plan = lifecycle.rerun_plan(batch=batch, from_node="b", version="current")
    assert plan.kept == ("a",) and plan.will_run == ("gate", "b")  # not kept with the AND node's "succeeded"
    new = lifecycle.batch_rerun(batch_id=batch.pk, actor=machine(), from_node="b", version="current")
    recorder.drain()
    assert states(Batch.objects.get(pk=new.pk)) == {"a": "succeeded", "gate": "succeeded", "b": "succeeded"}
    assert new.node_runs.get(node_key="gate").output == "gate-task\n"
    resumed = lifecycle.rerun_plan(batch=batch, resume=True, version="current")
    assert "gate" not in resumed.kept  # a resume on the current version does not keep it either


def test_rerun_from_refusals(recorder):
    running = start(chain_document("w", shell("a", "echo a"), shell("b", "echo b")))
    with pytest.raises(errors.TransitionNotPossible, match="still running"):
        lifecycle.batch_rerun(batch_id=running.pk, actor=machine(), from_node="n1")
    recorder.drain()
    with pytest.raises(errors.TransitionNotPossible, match="has no node 'zz'"):
        lifecycle.batch_rerun(batch_id=running.pk, actor=machine(), from_node="zz")
    with pytest.raises(errors.TransitionNotPossible, match="version must be original or current"):
        lifecycle.batch_rerun(batch_id=running.pk, actor=machine(), from_node="n1", version="v9")


def test_cli_plans_print_what_runs_and_what_is_kept(recorder):
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", "exit 1"), shell("c", "echo c")))
    recorder.drain()
    text = command("rerun_batch", batch.pk, "--from", "n1", "--plan")
    assert f"plan: re-run of batch {batch.pk} from node n1, in a new batch, on version 1 (original)" in text
    assert "kept:      n0 (succeeded)" in text and "will run:  n1, n2" in text
    plan = json.loads(command("mark_succeeded", batch.pk, "n1", "--plan", "--json"))
    assert plan["kept"] == ["n0", "n1"] and plan["will_run"] == ["n2"]
    with pytest.raises(CommandError, match="'n0' is succeeded"):
        command("mark_succeeded", batch.pk, "n0", "--plan")
    with pytest.raises(CommandError, match="only a node of a running or paused batch"):
        command("skip_node", batch.pk, "n2")
    assert not Batch.objects.exclude(pk=batch.pk).exists()  # a plan starts nothing


def test_operator_moves_are_not_the_hops():
    from executions.states import NODE_TRANSITIONS, OPERATOR_TRANSITIONS

    assert all(
        to not in NODE_TRANSITIONS[current]
        for current, tos in OPERATOR_TRANSITIONS.items()
        for to in tos
        if current != NodeStatus.PENDING
    )
    assert NodeRun._meta.get_field("set_by").blank
