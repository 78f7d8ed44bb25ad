"""Tests for the DAG state machine (SPEC §4.2, §4.4)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executions.engine import (
    ACTIVE,
    FAILED,
    FAILED_STATES,
    FINISHED,
    PENDING,
    QUEUED,
    RETRYING,
    RUNNING,
    SKIPPED,
    STOPPED,
    SUCCEEDED,
    TIMED_OUT,
    UNFINISHED,
    Decision,
    advance,
    batch_result,
    initial_states,
    resume_states,
    stop_states,
    straight_result,
    straight_successors,
)
from tests.executions.strategies import dags, runs
from workflows.graph import (
    AND,
    FAILURE,
    OR,
    START,
    SUCCESS,
    TASK,
    Edge,
    Graph,
    Node,
    graph_from_definition,
    validate,
)

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_DIRS = [REPOSITORY / "workflows" / "demo"]  # the two demo definitions


def build(spec: str, core: str = "") -> Graph:
    """Return a graph from "a>b b!c g&:a,b g>d o|:a,b" style lines.

    ``x>y`` is a success edge, ``x!y`` a failure edge, ``x-y`` an edge leaving START or a
    logic node; ``g&:a,b`` declares AND node g and ``o|:a,b`` OR node o with those inputs.
    Every other key is a task; ``core`` lists the core task keys.
    """
    logic: dict[str, str] = {}
    edges: list[Edge] = []
    for item in spec.split():
        if ":" in item:
            head, sources = item.split(":")
            logic[head[:-1]] = AND if head.endswith("&") else OR
            edges += [Edge(source, head[:-1], SUCCESS) for source in sources.split(",")]
            continue
        for mark, on in ((">", SUCCESS), ("!", FAILURE), ("-", None)):
            if mark in item:
                source, target = item.split(mark)
                edges.append(Edge(source, target, on))
                break
    keys = dict.fromkeys(key for edge in edges for key in (edge.source, edge.target))
    nodes = [
        Node(key, logic[key]) if key in logic else Node(key, TASK, f"t-{key}", key in core)
        for key in keys
        if key != START
    ]
    built = Graph(tuple(nodes), tuple(edges))
    assert validate(built) == [], [v.message for v in validate(built)]
    return built


def states_of(built: Graph, given: str = "") -> dict[str, str]:
    """Return every node pending except those in "a=succeeded b=running"."""
    states = initial_states(built)
    for pair in given.split():
        key, state = pair.split("=")
        states[key] = state
    return states


def apply(states: Mapping[str, str], decision: Decision) -> dict[str, str]:
    """Return ``states`` with ``decision`` applied; raise ValueError on a non-pending node."""
    new = dict(states)
    for state, keys in decision.moves():
        for key in keys:
            if new.get(key) != PENDING:
                raise ValueError(f"node {key!r} is {new.get(key)!r}, not {PENDING!r}")
            new[key] = state
    return new


# --- §4.2 advance, table-driven ---------------------------------------------------------

CHAIN = "start-a a>b b>c"
BRANCH = "start-deploy deploy>next deploy!rollback"
AND_GRAPH = "start-a start-b g&:a,b g-c c>d"
OR_GRAPH = "start-a start-b o|:a,b o-c c>d"
NESTED = "start-a a>b b>c x&:b,c x-d y|:d,a y-e e>f"

ADVANCE_CASES = [
    # (id, graph, states, queue, satisfy, skip)
    ("start_queues_first_task", CHAIN, "", "a", "", ""),
    ("running_source_keeps_target_pending", CHAIN, "a=running", "", "", ""),
    ("queued_source_keeps_target_pending", CHAIN, "a=queued", "", "", ""),
    ("retrying_source_keeps_target_pending", CHAIN, "a=retrying", "", "", ""),
    ("success_edge_fires_on_success", CHAIN, "a=succeeded", "b", "", ""),
    ("success_edge_dies_on_failure_and_skip_cascades", CHAIN, "a=failed", "", "", "b c"),
    ("success_edge_dies_on_timeout", CHAIN, "a=timed_out", "", "", "b c"),
    ("skipped_source_kills_edges", CHAIN, "a=skipped", "", "", "b c"),
    ("stopped_source_kills_edges", CHAIN, "a=stopped", "", "", "b c"),
    ("failure_queues_rollback_and_skips_next", BRANCH, "deploy=failed", "rollback", "", "next"),
    ("timeout_fires_failure_edge", BRANCH, "deploy=timed_out", "rollback", "", "next"),
    ("success_skips_failure_only_branch", BRANCH, "deploy=succeeded", "next", "", "rollback"),
    ("stopped_source_kills_failure_edge", BRANCH, "deploy=stopped", "", "", "next rollback"),
    ("skipped_source_kills_failure_edge", BRANCH, "deploy=skipped", "", "", "next rollback"),
    ("parallel_roots_queue_together", AND_GRAPH, "", "a b", "", ""),
    ("and_waits_for_every_input", AND_GRAPH, "a=succeeded b=running", "", "", ""),
    ("and_fires_when_all_inputs_satisfied", AND_GRAPH, "a=succeeded b=succeeded", "c", "g", ""),
    ("and_skipped_as_soon_as_one_input_dead", AND_GRAPH, "a=failed b=running", "", "", "g c d"),
    ("or_fires_on_first_satisfied_input", OR_GRAPH, "a=succeeded b=running", "c", "o", ""),
    ("or_waits_while_one_input_open", OR_GRAPH, "a=failed b=running", "", "", ""),
    ("or_fires_with_one_dead_one_satisfied", OR_GRAPH, "a=failed b=succeeded", "c", "o", ""),
    ("or_skipped_when_every_input_dead", OR_GRAPH, "a=failed b=timed_out", "", "", "o c d"),
    ("skip_propagates_through_logic_nodes", NESTED, "a=failed", "", "", "b c x d y e f"),
    ("or_rescues_a_dead_branch", NESTED, "a=succeeded b=failed", "e", "y", "c x d"),
    ("only_pending_nodes_change", CHAIN, "a=failed b=queued", "", "", ""),
    ("finished_nodes_are_not_reopened", CHAIN, "a=succeeded b=skipped", "", "", "c"),
    ("kept_node_with_pending_upstream_is_left_alone", CHAIN, "b=succeeded", "a c", "", ""),
]


@pytest.mark.parametrize(
    ("spec", "given", "queue", "satisfy", "skip"),
    [case[1:] for case in ADVANCE_CASES],
    ids=[case[0] for case in ADVANCE_CASES],
)
def test_advance(spec: str, given: str, queue: str, satisfy: str, skip: str) -> None:
    built = build(spec)
    decision = advance(built, states_of(built, given))
    assert decision.queue == tuple(queue.split())
    assert decision.satisfy == tuple(satisfy.split())
    assert decision.skip == tuple(skip.split())
    applied = apply(states_of(built, given), decision)
    assert advance(built, applied) == Decision(result=decision.result)


def test_queue_is_in_topological_order() -> None:
    built = build("start-z start-y z>x")
    assert advance(built, states_of(built)).queue == ("z", "y")


def test_decision_carries_the_result_when_the_last_node_is_skipped() -> None:
    built = build(BRANCH, core="deploy")
    decision = advance(built, states_of(built, "deploy=succeeded next=succeeded"))
    assert decision.skip == ("rollback",) and decision.result == SUCCEEDED


def test_decision_has_no_result_while_a_node_runs() -> None:
    built = build(OR_GRAPH)
    decision = advance(built, states_of(built, "a=succeeded b=running"))
    assert decision.result is None and decision.queue == ("c",)


def test_advance_requires_a_state_for_every_node() -> None:
    built = build(CHAIN)
    with pytest.raises(ValueError, match="'c'"):
        advance(built, {"a": PENDING, "b": PENDING})


def test_advance_rejects_unknown_states() -> None:
    built = build(CHAIN)
    with pytest.raises(ValueError, match="unknown node states"):
        advance(built, states_of(built, "a=done"))


def test_apply_refuses_to_move_a_non_pending_node() -> None:
    built = build(CHAIN)
    with pytest.raises(ValueError, match="'a' is 'running'"):
        apply(states_of(built, "a=running"), Decision(queue=("a",)))


def test_state_groups() -> None:
    assert {SUCCEEDED, FAILED, TIMED_OUT, SKIPPED, STOPPED} == FINISHED
    assert {PENDING, QUEUED, RUNNING, RETRYING} == UNFINISHED
    assert {FAILED, TIMED_OUT} == FAILED_STATES
    assert {QUEUED, RUNNING, RETRYING} == ACTIVE


# --- §4.4 batch result ------------------------------------------------------------------

RESULT_CASES = [
    # (id, graph, core, states, result)
    ("unfinished_has_no_result", BRANCH, "", "deploy=running", None),
    ("all_succeeded", CHAIN, "", "a=succeeded b=succeeded c=succeeded", SUCCEEDED),
    ("any_failed_task_fails", CHAIN, "", "a=succeeded b=failed c=skipped", FAILED),
    ("any_timed_out_task_fails", CHAIN, "", "a=succeeded b=timed_out c=skipped", FAILED),
    (
        "skipped_tasks_do_not_fail",
        BRANCH,
        "",
        "deploy=succeeded next=succeeded rollback=skipped",
        SUCCEEDED,
    ),
    (
        "handled_failure_still_fails_without_core",
        BRANCH,
        "",
        "deploy=failed next=skipped rollback=succeeded",
        FAILED,
    ),
    (
        "core_decides_even_if_others_fail",
        BRANCH,
        "next",
        "deploy=failed next=skipped rollback=succeeded",
        FAILED,
    ),
    ("core_succeeded_others_failed", "start-a start-b", "a", "a=succeeded b=failed", SUCCEEDED),
    ("core_failed", BRANCH, "deploy", "deploy=failed next=skipped rollback=succeeded", FAILED),
    ("core_skipped_fails", CHAIN, "c", "a=failed b=skipped c=skipped", FAILED),
    ("every_core_must_succeed", CHAIN, "a c", "a=succeeded b=succeeded c=failed", FAILED),
    (
        "logic_nodes_do_not_count",
        OR_GRAPH,
        "",
        "a=succeeded b=succeeded o=succeeded c=succeeded d=succeeded",
        SUCCEEDED,
    ),
]


@pytest.mark.parametrize(
    ("spec", "core", "given", "result"),
    [case[1:] for case in RESULT_CASES],
    ids=[case[0] for case in RESULT_CASES],
)
def test_batch_result(spec: str, core: str, given: str, result: str | None) -> None:
    built = build(spec, core=core)
    assert batch_result(built, states_of(built, given)) == result


# --- §4.3 stop and resume ---------------------------------------------------------------


def test_stop_moves_pending_queued_and_retrying_nodes_only() -> None:
    built = build("start-a start-b start-c start-d a>e")
    states = states_of(built, "a=running b=queued c=retrying d=succeeded")
    assert stop_states(states) == {"b": STOPPED, "c": STOPPED, "e": STOPPED}


def test_resume_keeps_succeeded_tasks_and_reruns_the_rest() -> None:
    built = build(NESTED)
    original = states_of(
        built,
        "a=succeeded b=succeeded c=failed x=skipped d=skipped y=succeeded e=succeeded f=succeeded",
    )
    resumed = resume_states(built, original)
    assert resumed == states_of(built, "a=succeeded b=succeeded e=succeeded f=succeeded")
    assert advance(built, resumed).queue == ("c",)


def test_resume_rearms_a_rollback_branch() -> None:
    built = build(BRANCH, core="deploy")
    original = states_of(built, "deploy=failed next=skipped rollback=succeeded")
    resumed = resume_states(built, original)
    assert resumed == states_of(built)
    after_failure = apply(resumed, advance(built, resumed)) | {"deploy": FAILED}
    assert advance(built, after_failure).queue == ("rollback",)


# --- the shared examples ----------------------------------------------------------------


def example(name: str) -> Graph:
    """Return the graph of an example definition (SPEC §10 JSON)."""
    for directory in EXAMPLE_DIRS:
        path = directory / f"{name}.json"
        if path.exists():
            return graph_from_definition(json.loads(path.read_text()))
    raise FileNotFoundError(f"example {name}.json not found in {EXAMPLE_DIRS}")


Chooser = Callable[[list[str]], tuple[str, bool]]


def simulate(
    built: Graph,
    outcomes: Mapping[str, str],
    choose: Chooser,
    states: dict[str, str] | None = None,
) -> tuple[dict[str, str], str | None, list[tuple[str, ...]]]:
    """Run a batch to its end: ``choose`` picks a node to start (True) or finish next.

    Return the final states, the result, and the nodes queued by each decision.
    """
    states = initial_states(built) if states is None else states
    queued: list[tuple[str, ...]] = []
    retried: set[str] = set()
    while True:
        decision = advance(built, states)
        states = apply(states, decision)
        queued.append(decision.queue)
        assert advance(built, states) == Decision(result=decision.result)
        active = sorted(key for key, state in states.items() if state in ACTIVE)
        if not active:
            assert set(states.values()) <= FINISHED
            return states, decision.result, queued
        assert decision.result is None
        key, start = choose(active)
        states[key] = _step(states[key], start, outcomes[key], key in retried)
        retried.add(key) if states[key] == RETRYING else None


def _step(state: str, start: bool, outcome: str, retried: bool) -> str:
    """Return a node's next state in the simulation (at most one retry per node)."""
    if state == QUEUED and start:
        return RUNNING
    if state == RUNNING and start and not retried:
        return RETRYING
    if state == RETRYING:
        return QUEUED
    return outcome


