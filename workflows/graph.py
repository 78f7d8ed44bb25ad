"""Validate a workflow's topology (SPEC §3): the one validator behind admin, API, CLI and engine.

Pure Python, no Django.  A :class:`Graph` holds frozen :class:`Node` and :class:`Edge` values;
:func:`validate` returns every :class:`Violation` (empty when valid) and :func:`check` raises
:class:`TopologyError` carrying them all.

Rule ids in :attr:`Violation.rule` are SPEC sections.  Where the SPEC is silent:

* ``"1"`` (§1 Concepts) covers the shape of nodes and edges: unknown node type, a task node
  without a task name or a logic node with one, ``core`` on a logic node, duplicate node keys,
  edges naming unknown nodes.
* ``"3.1"`` covers START: a node keyed ``start`` (a second START), an edge into START,
  unreachable nodes (one violation listing them all).
* ``"3.6"`` also rejects a workflow without any task node.
* ``"3.8"`` applies the name rule to node keys and task names as well.

To avoid cascaded noise, an edge already reported as unusable (unknown endpoint, into START,
self-loop, or a repeat of an earlier edge between the same pair) is left out of the later
structural checks (§3.1-§3.5), and of duplicate node keys only the first is analysed.
"""

from __future__ import annotations

import heapq
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from baton.text import _

START = "start"
TASK, AND, OR = "task", "and", "or"
NODE_TYPES = (TASK, AND, OR)
LOGIC_TYPES = (AND, OR)
SUCCESS, FAILURE = "success", "failure"
MAX_NAME_LENGTH = 64


def _category_ranges() -> tuple[str, str]:
    """Return regex class bodies for Unicode letters (L*) and marks (M*)."""
    letters: list[str] = []
    marks: list[str] = []
    previous, start = "", 0
    for code in range(sys.maxunicode + 2):
        kind = unicodedata.category(chr(code))[0] if code <= sys.maxunicode else ""
        if kind != previous:
            if previous in ("L", "M"):
                span = f"\\U{start:08x}-\\U{code - 1:08x}"
                (letters if previous == "L" else marks).append(span)
            previous, start = kind, code
    return "".join(letters), "".join(marks)


_LETTERS, _MARKS = _category_ranges()

#: A name (SPEC §3.8): 1-64 code points; letters of any script (each optionally followed by
#: combining marks), ASCII digits, ``-``, ``_`` and ``.``.
NAME_PATTERN: re.Pattern[str] = re.compile(rf"(?s)(?=.{{1,{MAX_NAME_LENGTH}}}\Z)(?:[{_LETTERS}][{_MARKS}]*|[0-9._\-])+")
_LETTER = re.compile(f"[{_LETTERS}]")
_MARK = re.compile(f"[{_MARKS}]")


def name_problem(value: object) -> str | None:
    """Return why ``value`` is not a valid name (SPEC §3.8), or None when it is."""
    if not isinstance(value, str):
        return _("must be a string (found %(type)s)", type=type(value).__name__)
    if not 1 <= len(value) <= MAX_NAME_LENGTH:
        return _("must be 1-%(most)d characters (found %(length)d)", most=MAX_NAME_LENGTH, length=len(value))
    after_letter = False
    for char in value:
        if _LETTER.match(char):
            after_letter = True
        elif _MARK.match(char) and after_letter:
            continue
        elif char in "0123456789-_.":
            after_letter = False
        else:
            return _(
                "may contain only letters, digits 0-9, '-', '_' and '.' (found %(char)r, U+%(code)04X)",
                char=char,
                code=ord(char),
            )
    return None


@dataclass(frozen=True)
class Node:
    """A TASK, AND or OR node of a workflow (START is implicit and never listed)."""

    key: str
    type: str
    task: str | None = None
    core: bool = False


@dataclass(frozen=True)
class Edge:
    """A dependency from ``source`` (a node key or START) to ``target``."""

    source: str
    target: str
    on: str | None = None


