"""What a batch runs — a version's blueprint — read once per process (versions never change)."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from executions import engine
from workflows import graph, params, references
from workflows.models import WorkflowVersion
from workflows.params import Param


@dataclass(frozen=True)
class Blueprint:
    """What a batch runs: a version's (or a task run's snapshot's) topology and task settings."""

    version_id: int
    graph: graph.Graph
    tasks: dict[str, dict[str, Any]]  # node key -> task object (secrets sealed)
    timeout_seconds: int
    params: dict[str, Param] = field(default_factory=dict)  # the declared parameters
    trigger: dict[str, Any] = field(default_factory=dict)  # the version's trigger (its zone, its fixed values)
    _straight: dict[tuple[str, str], tuple[str, ...] | None] = field(default_factory=dict, compare=False, repr=False)
    _references: dict[str, frozenset[str] | None] = field(default_factory=dict, compare=False, repr=False)

    def references_of(self, key: str) -> frozenset[str] | None:
        """The nodes whose outputs the node's task refers to; None when its config holds no reference at all."""
        try:
            return self._references[key]
        except KeyError:
            config = self.tasks[key].get("config") or {}
            found = self._references[key] = (
                references.referenced_nodes(config) if references.has_references(config) else None
            )
            return found

    @functools.cached_property
    def core_keys(self) -> frozenset[str]:
        """The keys of the core nodes (their failure is alerted before the batch ends)."""
        return frozenset(node.key for node in self.graph.nodes if node.core)

    def straight_successors(self, key: str, status: str) -> tuple[str, ...] | None:
        """`engine.straight_successors`, remembered per (node, status) for the life of the blueprint."""
        try:
            return self._straight[key, status]
        except KeyError:
            found = self._straight[key, status] = engine.straight_successors(self.graph, key, status)
            return found

    def straight_result(self, key: str, status: str) -> str | None:
        """`engine.straight_result`: the batch's result if this end alone ends it (a one-node batch)."""
        return engine.straight_result(self.graph, key, status)


def blueprint_of(definition: dict[str, Any], version_id: int = 0) -> Blueprint:
    """Build a blueprint from a stored canonical definition."""
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
    declared = params.read_declarations(definition.get("params"), lambda path, message: None)  # stored: valid
    return Blueprint(
        version_id,
        graph.Graph(nodes=nodes, edges=edges),
        tasks,
        definition["timeout_seconds"],
        params=declared,
        trigger=dict(definition.get("trigger") or {}),
    )


class BlueprintCache:
    """Blueprints by version id, least recently used out first; versions never change, so never stale."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._blueprints: OrderedDict[int, Blueprint] = OrderedDict()

    def get_many(self, version_ids: Iterable[int]) -> dict[int, Blueprint]:
        """Return the blueprints of these versions, reading the missing ones in one query."""
        wanted = set(version_ids)
        missing = wanted - self._blueprints.keys()
        if missing:
            for pk, definition in WorkflowVersion.objects.filter(pk__in=missing).values_list("pk", "definition"):
                self._blueprints[pk] = blueprint_of(definition, pk)
        found = {}
        for pk in wanted:
            self._blueprints.move_to_end(pk)
            found[pk] = self._blueprints[pk]
        while len(self._blueprints) > self.size:
            self._blueprints.popitem(last=False)
        return found

    def clear(self) -> None:
        self._blueprints.clear()


blueprints = BlueprintCache()


def blueprint_for(version_id: int) -> Blueprint:
    """Return the blueprint of a version, cached for the life of the process."""
    return blueprints.get_many([version_id])[version_id]
