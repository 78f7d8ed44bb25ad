"""What the engine needs from a version, read once per process (versions never change)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from workflows import graph
from workflows.models import WorkflowVersion


@dataclass(frozen=True)
class Plan:
    """A version's topology and task settings."""

    version_id: int
    graph: graph.Graph
    tasks: dict[str, dict[str, Any]]  # node key -> task object (secrets sealed)
    timeout_seconds: int


def plan_of(definition: dict[str, Any], version_id: int = 0) -> Plan:
    """Build a plan from a stored canonical definition."""
    nodes = tuple(
        graph.Node(
            key=n["key"],
            type=n["type"],
            task=n["task"]["name"] if n["type"] == graph.TASK else None,
            core=bool(n.get("core")),
        )
        for n in definition["nodes"]
    )
    edges = tuple(graph.Edge(e["from"], e["to"], e.get("on")) for e in definition["edges"])
    tasks = {n["key"]: n["task"] for n in definition["nodes"] if n["type"] == graph.TASK}
    return Plan(version_id, graph.Graph(nodes=nodes, edges=edges), tasks, definition["timeout_seconds"])


@lru_cache(maxsize=512)
def plan_for(version_id: int) -> Plan:
    """Return the plan of a version, cached for the life of the process."""
    definition = WorkflowVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    return plan_of(definition, version_id)