@dataclass(frozen=True)
class Graph:
    """A workflow's nodes and edges, with lookups for the validator and the engine."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def __post_init__(self) -> None:
        """Accept any iterables but store tuples, so a graph stays hashable."""
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "edges", tuple(self.edges))

    @cached_property
    def _by_key(self) -> dict[str, Node]:
        by_key: dict[str, Node] = {}
        for node in self.nodes:
            by_key.setdefault(node.key, node)
        return by_key

    @cached_property
    def _upstream(self) -> dict[str, tuple[Edge, ...]]:
        return _group(self.edges, lambda edge: edge.target)

    @cached_property
    def _downstream(self) -> dict[str, tuple[Edge, ...]]:
        return _group(self.edges, lambda edge: edge.source)

    def node(self, key: str) -> Node:
        """Return the (first) node with ``key``; raise KeyError if there is none."""
        return self._by_key[key]

    def upstream(self, key: str) -> tuple[Edge, ...]:
        """Return the edges entering ``key``, in definition order."""
        return self._upstream.get(key, ())

    def downstream(self, key: str) -> tuple[Edge, ...]:
        """Return the edges leaving ``key`` (or START), in definition order."""
        return self._downstream.get(key, ())

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Return every node key (without START), in definition order."""
        return tuple(self._by_key)

    @cached_property
    def task_keys(self) -> tuple[str, ...]:
        """Return the keys of TASK nodes, in definition order."""
        return tuple(key for key, node in self._by_key.items() if node.type == TASK)

    @cached_property
    def core_keys(self) -> tuple[str, ...]:
        """Return the keys of core TASK nodes, in definition order."""
        return tuple(key for key in self.task_keys if self._by_key[key].core)

    def topological_order(self) -> tuple[str, ...]:
        """Return START then every node key, parents first, ties in definition order."""
        return self._topological_order

    @cached_property
    def _topological_order(self) -> tuple[str, ...]:
        index = {key: position for position, key in enumerate(self._by_key)}
        index[START] = -1
        pending = Counter(edge.target for edge in self.edges if edge.target in index and edge.source in index)
        pending[START] = 0
        ready = [(position, key) for key, position in index.items() if not pending[key]]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            key = heapq.heappop(ready)[1]
            order.append(key)
            for edge in self.downstream(key):
                if edge.target in index:
                    pending[edge.target] -= 1
                    if not pending[edge.target]:
                        heapq.heappush(ready, (index[edge.target], edge.target))
        if len(order) != len(index):
            raise ValueError("graph has a cycle; it has no topological order")
        return tuple(order)


def dominators(graph: Graph) -> dict[str, frozenset[str]]:
    """Return, for START and every node, the nodes on every path from START to it (itself included).

    A node `d` is in `dominators(g)[n]` when no path from START reaches `n` without passing
    through `d`: `n` can run only after `d` finished (or was skipped). The graph must be
    acyclic (`validate` found nothing); a node START cannot reach has only itself.
    """
    known = set(graph.keys) | {START}
    result: dict[str, frozenset[str]] = {START: frozenset({START})}
    for key in graph.topological_order():
        if key == START:
            continue
        sources = [result[e.source] for e in graph.upstream(key) if e.source in known and e.source in result]
        shared = frozenset.intersection(*sources) if sources else frozenset()
        result[key] = shared | {key}
    return result


def _group(edges: Iterable[Edge], key: Callable[[Edge], str]) -> dict[str, tuple[Edge, ...]]:
    """Group ``edges`` by ``key(edge)``, keeping definition order."""
    grouped: dict[str, list[Edge]] = {}
    for edge in edges:
        grouped.setdefault(key(edge), []).append(edge)
    return {name: tuple(group) for name, group in grouped.items()}


def graph_from_definition(definition: Mapping[str, Any]) -> Graph:
    """Build a Graph from a SPEC §10 definition's ``nodes`` and ``edges``."""
    nodes = []
    for item in definition.get("nodes", ()):
        task = item.get("task")
        name = task.get("name") if isinstance(task, Mapping) else task
        nodes.append(Node(item.get("key"), item.get("type"), name, bool(item.get("core"))))
    edges = [Edge(e.get("from"), e.get("to"), e.get("on")) for e in definition.get("edges", ())]
    return Graph(tuple(nodes), tuple(edges))


@dataclass(frozen=True)
class Violation:
    """One broken topology rule, naming the nodes and edges to highlight."""

    rule: str
    message: str
    nodes: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        """Return the message."""
        return self.message