def in_order(order: list[str]) -> Chooser:
    """Return a chooser that finishes the first active node of ``order``."""
    return lambda active: (next(key for key in order if key in active), False)


def test_release_pipeline_succeeds() -> None:
    built = example("release-pipeline")
    outcomes = dict.fromkeys(built.task_keys, SUCCEEDED)
    states, result, queued = simulate(built, outcomes, in_order(list(built.keys)))
    assert result == SUCCEEDED
    assert states["checks"] == SUCCEEDED
    assert (states["rollback"], states["notify"]) == (SKIPPED, SKIPPED)
    assert ("scan", "unit") in queued  # they overlap in time
    assert ("build",) in queued


def test_release_pipeline_build_waits_for_both_checks() -> None:
    built = example("release-pipeline")
    states = states_of(built, "pull=succeeded scan=succeeded unit=running")
    assert advance(built, states) == Decision()


def test_release_pipeline_fails_when_deploy_fails() -> None:
    built = example("release-pipeline")
    outcomes = dict.fromkeys(built.task_keys, SUCCEEDED) | {"deploy": FAILED}
    states, result, _ = simulate(built, outcomes, in_order(list(built.keys)))
    assert result == FAILED
    assert (states["deploy"], states["rollback"]) == (FAILED, SUCCEEDED)


