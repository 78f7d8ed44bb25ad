"""Decide what a batch does next (SPEC §4.2, §4.4): the pure DAG state machine.

Pure Python, no Django.  The caller maps its node runs to ``{node key: status}`` (START is
never listed), calls :func:`advance`, and applies the returned :class:`Decision` with guarded
transitions.  Only PENDING nodes are ever changed, so the input need not be topologically
consistent (a resumed batch keeps SUCCEEDED nodes whose upstream is PENDING again).

Where the SPEC is silent:

* :func:`resume_states` keeps a SUCCEEDED task only if its upstream edge is satisfied by the
  kept nodes alone; a task that ran because of a FAILURE edge (a rollback) is reset, so it
  runs again if, and only if, the re-run node fails again.
* A logic node that was PENDING when the batch stopped becomes STOPPED, like a pending task.

Operator recovery (docs/decisions.md, "Operator recovery"): :func:`advance` with ``hold`` (a
paused batch) queues nothing; :func:`pause_states` puts back what was queued and not started;
:func:`mark_succeeded_states`, :func:`continuation_states` and :func:`rerun_from_states` give
the states after an operator marks a node succeeded or re-runs from a node. A node an operator
skipped is simply SKIPPED: its downstream follows the edges (§4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workflows.graph import FAILURE, OR, START, SUCCESS, TASK, Edge, Graph, Node

PENDING = "pending"
QUEUED = "queued"
RUNNING = "running"
RETRYING = "retrying"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
SKIPPED = "skipped"
STOPPED = "stopped"

NODE_STATES = frozenset({PENDING, QUEUED, RUNNING, RETRYING, SUCCEEDED, FAILED, TIMED_OUT, SKIPPED, STOPPED})
FINISHED = frozenset({SUCCEEDED, FAILED, TIMED_OUT, SKIPPED, STOPPED})
UNFINISHED = NODE_STATES - FINISHED
FAILED_STATES = frozenset({FAILED, TIMED_OUT})
ACTIVE = frozenset({QUEUED, RUNNING, RETRYING})
STOPPABLE = frozenset({PENDING, QUEUED, RETRYING})

SATISFIED, DEAD, OPEN = "satisfied", "dead", "open"


@dataclass(frozen=True)
class Decision:
    """The transitions one call of :func:`advance` asks for, and the batch result if final."""

    queue: tuple[str, ...] = ()
    satisfy: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    result: str | None = None

    def moves(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Return (new state, pending nodes that move to it) for each kind of move, in the order they apply."""
        return ((QUEUED, self.queue), (SUCCEEDED, self.satisfy), (SKIPPED, self.skip))


def initial_states(graph: Graph) -> dict[str, str]:
    """Return the states of a new batch: every node PENDING."""
    return {key: PENDING for key in graph.keys}


def edge_state(graph: Graph, edge: Edge, states: Mapping[str, str]) -> str:
    """Return whether ``edge`` is SATISFIED, DEAD or still OPEN under ``states``."""
    if edge.source == START:
        return SATISFIED
    status = states[edge.source]
    if status not in FINISHED:
        return OPEN
    if graph.node(edge.source).type == TASK:
        fired = (status == SUCCEEDED and edge.on == SUCCESS) or (status in FAILED_STATES and edge.on == FAILURE)
    else:
        fired = status == SUCCEEDED
    return SATISFIED if fired else DEAD


def next_state(node: Node, upstream: Iterable[str]) -> str | None:
    """Return the state a PENDING node moves to given its upstream edge states, or None."""
    edges = list(upstream)
    if not edges:
        return None
    if node.type == OR:
        if SATISFIED in edges:
            return SUCCEEDED
        return SKIPPED if all(edge == DEAD for edge in edges) else None
    if DEAD in edges:
        return SKIPPED
    if all(edge == SATISFIED for edge in edges):
        return QUEUED if node.type == TASK else SUCCEEDED
    return None


def advance(graph: Graph, states: Mapping[str, str], *, hold: bool = False) -> Decision:
    """Return every transition that follows from ``states``, cascaded to a fixpoint.

    With ``hold`` (the batch is paused) no task is queued: a ready task stays PENDING, so its
    downstream waits; logic nodes and skips still follow, and a batch with nothing left ends.
    """
    _require_states(graph, states)
    current = dict(states)
    moves: dict[str, list[str]] = {QUEUED: [], SUCCEEDED: [], SKIPPED: []}
    for key in graph.topological_order()[1:]:
        if current[key] != PENDING:
            continue
        upstream = (edge_state(graph, edge, current) for edge in graph.upstream(key))
        state = next_state(graph.node(key), upstream)
        if state == QUEUED and hold:
            continue
        if state is not None:
            current[key] = state
            moves[state].append(key)
    return Decision(
        queue=tuple(moves[QUEUED]),
        satisfy=tuple(moves[SUCCEEDED]),
        skip=tuple(moves[SKIPPED]),
        result=batch_result(graph, current),
    )


