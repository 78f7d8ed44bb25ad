"""What changed between two workflow definitions (SPEC §10 documents), as a readable summary.

Pure Python, no Django. `definition_diff(old, new)` compares two documents (usually two
versions' masked exports) and returns a `DefinitionDiff`: workflow settings changed, nodes
added / removed / changed (type, core flag, task, task fields and config keys), nodes only
moved on the canvas, and edges added / removed / with a changed trigger. Nodes and edges are
matched by key and by (from, to), so renaming a node reads as one removed and one added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SETTINGS = ("description", "enabled", "trigger", "timeout_seconds", "overlap_policy", "misfire_policy")


@dataclass(frozen=True)
class Change:
    """One changed value: where it is, and its value before and after (None when absent)."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class NodeChange:
    """A node present in both versions with different content."""

    key: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class DefinitionDiff:
    """Everything that differs between two definitions."""

    settings: tuple[Change, ...] = ()
    nodes_added: tuple[str, ...] = ()
    nodes_removed: tuple[str, ...] = ()
    nodes_changed: tuple[NodeChange, ...] = ()
    nodes_moved: tuple[str, ...] = ()
    edges_added: tuple[tuple[str, str, str | None], ...] = ()
    edges_removed: tuple[tuple[str, str, str | None], ...] = ()
    edges_changed: tuple[Change, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """Tell whether the two definitions are the same."""
        return not any(
            (
                self.settings,
                self.nodes_added,
                self.nodes_removed,
                self.nodes_changed,
                self.nodes_moved,
                self.edges_added,
                self.edges_removed,
                self.edges_changed,
            )
        )

    def lines(self) -> list[str]:
        """Return the summary as plain sentences, one per change."""
        lines = [f"{c.path}: {_show(c.before)} → {_show(c.after)}" for c in self.settings]
        lines += [f"node {key!r} added" for key in self.nodes_added]
        lines += [f"node {key!r} removed" for key in self.nodes_removed]
        for node in self.nodes_changed:
            lines += [f"node {node.key!r} {c.path}: {_show(c.before)} → {_show(c.after)}" for c in node.changes]
        if self.nodes_moved:
            lines.append("moved on the canvas: " + ", ".join(repr(key) for key in self.nodes_moved))
        lines += [f"edge {_edge(e)} added" for e in self.edges_added]
        lines += [f"edge {_edge(e)} removed" for e in self.edges_removed]
        lines += [f"edge {c.path} trigger: {_show(c.before)} → {_show(c.after)}" for c in self.edges_changed]
        return lines


def definition_diff(old: dict[str, Any], new: dict[str, Any]) -> DefinitionDiff:
    """Compare two SPEC §10 documents and return what changed from `old` to `new`."""
    settings = tuple(Change(name, old.get(name), new.get(name)) for name in SETTINGS if old.get(name) != new.get(name))
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    changed: list[NodeChange] = []
    moved: list[str] = []
    for key in (k for k in new_nodes if k in old_nodes):
        changes = _node_changes(old_nodes[key], new_nodes[key])
        if changes:
            changed.append(NodeChange(key, tuple(changes)))
        if old_nodes[key].get("position") != new_nodes[key].get("position"):
            moved.append(key)
    old_edges, new_edges = _edges(old), _edges(new)
    return DefinitionDiff(
        settings=settings,
        nodes_added=tuple(k for k in new_nodes if k not in old_nodes),
        nodes_removed=tuple(k for k in old_nodes if k not in new_nodes),
        nodes_changed=tuple(changed),
        nodes_moved=tuple(moved),
        edges_added=tuple((*pair, on) for pair, on in new_edges.items() if pair not in old_edges),
        edges_removed=tuple((*pair, on) for pair, on in old_edges.items() if pair not in new_edges),
        edges_changed=tuple(
            Change(f"{pair[0]!r} -> {pair[1]!r}", old_edges[pair], on)
            for pair, on in new_edges.items()
            if pair in old_edges and old_edges[pair] != on
        ),
    )


def _nodes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["key"]: n for n in document.get("nodes") or [] if isinstance(n, dict) and "key" in n}


def _edges(document: dict[str, Any]) -> dict[tuple[Any, Any], str | None]:
    return {(e.get("from"), e.get("to")): e.get("on") for e in document.get("edges") or [] if isinstance(e, dict)}


def _node_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = [
        Change(name, old.get(name), new.get(name)) for name in ("type", "core") if old.get(name) != new.get(name)
    ]
    old_task, new_task = old.get("task"), new.get("task")
    if isinstance(old_task, dict) and isinstance(new_task, dict):
        for name in dict.fromkeys([*old_task, *new_task]):
            if name == "config":
                changes += _config_changes(old_task.get("config") or {}, new_task.get("config") or {})
            elif old_task.get(name) != new_task.get(name):
                changes.append(Change(f"task.{name}", old_task.get(name), new_task.get(name)))
    elif old_task != new_task:
        changes.append(Change("task", _task_name(old_task), _task_name(new_task)))
    return changes


def _config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    return [
        Change(f"task.config.{name}", old.get(name), new.get(name))
        for name in dict.fromkeys([*old, *new])
        if old.get(name) != new.get(name)
    ]


def _task_name(task: Any) -> Any:
    return task.get("name") if isinstance(task, dict) else task


def _edge(edge: tuple[str, str, str | None]) -> str:
    source, target, on = edge
    return f"{source!r} -> {target!r}" + (f" ({on})" if on else "")


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