class TopologyError(ValueError):
    """A workflow definition breaks one or more topology rules."""

    def __init__(self, violations: Iterable[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("\n".join(violation.message for violation in self.violations))


def check(graph: Graph, *, max_tasks: int = 20) -> None:
    """Raise TopologyError listing every violation if ``graph`` is not a valid workflow."""
    violations = validate(graph, max_tasks=max_tasks)
    if violations:
        raise TopologyError(violations)


def validate(graph: Graph, *, max_tasks: int = 20) -> list[Violation]:
    """Return every topology violation of ``graph`` in a deterministic order."""
    checker = _Checker(graph, max_tasks)
    return checker.run()


def _quote(keys: Iterable[str]) -> str:
    """Return keys as a comma-separated list of quoted names."""
    return ", ".join(repr(key) for key in keys)


def _arrow(edge: Edge) -> str:
    """Return an edge as "'a' -> 'b'"."""
    return f"{edge.source!r} -> {edge.target!r}"


def _label(node: Node) -> str:
    """Return a node as "node 'deploy' (task)"."""
    return _("node %(key)r (%(type)s)", key=node.key, type=node.type)


@dataclass
class _Checker:
    """Collect violations for one graph; the usable nodes and edges feed the later rules."""

    graph: Graph
    max_tasks: int
    found: list[Violation] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    untyped: set[str] = field(default_factory=set)
    edges: list[Edge] = field(default_factory=list)

    def add(
        self,
        rule: str,
        message: str,
        nodes: Iterable[str] = (),
        edges: Iterable[Edge] = (),
    ) -> None:
        """Record a violation."""
        pairs = tuple((edge.source, edge.target) for edge in edges)
        self.found.append(Violation(rule, message, tuple(nodes), pairs))

    def run(self) -> list[Violation]:
        """Apply every rule in order and return the violations."""
        self.check_nodes()
        self.check_task_count()
        self.check_task_names()
        self.check_edges()
        self.check_edge_triggers()
        self.check_reachable()
        self.check_task_upstream()
        self.check_logic_nodes()
        self.check_cycles()
        return self.found

    def check_nodes(self) -> None:
        """Check each node's key, type, task name and core flag."""
        for node in self.graph.nodes:
            problem = name_problem(node.key)
            if problem:
                self.add("3.8", _("node key %(key)r %(problem)s", key=node.key, problem=problem), [str(node.key)])
                if not isinstance(node.key, str):
                    continue
            if node.key == START:
                self.add("3.1", _("node key %(key)r is reserved for the START node", key=START), [START])
                continue
            if node.key in self.nodes or node.key in self.untyped:
                self.add("1", _("node key %(key)r is used by more than one node", key=node.key), [node.key])
                continue
            if node.type not in NODE_TYPES:
                known = "', '".join(NODE_TYPES)
                message = _(
                    "node %(key)r has unknown type %(type)r (use '%(known)s')",
                    key=node.key,
                    type=node.type,
                    known=known,
                )
                self.add("1", message, [node.key])
                self.untyped.add(node.key)
                continue
            self.nodes[node.key] = node
            self.check_node_fields(node)

    def check_node_fields(self, node: Node) -> None:
        """Check that task name and core flag fit the node's type."""
        if node.type == TASK:
            problem = name_problem(node.task)
            if node.task is None or node.task == "":
                self.add("1", _("%(node)s needs a task", node=_label(node)), [node.key])
            elif problem:
                self.add("3.8", _("task name of %(node)s %(problem)s", node=_label(node), problem=problem), [node.key])
            return
        if node.task is not None:
            self.add("1", _("%(node)s is a logic node and cannot run a task", node=_label(node)), [node.key])
        if node.core:
            self.add("1", _("%(node)s cannot be core; only task nodes can", node=_label(node)), [node.key])

    def check_task_count(self) -> None:
        """Require between 1 and max_tasks task nodes (§3.6)."""
        tasks = [key for key, node in self.nodes.items() if node.type == TASK]
        if not tasks:
            self.add("3.6", _("the workflow has no task node; it needs at least one"))
        elif len(tasks) > self.max_tasks:
            message = _(
                "the workflow has %(count)d task nodes; at most %(most)d are allowed",
                count=len(tasks),
                most=self.max_tasks,
            )
            self.add("3.6", message, tasks)

    def check_task_names(self) -> None:
        """Require each task to appear at most once (§3.7)."""
        by_task: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.type == TASK and isinstance(node.task, str) and node.task:
                by_task.setdefault(node.task, []).append(node.key)
        for task, keys in by_task.items():
            if len(keys) > 1:
                message = _(
                    "task %(task)r appears in %(count)d nodes (%(keys)s); a task may appear at most once in a workflow",
                    task=task,
                    count=len(keys),
                    keys=_quote(keys),
                )
                self.add("3.7", message, keys)

    def check_edges(self) -> None:
        """Drop and report edges to unknown nodes, into START, self-loops and repeats."""
        seen: set[tuple[str, str]] = set()
        repeats: Counter[tuple[str, str]] = Counter()
        for edge in self.graph.edges:
            if self.edge_unusable(edge):
                continue
            pair = (edge.source, edge.target)
            if pair in seen:
                repeats[pair] += 1
                continue
            seen.add(pair)
            self.edges.append(edge)
        for (source, target), extra in repeats.items():
            message = _(
                "edge %(edge)s is listed %(count)d times; two nodes are joined by at most one edge",
                edge=_arrow(Edge(source, target)),
                count=extra + 1,
            )
            self.add("3.4", message, [source, target], [Edge(source, target)])

    def edge_unusable(self, edge: Edge) -> bool:
        """Report and return True if ``edge`` cannot take part in the graph."""
        if {edge.source, edge.target} & self.untyped:
            return True  # the node's unknown type is already reported
        unknown = [key for key in dict.fromkeys((edge.source, edge.target)) if key != START and key not in self.nodes]
        if unknown:
            message = _("edge %(edge)s refers to unknown node %(keys)s", edge=_arrow(edge), keys=_quote(unknown))
            self.add("1", message, [], [edge])
        elif edge.target == START:
            message = _("edge %(edge)s points into START; START has no upstream edge", edge=_arrow(edge))
            self.add("3.1", message, [edge.source], [edge])
        elif edge.source == edge.target:
            message = _("edge %(edge)s is a self-loop; a node cannot depend on itself", edge=_arrow(edge))
            self.add("3.4", message, [edge.source], [edge])
        else:
            return False
        return True

    def check_edge_triggers(self) -> None:
        """Require 'success'/'failure' on edges leaving tasks and nothing elsewhere (§3.5)."""
        for edge in self.edges:
            source = self.nodes.get(edge.source)
            if source is not None and source.type == TASK:
                if edge.on not in (SUCCESS, FAILURE):
                    message = _(
                        "edge %(edge)s leaves task node %(key)r and must be on 'success' or 'failure' (found %(on)r)",
                        edge=_arrow(edge),
                        key=edge.source,
                        on=edge.on,
                    )
                    self.add("3.5", message, [edge.source], [edge])
            elif edge.on is not None:
                where = "START" if source is None else _("%(type)s node %(key)r", type=source.type, key=edge.source)
                message = _(
                    "edge %(edge)s leaves %(where)s and must not carry a trigger (found %(on)r)",
                    edge=_arrow(edge),
                    where=where,
                    on=edge.on,
                )
                self.add("3.5", message, [edge.source], [edge])

    def check_reachable(self) -> None:
        """Report the nodes that cannot be reached from START (§3.1)."""
        downstream = _group(self.edges, lambda edge: edge.source)
        reached, frontier = {START}, [START]
        while frontier:
            for edge in downstream.get(frontier.pop(), ()):
                if edge.target not in reached:
                    reached.add(edge.target)
                    frontier.append(edge.target)
        lost = [key for key in self.nodes if key not in reached]
        if lost:
            if len(lost) == 1:
                message = _("node is not reachable from START: %(keys)s", keys=_quote(lost))
            else:
                message = _("nodes are not reachable from START: %(keys)s", keys=_quote(lost))
            self.add("3.1", message, lost)

    def check_task_upstream(self) -> None:
        """Require exactly one upstream edge per task node (§3.2)."""
        upstream = _group(self.edges, lambda edge: edge.target)
        for key, node in self.nodes.items():
            entering = upstream.get(key, ())
            if node.type != TASK or len(entering) == 1:
                continue
            if entering:
                message = _(
                    "%(node)s has %(count)d upstream edges (from %(keys)s); a task node needs exactly one",
                    node=_label(node),
                    count=len(entering),
                    keys=_quote(edge.source for edge in entering),
                )
            else:
                message = _("%(node)s has no upstream edge; a task node needs exactly one", node=_label(node))
            self.add("3.2", message, [key], entering)

    def check_logic_nodes(self) -> None:
        """Require logic nodes to have inputs and outputs, all of them tasks (§3.3)."""
        upstream = _group(self.edges, lambda edge: edge.target)
        downstream = _group(self.edges, lambda edge: edge.source)
        for key, node in self.nodes.items():
            if node.type not in LOGIC_TYPES:
                continue
            if key not in upstream:
                message = _("%(node)s has no upstream edge; a logic node needs at least one", node=_label(node))
                self.add("3.3", message, [key])
            if key not in downstream:
                message = _("%(node)s has no downstream edge; a logic node needs at least one", node=_label(node))
                self.add("3.3", message, [key])
        for edge in self.edges:
            self.check_logic_edge(edge)

    def check_logic_edge(self, edge: Edge) -> None:
        """Report an edge from START into a logic node, or between two logic nodes."""
        source = self.nodes.get(edge.source)  # None: the edge leaves START
        target = self.nodes[edge.target]
        if target.type not in LOGIC_TYPES:
            return
        if source is None:
            joins = _("START to %(node)s", node=_label(target))
        elif source.type in LOGIC_TYPES:
            joins = _("two logic nodes (%(source)r and %(target)r)", source=edge.source, target=edge.target)
        else:
            return
        message = _(
            "edge %(edge)s joins %(joins)s; every neighbour of a logic node must be a task node",
            edge=_arrow(edge),
            joins=joins,
        )
        self.add("3.3", message, [edge.source, edge.target], [edge])

    def check_cycles(self) -> None:
        """Report each cycle with the nodes on it (§3.4)."""
        for component in _strongly_connected(list(self.nodes), self.edges):
            inside = set(component)
            edges = [e for e in self.edges if e.source in inside and e.target in inside]
            path = _cycle_path(component[0], edges)
            message = _(
                "nodes %(keys)s form a cycle: %(path)s", keys=_quote(component), path=" -> ".join(map(repr, path))
            )
            self.add("3.4", message, component, edges)


def _strongly_connected(keys: list[str], edges: list[Edge]) -> list[list[str]]:
    """Return the strongly connected components with more than one node (Kosaraju)."""
    position = {key: number for number, key in enumerate(keys)}
    forward: dict[str, list[str]] = {key: [] for key in keys}
    backward: dict[str, list[str]] = {key: [] for key in keys}
    for edge in edges:
        if edge.source in position and edge.target in position:
            forward[edge.source].append(edge.target)
            backward[edge.target].append(edge.source)
    assigned: set[str] = set()
    components: list[list[str]] = []
    for root in reversed(_postorder(keys, forward)):
        if root in assigned:
            continue
        component, frontier = [], [root]
        assigned.add(root)
        while frontier:
            key = frontier.pop()
            component.append(key)
            for parent in backward[key]:
                if parent not in assigned:
                    assigned.add(parent)
                    frontier.append(parent)
        if len(component) > 1:
            components.append(sorted(component, key=position.__getitem__))
    return sorted(components, key=lambda component: position[component[0]])


def _postorder(keys: list[str], forward: Mapping[str, list[str]]) -> list[str]:
    """Return ``keys`` in depth-first post-order, without recursion."""
    seen: set[str] = set()
    finished: list[str] = []
    for root in keys:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(forward[root]))]
        while stack:
            key, children = stack[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                stack.pop()
                finished.append(key)
            else:
                seen.add(child)
                stack.append((child, iter(forward[child])))
    return finished


def _cycle_path(first: str, edges: list[Edge]) -> list[str]:
    """Return one shortest cycle through ``first`` using only ``edges`` of its component."""
    downstream = _group(edges, lambda edge: edge.source)
    parents: dict[str, str] = {}
    frontier = [first]
    while frontier:
        key = frontier.pop(0)
        for edge in downstream.get(key, ()):
            if edge.target == first:
                path = [key]
                while path[-1] != first:
                    path.append(parents[path[-1]])
                return [*reversed(path), first]
            if edge.target not in parents:
                parents[edge.target] = key
                frontier.append(edge.target)
    return [first]
