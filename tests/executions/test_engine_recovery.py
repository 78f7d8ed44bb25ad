"""Properties of the operator's recovery actions on the pure engine, on random DAGs.

Mark succeeded, re-run from a node, pause and continue, skip a pending node: whatever an
operator does and whenever, every batch still ends, no node runs twice within a batch, and
the result obeys the core-node rule (§4.4).
"""

from __future__ import annotations

from collections.abc import Mapping

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
    SUCCEEDED,
    TIMED_OUT,
    advance,
    batch_result,
    continuation_states,
    descendants,
    initial_states,
    mark_succeeded_states,
    pause_states,
    rerun_from_states,
)
from tests.executions.strategies import runs
from tests.executions.test_engine import apply, build, drawn, simulate
from workflows.graph import Graph


def obeys_core_rule(built: Graph, states: Mapping[str, str], result: str | None) -> bool:
    """Say whether `result` is what §4.4 gives for the final `states`, computed here again."""
    if built.core_keys:
        return result == (SUCCEEDED if all(states[key] == SUCCEEDED for key in built.core_keys) else FAILED)
    return result == (FAILED if any(states[key] in FAILED_STATES for key in built.task_keys) else SUCCEEDED)


def operate(built: Graph, outcomes: Mapping[str, str], data: st.DataObject) -> tuple[dict[str, str], str, set[str]]:
    """Run a batch to its end while an operator pauses, continues, skips and marks nodes succeeded at random.

    Return the final states, the result and the nodes the operator skipped; assert on the way
    that nothing is queued while paused and that no node starts after it has finished.
    """
    states = initial_states(built)
    paused, actions_left = False, data.draw(st.integers(0, 8))
    finished: set[str] = set()  # tasks that ran to an end
    skipped: set[str] = set()
    marked: set[str] = set()
    retried: set[str] = set()
    while True:
        decision = advance(built, states, hold=paused)
        if paused:
            assert decision.queue == ()
        states = apply(states, decision)
        active = sorted(key for key, state in states.items() if state in ACTIVE)
        if decision.result is not None:
            assert not active and set(states.values()) <= FINISHED
            assert marked <= {key for key, state in states.items() if state == SUCCEEDED}
            return states, decision.result, skipped
        options = ["step"] if active else []
        if paused:
            options.append("continue")
        elif actions_left:
            options.append("pause")
        if actions_left:
            if any(states[key] == PENDING for key in built.task_keys):
                options.append("skip")
            if any(states[key] in FAILED_STATES for key in built.task_keys):
                options.append("mark")
        assert options, f"stuck: {states}"
        choice = data.draw(st.sampled_from(options))
        if choice != "step":
            actions_left = max(actions_left - 1, 0)
        if choice == "pause":
            paused = True
            states |= pause_states(states)
        elif choice == "continue":
            paused = False
        elif choice == "skip":
            key = data.draw(st.sampled_from([key for key in built.task_keys if states[key] == PENDING]))
            states[key] = SKIPPED
            skipped.add(key)
        elif choice == "mark":
            key = data.draw(st.sampled_from([key for key in built.task_keys if states[key] in FAILED_STATES]))
            states |= mark_succeeded_states(built, states, key, frozenset(skipped))
            marked.add(key)
        else:
            key, start = data.draw(st.sampled_from(active)), data.draw(st.booleans())
            state = states[key]
            if state == QUEUED:
                assert key not in finished, f"{key} runs a second time"
            if state == QUEUED and start:
                states[key] = RUNNING
            elif state == RUNNING and start and key not in retried:
                states[key] = RETRYING
                retried.add(key)
            elif state == RETRYING:
                states[key] = QUEUED
            else:
                states[key] = outcomes[key]
                finished.add(key)


@settings(deadline=None)
@given(runs(), st.data())
def test_operator_actions_never_stall_a_batch_nor_run_a_node_twice(
    run: tuple[Graph, dict[str, str]], data: st.DataObject
) -> None:
    built, outcomes = run
    states, result, skipped = operate(built, outcomes, data)
    assert result == batch_result(built, states)
    assert obeys_core_rule(built, states, result)
    assert all(states[key] == SKIPPED for key in skipped)


