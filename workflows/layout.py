"""Lay a workflow's DAG out in layers from left to right, for the editor and read-only drawings.

Pure Python, no Django. `layout(keys, edges)` returns a position per node key (START
included) in drawing units:

1. Layering: each node's layer is the length of the longest path from START to it, so
   every edge points right. Roots START does not reach are laid out as if START pointed at
   them, and edges that close a cycle (found by a depth-first search in definition order) are left
   out of the layering, so a broken graph still draws.
2. Ordering: nodes of a layer start in definition order; a few sweeps (left to right, then
   right to left) sort each layer by the barycentre of its neighbours in the adjacent layer,
   which removes most edge crossings of small graphs. Ties keep the previous order, so the
   result is deterministic.
3. Coordinates: x = layer × `LAYER_GAP`; within a layer nodes are `ROW_GAP` apart and the
   layer is centred on y = 0, then everything is shifted so the smallest x and y are `MARGIN`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

START = "start"
LAYER_GAP = 200.0
ROW_GAP = 90.0
MARGIN = 40.0
SWEEPS = 4

Position = tuple[float, float]


def layers(keys: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Return each node's layer: the longest path length from START (START is layer 0)."""
    nodes = [START, *(key for key in dict.fromkeys(keys) if key != START)]
    known = set(nodes)
    targets: dict[str, dict[str, None]] = {key: {} for key in nodes}  # ordered sets
    for source, target in edges:
        if source in known and target in known and source != target and target != START:
            targets[source][target] = None
    forward = {key: list(found) for key, found in targets.items()}
    acyclic = _drop_back_edges(nodes, forward)
    incoming: dict[str, int] = {key: 0 for key in nodes}
    for targets in acyclic.values():
        for target in targets:
            incoming[target] += 1
    for key in nodes[1:]:
        if incoming[key] == 0:  # a root START does not reach: draw it as if START pointed at it
            acyclic[START].append(key)
            incoming[key] = 1
    layer = {key: 0 for key in nodes}
    ready = deque([START])
    while ready:
        key = ready.popleft()
        for target in acyclic[key]:
            layer[target] = max(layer[target], layer[key] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return layer


def _drop_back_edges(nodes: list[str], forward: dict[str, list[str]]) -> dict[str, list[str]]:
    """Return the edges without those that close a cycle (depth-first search in definition order)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    kept: dict[str, list[str]] = {key: [] for key in nodes}
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(forward[root]))]
        while stack:
            key, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[key] = 2
                stack.pop()
            elif state.get(child) == 1:
                continue  # a back edge: leave it out
            else:
                kept[key].append(child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(forward[child])))
    return kept


def order(layer: dict[str, int], edges: Iterable[tuple[str, str]], sweeps: int = SWEEPS) -> list[list[str]]:
    """Return the nodes of each layer, ordered to reduce crossings by barycentre sweeps."""
    count = max(layer.values(), default=0) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for key, index in layer.items():  # definition order within a layer
        rows[index].append(key)
    up: dict[str, list[str]] = {key: [] for key in layer}
    down: dict[str, list[str]] = {key: [] for key in layer}
    for source, target in edges:
        if source in layer and target in layer and layer[source] < layer[target]:
            down[source].append(target)
            up[target].append(source)
    for sweep in range(sweeps):
        if sweep % 2 == 0:
            for index in range(1, count):
                rows[index] = _by_barycentre(rows[index], rows[index - 1], up)
        else:
            for index in range(count - 2, -1, -1):
                rows[index] = _by_barycentre(rows[index], rows[index + 1], down)
    return rows


def _by_barycentre(row: list[str], fixed: list[str], neighbours: dict[str, list[str]]) -> list[str]:
    """Sort `row` by the mean position of each node's neighbours in `fixed`; others keep their place."""
    position = {key: index for index, key in enumerate(fixed)}
    weights: dict[str, tuple[float, int]] = {}
    for index, key in enumerate(row):
        places = [position[n] for n in neighbours[key] if n in position]
        weights[key] = (sum(places) / len(places) if places else float(index), index)
    return sorted(row, key=weights.__getitem__)


def layout(keys: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, Position]:
    """Return a position for START and every node key: layered, left to right."""
    edge_list = list(edges)
    layer = layers(keys, edge_list)
    rows = order(layer, edge_list)
    tallest = max((len(row) for row in rows), default=1)
    positions: dict[str, Position] = {}
    for index, row in enumerate(rows):
        offset = (tallest - len(row)) * ROW_GAP / 2
        for place, key in enumerate(row):
            positions[key] = (MARGIN + index * LAYER_GAP, MARGIN + offset + place * ROW_GAP)
    return positions


def layout_document(document: dict) -> dict[str, Position]:
    """Return positions for a SPEC §10 document's nodes (and START), ignoring stored positions."""
    nodes = _list(document.get("nodes"))
    edges = _list(document.get("edges"))
    keys = [n["key"] for n in nodes if isinstance(n, dict) and isinstance(n.get("key"), str)]
    pairs = [
        (e["from"], e["to"])
        for e in edges
        if isinstance(e, dict) and isinstance(e.get("from"), str) and isinstance(e.get("to"), str)
    ]
    return layout(keys, pairs)


def positions_for(document: dict) -> dict[str, Position]:
    """Return stored positions where every node has a usable one, else a computed layout; START always placed.

    With stored positions, START sits one layer left of the leftmost node, level with the
    nodes it points at.
    """
    nodes = [n for n in _list(document.get("nodes")) if isinstance(n, dict) and isinstance(n.get("key"), str)]
    stored = {n["key"]: _position(n.get("position")) for n in nodes}
    if not nodes or any(p is None for p in stored.values()):
        return layout_document(document)
    positions: dict[str, Position] = {k: p for k, p in stored.items() if p is not None}
    children = [
        positions[e["to"]]
        for e in _list(document.get("edges"))
        if isinstance(e, dict) and e.get("from") == START and e.get("to") in positions
    ]
    ys = [y for _, y in children] or [y for _, y in positions.values()]
    positions[START] = (min(x for x, _ in positions.values()) - LAYER_GAP, sum(ys) / len(ys))
    return positions


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _position(raw: object) -> Position | None:
    """Return a stored position, or None where it is missing or odd (a number no float holds, infinite, not a number)."""
    if not (isinstance(raw, dict) and all(isinstance(raw.get(a), (int, float)) for a in "xy")):
        return None
    try:
        x, y = float(raw["x"]), float(raw["y"])
    except OverflowError:
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None
