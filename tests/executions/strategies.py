"""Random workflows for property tests: the engine's (test_engine) and the two hop stores' (test_hop_stores)."""

from __future__ import annotations

from hypothesis import strategies as st

from executions.engine import FAILED, SUCCEEDED, TIMED_OUT
from workflows.graph import AND, FAILURE, OR, START, SUCCESS, TASK, Edge, Graph, Node


@st.composite
def dags(draw: st.DrawFn) -> Graph:
    """Draw a valid workflow: tasks and logic nodes wired by the §3 rules."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    tasks: list[str] = []
    logic: list[str] = []
    triggers = st.sampled_from([SUCCESS, FAILURE])
    for number in range(draw(st.integers(1, 12))):
        key = f"n{number}"
        kind = draw(st.sampled_from([TASK, TASK, AND, OR])) if tasks else TASK
        if kind == TASK:
            source = draw(st.sampled_from([START, *tasks, *logic]))
            on = draw(triggers) if source in tasks else None
            edges.append(Edge(source, key, on))
            nodes.append(Node(key, TASK, f"task-{key}", draw(st.booleans())))
            tasks.append(key)
        else:
            sources = draw(st.lists(st.sampled_from(tasks), min_size=1, max_size=3, unique=True))
            edges += [Edge(source, key, draw(triggers)) for source in sources]
            nodes.append(Node(key, kind))
            logic.append(key)
    for number, key in enumerate(logic):
        if not any(edge.source == key for edge in edges):
            edges.append(Edge(key, f"after{number}"))
            nodes.append(Node(f"after{number}", TASK, f"task-after{number}"))
    return Graph(tuple(nodes), tuple(edges))


@st.composite
def runs(draw: st.DrawFn) -> tuple[Graph, dict[str, str]]:
    """Draw a workflow and the outcome each of its tasks will have."""
    built = draw(dags())
    outcome = st.sampled_from([SUCCEEDED, FAILED, TIMED_OUT])
    return built, {key: draw(outcome) for key in built.task_keys}
