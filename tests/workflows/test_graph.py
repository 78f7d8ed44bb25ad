"""Tests for the topology validator (SPEC §3)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.graph import (
    AND,
    NAME_PATTERN,
    OR,
    START,
    TASK,
    Edge,
    Graph,
    Node,
    TopologyError,
    Violation,
    check,
    graph_from_definition,
    name_problem,
    validate,
)

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_DIRS = [REPOSITORY / "workflows" / "demo"]  # the two demo definitions
EXAMPLE_NAMES = ["release-pipeline", "end-of-day-cutover"]


def task(key: str, *, core: bool = False, name: str | None = None) -> Node:
    """Return a task node running the task named after its key."""
    return Node(key, TASK, name or f"task-{key}", core)


def graph(nodes: list[Node], pairs: Sequence[tuple[str | None, ...]]) -> Graph:
    """Return a graph whose edges leaving task nodes are on 'success' unless given."""
    types = {node.key: node.type for node in nodes if node.key != START}
    edges = []
    for source, target, *on in pairs:
        assert source is not None and target is not None
        trigger = on[0] if on else ("success" if types.get(source) == TASK else None)
        edges.append(Edge(source, target, trigger))
    return Graph(tuple(nodes), tuple(edges))


def rules(violations: list[Violation]) -> list[str]:
    """Return the rule ids of ``violations``."""
    return [violation.rule for violation in violations]


def only(graph: Graph, **kwargs: int) -> Violation:
    """Return the single violation of ``graph``."""
    violations = validate(graph, **kwargs)
    assert len(violations) == 1, [v.message for v in violations]
    return violations[0]


def example(name: str) -> dict[str, Any]:
    """Return an example definition (SPEC §10 JSON)."""
    for directory in EXAMPLE_DIRS:
        path = directory / f"{name}.json"
        if path.exists():
            definition: dict[str, Any] = json.loads(path.read_text())
            return definition
    raise FileNotFoundError(f"example {name}.json not found in {EXAMPLE_DIRS}")


# --- valid graphs -----------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_are_valid(name: str) -> None:
    assert validate(graph_from_definition(example(name))) == []


def test_example_release_pipeline_converts_to_nodes_and_edges() -> None:
    converted = graph_from_definition(example("release-pipeline"))
    assert converted.node("deploy") == Node("deploy", TASK, "shop-rolling-deploy", core=True)
    assert converted.node("checks") == Node("checks", AND)
    assert Edge("deploy", "rollback", "failure") in converted.edges
    assert converted.core_keys == ("deploy",)


def test_string_task_reference_is_the_task_name() -> None:
    definition = {"nodes": [{"key": "scan", "type": "task", "task": "shop-scan"}], "edges": []}
    assert graph_from_definition(definition).node("scan").task == "shop-scan"


def test_single_task_is_valid() -> None:
    assert validate(graph([task("a")], [(START, "a")])) == []


def test_task_with_success_and_failure_edges_is_valid() -> None:
    nodes = [task("deploy"), task("next"), task("rollback")]
    pairs = [(START, "deploy"), ("deploy", "next", "success"), ("deploy", "rollback", "failure")]
    assert validate(graph(nodes, pairs)) == []


def test_or_and_and_nodes_between_tasks_are_valid() -> None:
    nodes = [task("a"), task("b"), Node("both", AND), Node("either", OR), task("c"), task("d")]
    pairs = [
        (START, "a"),
        (START, "b"),
        ("a", "both"),
        ("b", "both"),
        ("a", "either", "failure"),
        ("b", "either"),
        ("both", "c"),
        ("either", "d"),
    ]
    assert validate(graph(nodes, pairs)) == []


def test_check_accepts_a_valid_graph() -> None:
    check(graph([task("a")], [(START, "a")]))


# --- names (§3.8) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["日切-end-of-day", "a", "A.b_c-9", "x" * 64, "Ärger", "e\u0301te", "данные", "ジョブ1"],
)
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None
    assert NAME_PATTERN.fullmatch(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "must be 1-64 characters (found 0)"),
        ("x" * 65, "must be 1-64 characters (found 65)"),
        ("a b", "(found ' ', U+0020)"),
        ("job\u0663", "(found '\u0663', U+0663)"),
        ("x\u00b2", "U+00B2"),
        ("\u0301e", "U+0301"),
        ("1\u0301", "U+0301"),
        ("a/b", "may contain only letters, digits 0-9, '-', '_' and '.' (found '/'"),
        ("a\n", "U+000A"),
    ],
)
def test_invalid_names(name: str, expected: str) -> None:
    problem = name_problem(name)
    assert problem is not None and expected in problem
    assert not NAME_PATTERN.fullmatch(name)


def test_non_string_name() -> None:
    assert name_problem(3) == "must be a string (found int)"


@given(st.text(max_size=70))
def test_name_pattern_agrees_with_name_problem(name: str) -> None:
    assert (name_problem(name) is None) == bool(NAME_PATTERN.fullmatch(name))


# --- node shape -------------------------------------------------------------------------


def test_invalid_node_key_is_named() -> None:
    violation = only(graph([task("deploy now", name="deploy")], [(START, "deploy now")]))
    assert violation.rule == "3.8"
    assert "'deploy now'" in violation.message and violation.nodes == ("deploy now",)


def test_empty_node_key() -> None:
    violation = only(graph([task("")], [(START, "")]))
    assert violation.rule == "3.8" and "node key ''" in violation.message


def test_start_is_a_reserved_key() -> None:
    nodes = [task("a"), Node(START, TASK, "task-start")]
    violation = only(graph(nodes, [(START, "a")]))
    assert violation.rule == "3.1" and "'start' is reserved" in violation.message


def test_duplicate_node_key() -> None:
    nodes = [task("a"), task("a", name="other")]
    violation = only(graph(nodes, [(START, "a")]))
    assert violation.message == "node key 'a' is used by more than one node"


def test_unknown_node_type_does_not_cascade() -> None:
    nodes = [task("a"), Node("x", "xor")]
    violation = only(graph(nodes, [(START, "a"), ("a", "x")]))
    assert violation.message == "node 'x' has unknown type 'xor' (use 'task', 'and', 'or')"


def test_task_node_needs_a_task() -> None:
    violation = only(graph([Node("a", TASK)], [(START, "a")]))
    assert violation.message == "node 'a' (task) needs a task"


def test_task_name_follows_name_rule() -> None:
    violation = only(graph([task("a", name="bad name")], [(START, "a")]))
    assert violation.rule == "3.8" and "task name of node 'a' (task)" in violation.message


def test_logic_node_cannot_run_a_task_or_be_core() -> None:
    nodes = [task("a"), Node("gate", AND, "task-x", core=True), task("b")]
    violations = validate(graph(nodes, [(START, "a"), ("a", "gate"), ("gate", "b")]))
    assert [v.message for v in violations] == [
        "node 'gate' (and) is a logic node and cannot run a task",
        "node 'gate' (and) cannot be core; only task nodes can",
    ]


# --- edges ------------------------------------------------------------------------------


def test_edge_to_unknown_node() -> None:
    violation = only(graph([task("a")], [(START, "a"), ("a", "ghost")]))
    assert violation.message == "edge 'a' -> 'ghost' refers to unknown node 'ghost'"
    assert violation.edges == (("a", "ghost"),)


def test_edge_between_two_unknown_nodes_names_both() -> None:
    violation = only(graph([task("a")], [(START, "a"), ("x", "y")]))
    assert "unknown node 'x', 'y'" in violation.message


def test_edge_into_start() -> None:
    violation = only(graph([task("a")], [(START, "a"), ("a", START)]))
    assert violation.rule == "3.1" and "'a' -> 'start' points into START" in violation.message


# --- §3.1 reachability ------------------------------------------------------------------


def test_unreachable_nodes_are_named_together() -> None:
    nodes = [task("a"), task("b"), task("c")]
    violations = validate(graph(nodes, [(START, "a"), ("b", "c")]))
    assert rules(violations) == ["3.1", "3.2"]
    assert violations[0].message == "nodes are not reachable from START: 'b', 'c'"
    assert violations[0].nodes == ("b", "c")
    assert violations[1].nodes == ("b",)


# --- §3.2 task upstream -----------------------------------------------------------------


def test_task_with_two_upstream_edges() -> None:
    nodes = [task("scan"), task("test"), task("deploy")]
    pairs = [(START, "scan"), (START, "test"), ("scan", "deploy"), ("test", "deploy")]
    violation = only(graph(nodes, pairs))
    assert violation.rule == "3.2"
    assert violation.message == (
        "node 'deploy' (task) has 2 upstream edges (from 'scan', 'test'); a task node needs exactly one"
    )
    assert violation.edges == (("scan", "deploy"), ("test", "deploy"))


def test_task_with_no_upstream_edge() -> None:
    violations = validate(graph([task("a"), task("b")], [(START, "a")]))
    assert rules(violations) == ["3.1", "3.2"]
    assert violations[1].message == ("node 'b' (task) has no upstream edge; a task node needs exactly one")


# --- §3.3 logic nodes -------------------------------------------------------------------


def test_logic_node_without_downstream() -> None:
    nodes = [task("a"), Node("gate", OR)]
    violation = only(graph(nodes, [(START, "a"), ("a", "gate")]))
    assert violation.message == ("node 'gate' (or) has no downstream edge; a logic node needs at least one")


def test_logic_node_without_upstream() -> None:
    nodes = [task("a"), Node("gate", AND), task("b")]
    violations = validate(graph(nodes, [(START, "a"), ("gate", "b")]))
    assert rules(violations) == ["3.1", "3.3"]
    assert "node 'gate' (and) has no upstream edge" in violations[1].message


def test_start_to_logic_node() -> None:
    nodes = [Node("gate", AND), task("b")]
    violation = only(graph(nodes, [(START, "gate"), ("gate", "b")]))
    assert violation.message == (
        "edge 'start' -> 'gate' joins START to node 'gate' (and); every neighbour of a logic node must be a task node"
    )


def test_logic_node_to_logic_node() -> None:
    nodes = [task("a"), Node("one", AND), Node("two", OR), task("b")]
    pairs = [(START, "a"), ("a", "one"), ("one", "two"), ("two", "b")]
    violation = only(graph(nodes, pairs))
    assert violation.rule == "3.3"
    assert "joins two logic nodes ('one' and 'two')" in violation.message
    assert violation.edges == (("one", "two"),)


# --- §3.4 cycles, duplicates, self-loops ------------------------------------------------


def test_cycle_names_its_nodes() -> None:
    nodes = [task("a"), Node("gate", OR), task("b"), task("c")]
    pairs = [(START, "a"), ("a", "gate"), ("gate", "b"), ("b", "c"), ("c", "gate")]
    violation = only(graph(nodes, pairs))
    assert violation.rule == "3.4"
    assert violation.message == ("nodes 'gate', 'b', 'c' form a cycle: 'gate' -> 'b' -> 'c' -> 'gate'")
    assert set(violation.edges) == {("gate", "b"), ("b", "c"), ("c", "gate")}


def test_two_cycles_are_reported_separately() -> None:
    nodes = [task(key) for key in "abcd"]
    pairs = [("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")]
    violations = validate(graph(nodes, pairs))
    cycles = [v for v in violations if v.rule == "3.4"]
    assert [v.nodes for v in cycles] == [("a", "b"), ("c", "d")]


def test_duplicate_edge_regardless_of_trigger() -> None:
    nodes = [task("a"), task("b")]
    pairs = [(START, "a"), ("a", "b", "success"), ("a", "b", "failure")]
    violation = only(graph(nodes, pairs))
    assert violation.message == ("edge 'a' -> 'b' is listed 2 times; two nodes are joined by at most one edge")


def test_self_loop() -> None:
    violation = only(graph([Node("a", TASK, "t")], [(START, "a"), ("a", "a")]))
    assert violation.rule == "3.4"
    assert violation.message == "edge 'a' -> 'a' is a self-loop; a node cannot depend on itself"


def test_long_cycle_does_not_recurse_too_deep() -> None:
    keys = [f"n{number}" for number in range(3000)]
    pairs = [(START, keys[0]), *itertools.pairwise(keys), (keys[-1], keys[1])]
    violations = validate(graph([task(key) for key in keys], pairs))
    assert "3.4" in rules(violations)


# --- §3.5 edge triggers -----------------------------------------------------------------


@pytest.mark.parametrize("on", [None, "always", "SUCCESS"])
def test_edge_leaving_a_task_needs_a_trigger(on: str | None) -> None:
    violation = only(graph([task("a"), task("b")], [(START, "a"), ("a", "b", on)]))
    assert violation.rule == "3.5"
    assert violation.message == (
        f"edge 'a' -> 'b' leaves task node 'a' and must be on 'success' or 'failure' (found {on!r})"
    )


def test_edge_leaving_start_carries_no_trigger() -> None:
    violation = only(graph([task("a")], [(START, "a", "success")]))
    assert violation.message == ("edge 'start' -> 'a' leaves START and must not carry a trigger (found 'success')")


def test_edge_leaving_logic_node_carries_no_trigger() -> None:
    nodes = [task("a"), Node("gate", OR), task("b")]
    violation = only(graph(nodes, [(START, "a"), ("a", "gate"), ("gate", "b", "failure")]))
    assert "leaves or node 'gate' and must not carry a trigger" in violation.message


# --- §3.6, §3.7 -------------------------------------------------------------------------


def chain(count: int) -> Graph:
    """Return START -> t0 -> t1 -> ... with ``count`` tasks."""
    keys = [f"t{number}" for number in range(count)]
    return graph([task(key) for key in keys], [(START, keys[0]), *itertools.pairwise(keys)])


def test_twenty_tasks_are_allowed() -> None:
    assert validate(chain(20)) == []


def test_twenty_one_tasks_are_rejected() -> None:
    violation = only(chain(21))
    assert violation.message == "the workflow has 21 task nodes; at most 20 are allowed"


def test_max_tasks_is_a_parameter() -> None:
    assert validate(chain(21), max_tasks=30) == []
    assert rules(validate(chain(3), max_tasks=2)) == ["3.6"]


def test_empty_workflow_is_rejected() -> None:
    violation = only(Graph((), ()))
    assert violation.message == "the workflow has no task node; it needs at least one"


def test_task_appears_at_most_once() -> None:
    nodes = [task("a", name="shop-pull"), task("b", name="shop-pull")]
    violation = only(graph(nodes, [(START, "a"), ("a", "b")]))
    assert violation.rule == "3.7"
    assert violation.message == (
        "task 'shop-pull' appears in 2 nodes ('a', 'b'); a task may appear at most once in a workflow"
    )


# --- many at once -----------------------------------------------------------------------


def test_every_violation_is_reported() -> None:
    nodes = [task("a", name="dup"), task("b", name="dup"), Node("gate", AND), task("lost")]
    pairs = [
        (START, "a", "success"),
        (START, "b"),
        ("a", "gate"),
        ("b", "gate", "maybe"),
        ("gate", "a"),
        ("a", "ghost"),
    ]
    violations = validate(graph(nodes, pairs))
    assert rules(violations) == ["3.7", "1", "3.5", "3.5", "3.1", "3.2", "3.2", "3.4"]
    assert validate(graph(nodes, pairs)) == violations


def test_topology_error_lists_every_message() -> None:
    nodes = [task("a"), task("b")]
    with pytest.raises(TopologyError) as caught:
        check(graph(nodes, [(START, "a", "success")]))
    assert len(caught.value.violations) == 3
    assert str(caught.value).splitlines() == [v.message for v in caught.value.violations]
    assert isinstance(caught.value, ValueError)


# --- Graph helpers ----------------------------------------------------------------------


def test_graph_helpers() -> None:
    nodes = [task("b"), task("a", core=True), Node("gate", AND), task("c")]
    pairs = [(START, "b"), ("b", "a"), ("a", "gate"), ("gate", "c")]
    built = graph(nodes, pairs)
    assert built.task_keys == ("b", "a", "c")
    assert built.core_keys == ("a",)
    assert built.upstream("a") == (Edge("b", "a", "success"),)
    assert built.downstream(START) == (Edge(START, "b"),)
    assert built.downstream("c") == ()
    assert built.topological_order() == (START, "b", "a", "gate", "c")
    assert hash(built) == hash(graph(nodes, pairs))


def test_topological_order_rejects_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        graph([task("a"), task("b")], [("a", "b"), ("b", "a")]).topological_order()


def test_graph_accepts_lists() -> None:
    built = Graph([task("a")], [Edge(START, "a")])  # type: ignore[arg-type]
    assert built.nodes == (task("a"),) and isinstance(built.edges, tuple)