def straight_successors(graph: Graph, key: str, status: str) -> tuple[str, ...] | None:
    """Return what `advance` decides when task `key` ends with `status`, if it needs no other state.

    That is the case when every node right after `key` is a task whose only upstream edge comes
    from `key`, and `status` fires every one of those edges: exactly those tasks are queued and
    the batch cannot end (they are unfinished). Anything else (a join, a logic node, a dead edge
    that skips and cascades, no successor) returns None: the caller reads the batch's states and
    calls `advance`. It holds because the batch was at a fixpoint before `key` ended: `key` is
    the only change, so only nodes right after it can move.
    """
    after = graph.downstream(key)
    if not after or status not in FINISHED:
        return None
    succeeded = status == SUCCEEDED
    for edge in after:
        node = graph.node(edge.target)
        fired = (succeeded and edge.on == SUCCESS) or (status in FAILED_STATES and edge.on == FAILURE)
        if node.type != TASK or len(graph.upstream(edge.target)) != 1 or not fired:
            return None
    return tuple(edge.target for edge in after)


def straight_result(graph: Graph, key: str, status: str) -> str | None:
    """Return the batch's result when task `key` ending with `status` ends the batch with no other state read.

    That is the case when `key` is the graph's only node (a standalone task's run, a one-node
    workflow): its end is the whole state, so `advance` queues nothing and returns this result.
    Any other graph returns None: whether the batch ends depends on the other nodes' states.
    """
    if graph.keys != (key,) or status not in FINISHED:
        return None
    return batch_result(graph, {key: status})


def batch_result(graph: Graph, states: Mapping[str, str]) -> str | None:
    """Return SUCCEEDED or FAILED once every node is finished (§4.4), else None."""
    if any(states[key] not in FINISHED for key in graph.keys):
        return None
    if graph.core_keys:
        core_ok = all(states[key] == SUCCEEDED for key in graph.core_keys)
        return SUCCEEDED if core_ok else FAILED
    failed = any(states[key] in FAILED_STATES for key in graph.task_keys)
    return FAILED if failed else SUCCEEDED


def resume_states(graph: Graph, original: Mapping[str, str]) -> dict[str, str]:
    """Return the starting states of a "resume from failure" re-run of ``original``."""
    kept = initial_states(graph)
    for key in graph.topological_order()[1:]:
        node = graph.node(key)
        upstream = [edge_state(graph, edge, kept) for edge in graph.upstream(key)]
        if node.type != TASK:
            if next_state(node, upstream) == SUCCEEDED:
                kept[key] = SUCCEEDED  # provisional: lets its downstream be kept
        elif original.get(key) == SUCCEEDED and upstream == [SATISFIED]:
            kept[key] = SUCCEEDED
    return {key: kept[key] if key in graph.task_keys else PENDING for key in graph.keys}


def descendants(graph: Graph, key: str) -> frozenset[str]:
    """Return ``key`` and every node reachable from it."""
    seen, todo = {key}, [key]
    while todo:
        for edge in graph.downstream(todo.pop()):
            if edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return frozenset(seen)


def rerun_from_states(graph: Graph, original: Mapping[str, str], key: str) -> dict[str, str]:
    """Return the starting states of a re-run of ``original`` from node ``key``.

    ``key`` and its descendants are PENDING (they run again, or are skipped by the edges);
    every other task keeps the end it had (a node of ``graph`` the original did not have runs);
    logic nodes are decided again from those, which gives what they were.
    """
    again = descendants(graph, key)
    return {
        node: original[node]
        if node in graph.task_keys and node not in again and original.get(node) in FINISHED
        else PENDING
        for node in graph.keys
    }


def mark_succeeded_states(
    graph: Graph, states: Mapping[str, str], key: str, held: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Return the changes when an operator marks task ``key`` (failed, timed out, stopped) succeeded.

    ``key`` becomes SUCCEEDED, so its success edges fire and its failure edges are dead from now
    on; its descendants that were SKIPPED (never started) become PENDING for :func:`advance` to
    decide again, except those in ``held`` (skipped by an operator). What already started keeps
    its state: a failure branch that was queued or ran is not called back.
    """
    changes = {key: SUCCEEDED}
    for node in descendants(graph, key) - {key}:
        if states[node] == SKIPPED and node not in held:
            changes[node] = PENDING
    return changes


def continuation_states(
    graph: Graph, original: Mapping[str, str], key: str, held: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Return the starting states of the batch that continues an ended ``original`` in which task ``key`` is marked succeeded.

    ``key`` is SUCCEEDED; every other task keeps its end, except that skipped (not ``held``) and
    stopped tasks are PENDING again, like a resume; logic nodes are decided again.
    """
    states = dict.fromkeys(graph.keys, PENDING)
    for node in graph.task_keys:
        status = original.get(node)
        if node == key:
            states[node] = SUCCEEDED
        elif status in FINISHED and status not in (SKIPPED, STOPPED):
            states[node] = status
        elif status == SKIPPED and node in held:
            states[node] = SKIPPED
    return states


def pause_states(states: Mapping[str, str]) -> dict[str, str]:
    """Return the nodes a pause puts back to PENDING: queued, not started (running and retrying ones go on)."""
    return {key: PENDING for key, state in states.items() if state == QUEUED}


def stop_states(states: Mapping[str, str]) -> dict[str, str]:
    """Return the nodes a stop or batch timeout moves to STOPPED (running ones excluded)."""
    return {key: STOPPED for key, state in states.items() if state in STOPPABLE}


def _require_states(graph: Graph, states: Mapping[str, str]) -> None:
    """Raise ValueError unless ``states`` gives every node a known status."""
    missing = [key for key in graph.keys if key not in states]
    if missing:
        raise ValueError(f"no state for nodes {', '.join(map(repr, missing))}")
    unknown = {key: states[key] for key in graph.keys if states[key] not in NODE_STATES}
    if unknown:
        raise ValueError(f"unknown node states {unknown!r}")
