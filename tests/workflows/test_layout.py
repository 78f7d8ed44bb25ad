"""The layered left-to-right layout used by the editor and the read-only drawings."""

from __future__ import annotations

import time

import pytest

from tests.conftest import example
from workflows import layout


@pytest.mark.parametrize(
    ("keys", "edges", "expected"),
    [
        (["a"], [("start", "a")], {"start": 0, "a": 1}),
        (["a", "b", "c"], [("start", "a"), ("a", "b"), ("b", "c")], {"start": 0, "a": 1, "b": 2, "c": 3}),
        # longest path: c waits for the longer branch through b
        (["a", "b", "c"], [("start", "a"), ("a", "b"), ("b", "c"), ("a", "c")], {"start": 0, "a": 1, "b": 2, "c": 3}),
        # a root START does not reach is drawn beside START, its children after it
        (["a", "x", "y"], [("start", "a"), ("x", "y")], {"start": 0, "a": 1, "x": 1, "y": 2}),
        # a cycle still lays out: the edge closing it is left out
        (["a", "b"], [("start", "a"), ("a", "b"), ("b", "a")], {"start": 0, "a": 1, "b": 2}),
        # self-loops, edges into START and unknown keys are ignored
        (["a"], [("start", "a"), ("a", "a"), ("a", "start"), ("a", "ghost")], {"start": 0, "a": 1}),
        ([], [], {"start": 0}),
    ],
)
def test_layers_are_longest_paths_from_start(keys, edges, expected):
    assert layout.layers(keys, edges) == expected


def test_every_edge_points_right_in_the_release_pipeline():
    document = example("release-pipeline.json")
    positions = layout.layout_document(document)
    assert set(positions) == {"start"} | {n["key"] for n in document["nodes"]}
    for edge in document["edges"]:
        assert positions[edge["from"]][0] < positions[edge["to"]][0], edge


def test_nodes_of_one_layer_never_overlap():
    keys = [f"n{i}" for i in range(20)]
    positions = layout.layout(keys, [("start", key) for key in keys])
    assert len({positions[key] for key in keys}) == 20
    assert {positions[key][0] for key in keys} == {layout.MARGIN + layout.LAYER_GAP}


def test_barycentre_ordering_removes_a_crossing():
    # a1 -> b2 and a2 -> b1 cross in definition order; the sweep swaps b1 and b2.
    keys = ["a1", "a2", "b1", "b2"]
    edges = [("start", "a1"), ("start", "a2"), ("a1", "b2"), ("a2", "b1")]
    rows = layout.order(layout.layers(keys, edges), edges)
    assert rows[1] == ["a1", "a2"] and rows[2] == ["b2", "b1"]


def test_layout_is_deterministic():
    document = example("end-of-day-cutover.json")
    assert layout.layout_document(document) == layout.layout_document(document)


def test_positions_for_keeps_stored_positions_and_places_start_left_of_them():
    document = {
        "nodes": [
            {"key": "a", "type": "task", "position": {"x": 300, "y": 100}},
            {"key": "b", "type": "task", "position": {"x": 500, "y": 220}},
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}],
    }
    positions = layout.positions_for(document)
    assert positions["a"] == (300, 100) and positions["b"] == (500, 220)
    assert positions["start"] == (300 - layout.LAYER_GAP, 100)


def test_positions_for_lays_out_when_a_node_has_no_position():
    document = {
        "nodes": [{"key": "a", "type": "task", "position": {"x": 9, "y": 9}}, {"key": "b", "type": "task"}],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}],
    }
    assert layout.positions_for(document) == layout.layout_document(document)


def test_layout_document_tolerates_broken_documents():
    assert layout.layout_document({"nodes": "x", "edges": None}) == {"start": (layout.MARGIN, layout.MARGIN)}
    assert set(layout.layout_document({"nodes": [{"key": "a"}, 3], "edges": [{"from": "start"}]})) == {"start", "a"}


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param({"x": 10**4000, "y": 0}, id="4000-digit"),
        pytest.param({"x": float("inf"), "y": 0}, id="infinite"),
        pytest.param({"x": 0, "y": float("nan")}, id="nan"),
    ],
)
def test_an_odd_stored_position_counts_as_missing(odd):
    document = {
        "nodes": [
            {"key": "a", "type": "task", "position": {"x": 9, "y": 9}},
            {"key": "b", "type": "task", "position": odd},
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}],
    }
    assert layout.positions_for(document) == layout.layout_document(document)


def test_a_wide_layer_is_laid_out_in_linear_time():
    keys = [f"n{i}" for i in range(30_000)]
    started = time.monotonic()
    positions = layout.layout(keys, [("start", key) for key in keys])
    assert len(positions) == 30_001 and time.monotonic() - started < 5  # a sanity bound; it was quadratic (minutes)