@settings(deadline=None)
@given(runs(), st.data())
def test_rerun_from_a_node_runs_only_it_and_its_descendants(
    run: tuple[Graph, dict[str, str]], data: st.DataObject
) -> None:
    built, outcomes = run
    original, _, _ = simulate(built, outcomes, drawn(data))
    key = data.draw(st.sampled_from(built.task_keys))
    start = rerun_from_states(built, original, key)
    again = descendants(built, key)
    assert {k for k, state in start.items() if state == PENDING} >= again
    states, result, queued = simulate(built, outcomes, drawn(data), start)
    ran = {k for batch in queued for k in batch}
    assert ran <= again
    assert all(states[k] == original[k] for k in built.task_keys if k not in again)
    assert (states, result) == (original, batch_result(built, original))  # same outcomes, same batch
    changed = outcomes | {k: data.draw(st.sampled_from([SUCCEEDED, FAILED, TIMED_OUT])) for k in again & set(outcomes)}
    states, result, queued = simulate(built, changed, drawn(data), rerun_from_states(built, original, key))
    assert {k for batch in queued for k in batch} <= again
    assert obeys_core_rule(built, states, result)


@settings(deadline=None)
@given(runs(), runs(), st.data())
def test_rerun_from_a_node_on_a_changed_graph_keeps_only_what_ran_as_a_task_outside_the_node(
    old_run: tuple[Graph, dict[str, str]], new_run: tuple[Graph, dict[str, str]], data: st.DataObject
) -> None:
    """The current version may differ in every way (keys added, removed, a join turned into a task).

    A re-run from a task of it gets the original's *task* results only (as `rerun_plan` reads
    them): it keeps a task of the new graph that ran to an end as a task of the old one and is
    not the node or below it; everything else runs or is skipped by the edges, once; it ends by
    the core-node rule.
    """
    old, old_outcomes = old_run
    new, outcomes = new_run
    ended, _, _ = simulate(old, old_outcomes, drawn(data))
    original = {key: ended[key] for key in old.task_keys}
    key = data.draw(st.sampled_from(new.task_keys))
    start = rerun_from_states(new, original, key)
    again = descendants(new, key)
    kept = {k for k, state in start.items() if state != PENDING}
    assert kept == {k for k in new.task_keys if k not in again and original.get(k) in FINISHED}
    assert all(start[k] == original[k] for k in kept)
    states, result, queued = simulate(new, outcomes, drawn(data), start)
    ran = [k for batch in queued for k in batch]
    assert len(ran) == len(set(ran)) and not set(ran) & kept
    assert all(states[k] in FINISHED for k in new.keys)
    assert obeys_core_rule(new, states, result)


@settings(deadline=None)
@given(runs(), st.data())
def test_marking_a_node_of_an_ended_batch_succeeded_continues_it(
    run: tuple[Graph, dict[str, str]], data: st.DataObject
) -> None:
    built, outcomes = run
    original, _, _ = simulate(built, outcomes, drawn(data))
    failed = [key for key in built.task_keys if original[key] in FAILED_STATES]
    if not failed:
        return
    key = data.draw(st.sampled_from(failed))
    start = continuation_states(built, original, key)
    kept = {k for k, state in start.items() if state != PENDING}
    states, result, queued = simulate(built, outcomes, drawn(data), start)
    ran = {k for batch in queued for k in batch}
    assert kept.isdisjoint(ran)
    assert ran <= descendants(built, key)  # nothing else was left to run: the original ended
    assert states[key] == SUCCEEDED
    assert obeys_core_rule(built, states, result)


def test_marking_succeeded_fires_success_edges_and_not_failure_edges() -> None:
    built = build("start-a a>b a!r b>c", core="a,b,c")
    states = initial_states(built) | {"a": FAILED}
    states = apply(states, advance(built, states))
    assert states == {"a": FAILED, "b": SKIPPED, "r": QUEUED, "c": SKIPPED}
    states |= mark_succeeded_states(built, states, "a")
    decision = advance(built, states)
    assert decision.queue == ("b",) and decision.skip == ()
    states = apply(states, decision) | {"b": SUCCEEDED, "r": SUCCEEDED}
    states = apply(states, advance(built, states))
    states["c"] = SUCCEEDED
    assert batch_result(built, states) == SUCCEEDED  # the core nodes succeeded, a among them by hand


def test_a_paused_batch_queues_nothing_and_a_pause_puts_queued_nodes_back() -> None:
    built = build("start-a start-b a>c")
    states = apply(initial_states(built), advance(built, initial_states(built)))
    assert pause_states(states) == {"a": PENDING, "b": PENDING}
    held = states | pause_states(states)
    assert advance(built, held, hold=True).queue == ()
    assert advance(built, held).queue == ("a", "b")


def test_a_skipped_node_skips_its_success_branch() -> None:
    built = build("start-a a>b a!r")
    states = initial_states(built) | {"a": SKIPPED}
    decision = advance(built, states)
    assert set(decision.skip) == {"b", "r"} and decision.result == SUCCEEDED
