"""References between nodes: the validator's refusals, the dominator relation, substitution (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.executions.strategies import dags
from workflows.definition import DefinitionError, parse
from workflows.graph import START, Edge, Graph, Node, dominators
from workflows.references import TEXT, TYPED, URL, Context, NodeOutputs, Unresolved, referenced_nodes, resolve


def shell(key: str, **config):
    return {"key": key, "type": "task", "task": {"name": key, "kind": "shell", "config": {"script": "true", **config}}}


def diamond(deploy_env):
    """start → build → (a, b) → and → deploy, with deploy's env as given."""
    return {
        "name": "w",
        "team": "t",
        "params": {"env": {"type": "string", "default": "prod"}},
        "nodes": [
            shell("build"),
            shell("a"),
            shell("b"),
            {"key": "both", "type": "and"},
            shell("deploy", env=deploy_env),
        ],
        "edges": [
            {"from": "start", "to": "build"},
            {"from": "build", "to": "a", "on": "success"},
            {"from": "build", "to": "b", "on": "success"},
            {"from": "a", "to": "both", "on": "success"},
            {"from": "b", "to": "both", "on": "success"},
            {"from": "both", "to": "deploy"},
        ],
    }


def refusals(document) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse(document)
    return [str(problem) for problem in caught.value.problems]


def test_a_reference_to_an_ancestor_on_every_path_and_to_a_parameter_is_accepted():
    parse(diamond({"V": "${nodes.build.outputs.version}", "E": "${params.env}", "D": "${batch.business_date|%Y%m%d}"}))


def test_a_reference_to_a_node_on_only_one_path_is_refused_naming_it():
    (line,) = refusals(diamond({"V": "${nodes.a.outputs.version}"}))
    assert line.startswith("nodes[4].task.config.env.V: ${nodes.a.outputs.version}: node 'a' is not on every path")


def test_unknown_parameter_unknown_node_and_a_reference_in_script_are_refused():
    document = diamond({"X": "${params.colour}", "Y": "${nodes.nope.outputs.v}"})
    document["nodes"][4]["task"]["config"]["script"] = 'echo "${params.env}"'
    lines = refusals(document)
    assert "nodes[4].task.config.env.X: ${params.colour} names an unknown parameter 'colour' (parameters: env)" in lines
    assert "nodes[4].task.config.env.Y: ${nodes.nope.outputs.v} names an unknown node 'nope'" in lines
    assert any(
        line.startswith("nodes[4].task.config.script: a reference is never spliced") and "env" in line for line in lines
    )


def test_a_shell_variable_in_a_script_is_not_a_reference():
    parse(diamond({}) | {"nodes": [shell("build", script='echo "${HOME}" $${params.env}'), *diamond({})["nodes"][1:]]})


def test_dominators_of_a_diamond():
    graph = Graph(
        (Node("b", "task", "b"), Node("x", "task", "x"), Node("y", "task", "y"), Node("d", "task", "d")),
        (Edge(START, "b"), Edge("b", "x", "success"), Edge("b", "y", "success"), Edge("x", "d"), Edge("y", "d")),
    )
    assert dominators(graph)["d"] == {START, "b", "d"}


def _reachable_without(graph: Graph, removed: str) -> set[str]:
    seen, stack = {START}, [START]
    while stack:
        for edge in graph.downstream(stack.pop()):
            if edge.target != removed and edge.target not in seen:
                seen.add(edge.target)
                stack.append(edge.target)
    return seen


@given(dags())
def test_a_dominator_is_a_node_without_which_the_node_is_unreachable(graph: Graph):
    found = dominators(graph)
    for key in graph.keys:
        for other in graph.keys:
            if other != key:
                assert (other in found[key]) == (key not in _reachable_without(graph, other)), (other, key)


CONTEXT = Context(
    params={"env": "prod", "count": 3, "day": "2026-12-06"},
    batch={"id": "K7QX2M9D", "business_date": "2026-12-06", "fire_time": "2026-12-07T02:30:00+08:00"},
    nodes={
        "build": NodeOutputs("succeeded", {"version": "1.2.3", "meta": {"a": 1}}),
        "lint": NodeOutputs("skipped", {}),
    },
)


def test_substitution_as_text_typed_and_url():
    config = {
        "url": "http://h/${params.env}/${nodes.build.outputs.version}?q=a b&${batch.fire_time|%H%M}",
        "headers": {"X-Day": "${batch.business_date|%Y%m%d}", "X-N": "${params.count}"},
        "body": {"version": "${nodes.build.outputs.version}", "count": "${params.count}", "lit": "$${params.env}"},
    }
    done = resolve(config, {"url": URL, "headers": TEXT, "body": TYPED}, CONTEXT)
    assert done["url"] == "http://h/prod/1.2.3?q=a b&0230"
    assert done["headers"] == {"X-Day": "20261206", "X-N": "3"}
    assert done["body"] == {"version": "1.2.3", "count": 3, "lit": "${params.env}"}
    evil = Context({"env": "a/../b?x=1#"}, {}, {})
    assert resolve({"url": "http://h/${params.env}"}, {"url": URL}, evil)["url"] == "http://h/a%2F..%2Fb%3Fx%3D1%23"


def test_a_skipped_node_gives_its_default_or_a_clear_failure():
    fields = {"env": TEXT}
    assert resolve({"env": {"V": "${nodes.lint.outputs.v:-none}"}}, fields, CONTEXT)["env"] == {"V": "none"}
    with pytest.raises(Unresolved, match=r"node 'lint' was skipped, so it published no 'v'; give a default"):
        resolve({"env": {"V": "${nodes.lint.outputs.v}"}}, fields, CONTEXT)
    with pytest.raises(Unresolved, match=r"node 'build' \(succeeded\) published no output 'missing'"):
        resolve({"env": {"V": "${nodes.build.outputs.missing}"}}, fields, CONTEXT)


def test_referenced_nodes_are_found_in_any_field():
    assert referenced_nodes({"env": {"A": "${nodes.a.outputs.x}-${nodes.b.c.outputs.y}"}}) == {"a", "b.c"}
