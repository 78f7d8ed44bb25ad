"""Run context in process: parameters resolved at the start, outputs published and read by later nodes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from baton.errors import Invalid
from executions import lifecycle
from executions.models import Batch, NodeRun
from tests.conftest import machine
from tests.executions.conftest import chain_document, python, shell, start, states
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)


def outputs(batch: Batch) -> dict[str, dict]:
    return dict(NodeRun.objects.filter(batch=batch).values_list("node_key", "outputs"))


def build_and_deploy(**extra):
    build = shell(
        "build",
        'echo "version=1.4.$((1+1))" >> "$BATON_OUTPUT"; printf "notes<<END\\na\\nb\\nEND\\n" >> "$BATON_OUTPUT"',
    )
    deploy = shell("deploy", 'echo "deploying $V to $E"', **extra)
    deploy["config"]["env"] = {"V": "${nodes.n0.outputs.version}", "E": "${params.env}"}
    return chain_document("w", build, deploy, params={"env": {"type": "string", "default": "staging"}})


def test_a_shell_task_publishes_values_and_the_next_node_reads_them_in_env(recorder):
    batch = start(build_and_deploy())
    recorder.drain()
    assert states(batch) == {"n0": "succeeded", "n1": "succeeded"}
    assert outputs(batch)["n0"] == {"version": "1.4.2", "notes": "a\nb"}
    assert NodeRun.objects.get(batch=batch, node_key="n1").output == "deploying 1.4.2 to staging\n"
    batch.refresh_from_db()
    assert batch.context["params"] == {"env": "staging"}
    assert batch.context["batch"]["workflow"] == "w"


def test_run_once_values_override_the_default_and_bad_values_are_refused(recorder):
    workflow = workflow_save_definition(document=build_and_deploy(), actor=machine()).workflow
    batch = lifecycle.batch_start(workflow=workflow, actor=machine(), values={"env": "prod"}, values_as_text=True)
    recorder.drain()
    assert NodeRun.objects.get(batch=batch, node_key="n1").output == "deploying 1.4.2 to prod\n"
    with pytest.raises(Invalid, match="parameter colour: is not a parameter of this workflow"):
        lifecycle.batch_start(workflow=workflow, actor=machine(), values={"colour": "red"})


def test_a_python_callable_publishes_the_mapping_it_returns_and_kwargs_receive_typed_values(recorder):
    document = chain_document(
        "w",
        python("a", "baton.publish", count=3, word="x"),
        python("b", "baton.publish", got="${nodes.n0.outputs.count}", label="n=${nodes.n0.outputs.count}"),
    )
    batch = start(document)
    recorder.drain()
    assert outputs(batch) == {"n0": {"count": 3, "word": "x"}, "n1": {"got": 3, "label": "n=3"}}


def test_secrets_are_masked_in_published_values(recorder):
    task = shell("a", 'echo "token=$T" >> "$BATON_OUTPUT"')
    task["config"]["env"] = {"T": {"secret": "hunter2"}}
    batch = start(chain_document("w", task))
    recorder.drain()
    assert outputs(batch)["n0"] == {"token": "***"}


def test_a_bad_output_file_or_too_much_fails_the_node_saying_why(recorder, settings):
    batch = start(chain_document("w", shell("a", 'echo "not a pair" >> "$BATON_OUTPUT"')))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "failed" and "$BATON_OUTPUT line 1: write name=value" in run.output
    settings.BATON_OUTPUT_VALUES_LIMIT = 100
    batch = start(chain_document("v", shell("b", 'printf "big=%0200d\\n" 0 >> "$BATON_OUTPUT"')))
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "failed" and "more than the 100 allowed (BATON_OUTPUT_VALUES_LIMIT)" in run.output
    assert run.outputs == {}


def test_a_reference_to_a_skipped_node_takes_its_default_or_fails_the_node(recorder):
    document = {
        "name": "w",
        "team": "t",
        "nodes": [
            {"key": "check", "type": "task", "task": shell("check", "true")},
            {"key": "fix", "type": "task", "task": shell("fix", 'echo "fixed=yes" >> "$BATON_OUTPUT"')},
            {"key": "done", "type": "or"},
            {"key": "report", "type": "task", "task": shell("report", 'echo "$F"')},
        ],
        "edges": [
            {"from": "start", "to": "check"},
            {"from": "check", "to": "fix", "on": "failure"},
            {"from": "check", "to": "done", "on": "success"},
            {"from": "fix", "to": "done", "on": "success"},
            {"from": "done", "to": "report"},
        ],
    }
    document["nodes"][3]["task"]["config"]["env"] = {"F": "${nodes.check.outputs.fixed:-no}"}
    batch = start(document)
    recorder.drain()
    assert NodeRun.objects.get(batch=batch, node_key="report").output == "no\n"


def test_a_resume_keeps_the_kept_nodes_outputs_and_a_rerun_the_parameters(recorder):
    document = build_and_deploy()
    document["nodes"][1]["task"]["config"]["script"] = 'test -e "$MARK" && echo "deploying $V"'
    document["nodes"][1]["task"]["config"]["env"]["MARK"] = "/nonexistent-baton-mark"
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    first = lifecycle.batch_start(workflow=workflow, actor=machine(), values={"env": "prod"})
    recorder.drain()
    assert states(first)["n1"] == "failed"
    resumed = lifecycle.batch_rerun(batch_id=first.pk, actor=machine(), resume=True)
    recorder.drain()
    resumed.refresh_from_db()
    first.refresh_from_db()
    assert resumed.context == first.context and resumed.context["params"] == {"env": "prod"}
    assert outputs(resumed)["n0"] == {"version": "1.4.2", "notes": "a\nb"}


def test_a_scheduled_fire_sees_its_fire_time_and_business_date(recorder):
    document = chain_document(
        "w",
        shell("a", 'echo "$D $T"'),
        params={"region": {"type": "string", "default": "eu"}},
        trigger={"type": "cron", "expression": "0 30 2 * * ?", "timezone": "Asia/Shanghai", "params": {"region": "cn"}},
    )
    document["nodes"][0]["task"]["config"]["env"] = {
        "D": "${batch.business_date|%Y%m%d}",
        "T": "${batch.fire_time|%H:%M} ${params.region} ${batch.id}",
    }
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    fire = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)  # 02:30 on the 7th in Shanghai
    batch = lifecycle.batch_start(workflow=workflow, actor=machine(), trigger="cron", scheduled_for=fire)
    recorder.drain()
    assert NodeRun.objects.get(batch=batch).output == f"20261206 02:30 cn {batch.pk}\n"


def test_the_ssrf_guard_checks_the_address_a_reference_resolves_to(recorder, settings):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ()
    task = {"name": "a", "kind": "http", "config": {"url": "http://${params.host}:9/x"}}
    document = chain_document("w", task, params={"host": {"type": "string", "default": "127.0.0.1"}})
    batch = start(document)
    recorder.drain()
    run = NodeRun.objects.get(batch=batch)
    assert run.status == "failed" and "127.0.0.1" in run.detail["error"] and "loopback" in run.detail["error"]


def test_references_inside_a_named_standalone_task_are_checked_when_the_workflow_is_saved():
    from workflows.definition import DefinitionError
    from workflows.models import Team, Workflow
    from workflows.services import task_save

    Team.objects.create(name="t")

    deploy = shell("deploy", 'echo "$V"')
    deploy["config"]["env"] = {"V": "${nodes.n0.outputs.version}", "E": "${params.env}"}
    task_save(document={**deploy, "team": "t", "trigger": {"type": "none"}}, actor=machine())
    build = shell("build", 'echo "version=1" >> "$BATON_OUTPUT"')
    declared = {"env": {"type": "string", "default": "staging"}}
    # The named task refers to n0, which the deploy node does not always run after, and to an
    # undeclared parameter: the save names both, at the node, and writes nothing.
    loose = {
        "name": "w",
        "team": "t",
        "nodes": [
            {"key": "n0", "type": "task", "task": build},
            {"key": "n1", "type": "task", "task": "deploy"},
        ],
        "edges": [{"from": "start", "to": "n0"}, {"from": "start", "to": "n1"}],
    }
    with pytest.raises(DefinitionError) as refused:
        workflow_save_definition(document=copy.deepcopy(loose), actor=machine())
    messages = [str(problem) for problem in refused.value.problems]
    assert any(
        "nodes[1].task: standalone task 'deploy', config.env.V:" in m and "not on every path" in m for m in messages
    )
    assert any("config.env.E:" in m and "unknown parameter 'env'" in m for m in messages)
    assert not Workflow.objects.filter(name="w").exists()
    # After n0, with the parameter declared, the same task is accepted.
    chained = {
        **loose,
        "params": declared,
        "edges": [{"from": "start", "to": "n0"}, {"from": "n0", "to": "n1", "on": "success"}],
    }
    assert workflow_save_definition(document=chained, actor=machine()).workflow.name == "w"
