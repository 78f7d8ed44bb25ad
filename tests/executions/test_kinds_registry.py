"""The executors' registry: one executor per declared task kind, and nothing runs for a kind without one."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest

from executions import kinds, lifecycle
from executions.kinds import EXECUTORS, RunContext, execute
from executions.models import NodeRun
from tests.conftest import machine
from tests.executions.conftest import chain_document, python, shell
from workflows.kinds import TASK_KINDS
from workflows.kinds.declaration import CheckContext, Problems, TaskKind
from workflows.models import Task, WorkflowVersion
from workflows.services import workflow_save_definition


def test_every_declared_kind_has_an_executor_and_every_executor_a_declared_kind() -> None:
    assert list(EXECUTORS) == list(TASK_KINDS)


def test_an_undeclared_kind_fails_naming_it_and_runs_nothing(tmp_path) -> None:
    marker = tmp_path / "ran"
    outcome = execute("pyhton", {"callable": "baton.echo", "script": f"touch {marker}"}, RunContext(timeout=5))
    assert outcome.status == "failed" and not marker.exists()
    assert outcome.detail["error"] == f"unknown task kind 'pyhton': this worker runs {', '.join(EXECUTORS)} tasks"


def _no_problems(config: Mapping[str, object], context: CheckContext) -> Problems:
    return []


def test_a_declared_kind_without_an_executor_is_never_run_as_python(monkeypatch) -> None:
    """The old dispatch ran any kind it did not name (its `else`) as a python task."""
    sample = TaskKind(name="sample", fields=("callable", "kwargs"), check=_no_problems, editor_config={})
    monkeypatch.setitem(TASK_KINDS, "sample", sample)
    config = {"callable": "baton.echo", "kwargs": {"message": "ran as python"}}
    outcome = execute("sample", config, RunContext(timeout=5))
    assert outcome.status == "failed" and "ran as python" not in outcome.output
    assert outcome.detail["error"].startswith("unknown task kind 'sample': this worker runs ")


def test_an_executor_registered_for_a_kind_is_the_one_that_runs_it(monkeypatch) -> None:
    calls = []

    def fake(config, ctx):
        calls.append(config)
        return kinds.Outcome(status="succeeded", output="ok")

    monkeypatch.setitem(EXECUTORS, "shell", fake)
    assert execute("shell", {"script": "true"}, RunContext(timeout=5)).output == "ok"
    assert calls == [{"script": "true"}]


@pytest.mark.django_db(transaction=True)
def test_a_stored_task_of_an_undeclared_kind_fails_its_run_and_the_batch_goes_on(recorder, tmp_path) -> None:
    """As a task stored before its kind's module was removed would be."""
    marker = tmp_path / "ran"
    document = chain_document("w", shell("gone", f"touch {marker}"), python("after", "baton.noop"))
    document["edges"] = [{"from": "start", "to": "n0"}, {"from": "n0", "to": "n1", "on": "failure"}]
    workflow = workflow_save_definition(document=copy.deepcopy(document), actor=machine()).workflow
    version = workflow.current_version
    definition = version.definition
    definition["nodes"][0]["task"]["kind"] = "ftp"
    WorkflowVersion.objects.filter(pk=version.pk).update(definition=definition)
    Task.objects.filter(name="gone").update(kind="ftp")
    batch = lifecycle.batch_start(workflow=workflow, actor=machine())
    recorder.drain()
    batch.refresh_from_db()
    run = NodeRun.objects.get(batch=batch, node_key="n0")
    assert (run.status, batch.status) == ("failed", "failed") and not marker.exists()
    assert "unknown task kind 'ftp'" in run.output
    assert NodeRun.objects.get(batch=batch, node_key="n1").status == "succeeded"