def test_end_of_day_switch_date_starts_before_replica_report_ends() -> None:
    built = example("end-of-day-cutover")
    states = states_of(
        built,
        "freeze-online=succeeded freeze-branch=succeeded frozen=succeeded "
        "settle-cards=running settle-deposits=running primary-report=succeeded "
        "replica-report=running",
    )
    decision = advance(built, states)
    assert decision.satisfy == ("report-ready",) and decision.queue == ("switch-date",)


def test_end_of_day_succeeds_and_reopen_runs_last() -> None:
    built = example("end-of-day-cutover")
    outcomes = dict.fromkeys(built.task_keys, SUCCEEDED)
    states, result, queued = simulate(built, outcomes, in_order(list(built.keys)))
    assert result == SUCCEEDED
    assert set(states.values()) == {SUCCEEDED}
    assert [batch for batch in queued if batch][-1] == ("reopen",)


# --- properties -------------------------------------------------------------------------


def drawn(data: st.DataObject) -> Chooser:
    """Return a chooser whose picks hypothesis draws."""
    return lambda active: (data.draw(st.sampled_from(active)), data.draw(st.booleans()))


def expected(built: Graph, outcomes: Mapping[str, str]) -> dict[str, str]:
    """Return the final states §4.2 implies, computed independently of the engine."""
    final: dict[str, str] = {}

    def fired(edge: Edge) -> bool:
        if edge.source == START:
            return True
        state = final[edge.source]
        if built.node(edge.source).type != TASK:
            return state == SUCCEEDED
        wanted = SUCCESS if state == SUCCEEDED else FAILURE if state in FAILED_STATES else None
        return edge.on == wanted

    for key in built.topological_order()[1:]:
        node, inputs = built.node(key), [fired(edge) for edge in built.upstream(key)]
        ok = any(inputs) if node.type == OR else all(inputs)
        final[key] = SKIPPED if not ok else outcomes[key] if node.type == TASK else SUCCEEDED
    return final


