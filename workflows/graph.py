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
        return f"must be a string (found {type(value).__name__})"
    if not 1 <= len(value) <= MAX_NAME_LENGTH:
        return f"must be 1-{MAX_NAME_LENGTH} characters (found {len(value)})"
    after_letter = False
    for char in value:
        if _LETTER.match(char):
            after_letter = True
        elif _MARK.match(char) and after_letter:
            continue
        elif char in "0123456789-_.":
            after_letter = False
        else:
            return f"may contain only letters, digits 0-9, '-', '_' and '.' (found {char!r}, U+{ord(char):04X})"
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
            _, key = heapq.heappop(ready)
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


def _plural(count: int, noun: str) -> str:
    """Return '1 edge' / '2 edges'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _arrow(edge: Edge) -> str:
    """Return an edge as "'a' -> 'b'"."""
    return f"{edge.source!r} -> {edge.target!r}"


def _label(node: Node) -> str:
    """Return a node as "node 'deploy' (task)"."""
    return f"node {node.key!r} ({node.type})"


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
                self.add("3.8", f"node key {node.key!r} {problem}", [str(node.key)])
                if not isinstance(node.key, str):
                    continue
            if node.key == START:
                self.add("3.1", f"node key {START!r} is reserved for the START node", [START])
                continue
            if node.key in self.nodes or node.key in self.untyped:
                self.add("1", f"node key {node.key!r} is used by more than one node", [node.key])
                continue
            if node.type not in NODE_TYPES:
                known = "', '".join(NODE_TYPES)
                message = f"node {node.key!r} has unknown type {node.type!r} (use '{known}')"
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
                self.add("1", f"{_label(node)} needs a task", [node.key])
            elif problem:
                self.add("3.8", f"task name of {_label(node)} {problem}", [node.key])
            return
        if node.task is not None:
            self.add("1", f"{_label(node)} is a logic node and cannot run a task", [node.key])
        if node.core:
            self.add("1", f"{_label(node)} cannot be core; only task nodes can", [node.key])

    def check_task_count(self) -> None:
        """Require between 1 and max_tasks task nodes (§3.6)."""
        tasks = [key for key, node in self.nodes.items() if node.type == TASK]
        if not tasks:
            self.add("3.6", "the workflow has no task node; it needs at least one")
        elif len(tasks) > self.max_tasks:
            message = f"the workflow has {len(tasks)} task nodes; at most {self.max_tasks} are allowed"
            self.add("3.6", message, tasks)

    def check_task_names(self) -> None:
        """Require each task to appear at most once (§3.7)."""
        by_task: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.type == TASK and isinstance(node.task, str) and node.task:
                by_task.setdefault(node.task, []).append(node.key)
        for task, keys in by_task.items():
            if len(keys) > 1:
                message = (
                    f"task {task!r} appears in {len(keys)} nodes ({_quote(keys)}); "
                    "a task may appear at most once in a workflow"
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
            message = (
                f"edge {source!r} -> {target!r} is listed {extra + 1} times; two nodes are joined by at most one edge"
            )
            self.add("3.4", message, [source, target], [Edge(source, target)])

    def edge_unusable(self, edge: Edge) -> bool:
        """Report and return True if ``edge`` cannot take part in the graph."""
        if {edge.source, edge.target} & self.untyped:
            return True  # the node's unknown type is already reported
        unknown = [key for key in dict.fromkeys((edge.source, edge.target)) if key != START and key not in self.nodes]
        if unknown:
            message = f"edge {_arrow(edge)} refers to unknown node {_quote(unknown)}"
            self.add("1", message, [], [edge])
        elif edge.target == START:
            message = f"edge {_arrow(edge)} points into START; START has no upstream edge"
            self.add("3.1", message, [edge.source], [edge])
        elif edge.source == edge.target:
            message = f"edge {_arrow(edge)} is a self-loop; a node cannot depend on itself"
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
                    message = (
                        f"edge {_arrow(edge)} leaves task node {edge.source!r} and must be "
                        f"on 'success' or 'failure' (found {edge.on!r})"
                    )
                    self.add("3.5", message, [edge.source], [edge])
            elif edge.on is not None:
                where = "START" if source is None else f"{source.type} node {edge.source!r}"
                message = f"edge {_arrow(edge)} leaves {where} and must not carry a trigger (found {edge.on!r})"
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
            noun = "node is" if len(lost) == 1 else "nodes are"
            message = f"{noun} not reachable from START: {_quote(lost)}"
            self.add("3.1", message, lost)

    def check_task_upstream(self) -> None:
        """Require exactly one upstream edge per task node (§3.2)."""
        upstream = _group(self.edges, lambda edge: edge.target)
        for key, node in self.nodes.items():
            entering = upstream.get(key, ())
            if node.type != TASK or len(entering) == 1:
                continue
            if entering:
                count = _plural(len(entering), "upstream edge")
                sources = _quote(edge.source for edge in entering)
                message = f"{_label(node)} has {count} (from {sources}); "
            else:
                message = f"{_label(node)} has no upstream edge; "
            self.add("3.2", message + "a task node needs exactly one", [key], entering)

    def check_logic_nodes(self) -> None:
        """Require logic nodes to have inputs and outputs, all of them tasks (§3.3)."""
        upstream = _group(self.edges, lambda edge: edge.target)
        downstream = _group(self.edges, lambda edge: edge.source)
        for key, node in self.nodes.items():
            if node.type not in LOGIC_TYPES:
                continue
            for side, edges in (("upstream", upstream), ("downstream", downstream)):
                if key not in edges:
                    message = f"{_label(node)} has no {side} edge; "
                    self.add("3.3", message + "a logic node needs at least one", [key])
        for edge in self.edges:
            self.check_logic_edge(edge)

    def check_logic_edge(self, edge: Edge) -> None:
        """Report an edge from START into a logic node, or between two logic nodes."""
        source = self.nodes.get(edge.source)  # None: the edge leaves START
        target = self.nodes[edge.target]
        if target.type not in LOGIC_TYPES:
            return
        if source is None:
            joins = f"START to {_label(target)}"
        elif source.type in LOGIC_TYPES:
            joins = f"two logic nodes ({edge.source!r} and {edge.target!r})"
        else:
            return
        message = f"edge {_arrow(edge)} joins {joins}; every neighbour of a logic node must be a task node"
        self.add("3.3", message, [edge.source, edge.target], [edge])

    def check_cycles(self) -> None:
        """Report each cycle with the nodes on it (§3.4)."""
        for component in _strongly_connected(list(self.nodes), self.edges):
            inside = set(component)
            edges = [e for e in self.edges if e.source in inside and e.target in inside]
            path = _cycle_path(component[0], edges)
            message = f"nodes {_quote(component)} form a cycle: {' -> '.join(map(repr, path))}"
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