@given(dags())
def test_generated_graphs_are_valid(built: Graph) -> None:
    assert validate(built) == []


@settings(deadline=None)
@given(runs(), st.data())
def test_every_batch_ends_and_never_queues_a_node_twice(run: tuple[Graph, dict[str, str]], data: st.DataObject) -> None:
    built, outcomes = run
    states, result, queued = simulate(built, outcomes, drawn(data))
    assert result is not None and result == batch_result(built, states)
    assert PENDING not in states.values()
    flat = [key for batch in queued for key in batch]
    assert len(flat) == len(set(flat))


@settings(deadline=None)
@given(runs(), st.data())
def test_outcome_does_not_depend_on_finish_order(run: tuple[Graph, dict[str, str]], data: st.DataObject) -> None:
    built, outcomes = run
    first = simulate(built, outcomes, drawn(data))[:2]
    second = simulate(built, outcomes, drawn(data))[:2]
    assert first == second
    assert first[0] == expected(built, outcomes)


@settings(deadline=None)
@given(runs(), st.data())
def test_resume_never_reruns_kept_nodes_and_repeats_the_same_outcome(
    run: tuple[Graph, dict[str, str]], data: st.DataObject
) -> None:
    built, outcomes = run
    original, result, _ = simulate(built, outcomes, drawn(data))
    resumed = resume_states(built, original)
    kept = {key for key, state in resumed.items() if state != PENDING}
    assert all(built.node(key).type == TASK and original[key] == SUCCEEDED for key in kept)
    states, again, queued = simulate(built, outcomes, drawn(data), resumed)
    assert kept.isdisjoint(key for batch in queued for key in batch)
    assert (states, again) == (original, result)


@settings(deadline=None)
@given(runs(), st.data())
def test_nothing_is_queued_after_a_stop(run: tuple[Graph, dict[str, str]], data: st.DataObject) -> None:
    built, outcomes = run
    states = apply(initial_states(built), advance(built, initial_states(built)))
    for _ in range(data.draw(st.integers(0, 5))):
        active = sorted(key for key, state in states.items() if state in ACTIVE)
        if not active:
            break
        key = data.draw(st.sampled_from(active))
        states = apply(states, advance(built, states | {key: outcomes[key]}))
    states |= stop_states(states)
    assert not {PENDING, QUEUED, RETRYING} & set(states.values())
    states |= {key: STOPPED for key, state in states.items() if state == RUNNING}
    decision = advance(built, states)
    assert decision == Decision(result=decision.result) and decision.result is not None


# --- the shortcut a finish takes when no other state matters --------------------------------


@settings(deadline=None)
@given(runs(), st.data())
def test_straight_successors_agree_with_advance_whenever_they_answer(
    run: tuple[Graph, dict[str, str]], data: st.DataObject
) -> None:
    built, outcomes = run
    states = apply(initial_states(built), advance(built, initial_states(built)))
    while True:
        active = sorted(key for key, state in states.items() if state in ACTIVE)
        if not active:
            break
        key = data.draw(st.sampled_from(active))
        if states[key] != RUNNING:
            states[key] = RUNNING
            continue
        states[key] = outcomes[key]
        shortcut = straight_successors(built, key, outcomes[key])
        result = straight_result(built, key, outcomes[key])
        decision = advance(built, states)
        if shortcut is not None:
            assert decision == Decision(queue=shortcut)
        if result is not None:
            assert shortcut is None and decision == Decision(result=result)
        states = apply(states, decision)
    assert batch_result(built, states) is not None


def test_straight_result_answers_for_a_one_node_graph_only() -> None:
    alone = build("start-a")
    assert straight_result(alone, "a", SUCCEEDED) == SUCCEEDED
    assert straight_result(alone, "a", FAILED) == FAILED
    assert straight_result(alone, "a", TIMED_OUT) == FAILED
    assert straight_result(alone, "a", STOPPED) == SUCCEEDED  # §4.4: only failed or timed-out tasks fail a batch
    assert straight_result(alone, "a", RUNNING) is None  # not an end
    assert straight_result(build("start-a a>b"), "b", SUCCEEDED) is None  # a's state is read, not assumed
    assert straight_result(build("start-a start-b"), "a", SUCCEEDED) is None  # b may still run


def test_straight_successors_cases() -> None:
    chain = build("start-a a>b b>c")
    assert straight_successors(chain, "a", SUCCEEDED) == ("b",)
    assert straight_successors(chain, "a", FAILED) is None  # b is skipped, and c after it
    assert straight_successors(chain, "c", SUCCEEDED) is None  # the last node: the batch may end
    assert straight_successors(build("start-a a>b a>c a!d"), "a", SUCCEEDED) is None  # d's edge is dead
    assert straight_successors(build("start-a a>b a>c"), "a", SUCCEEDED) == ("b", "c")
    assert straight_successors(build("start-a a!r"), "a", TIMED_OUT) == ("r",)  # a rollback
    assert straight_successors(build("start-a start-b g&:a,b g-c"), "a", SUCCEEDED) is None  # a join
    assert straight_successors(build("start-a start-b o|:a,b o-c"), "a", SUCCEEDED) is None  # an OR
