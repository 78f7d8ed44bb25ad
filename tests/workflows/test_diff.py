"""What changed between two versions of a definition."""

from __future__ import annotations

import copy

from tests.conftest import example
from workflows.diff import Change, definition_diff


def test_same_definition_has_an_empty_diff():
    document = example("release-pipeline.json")
    diff = definition_diff(document, copy.deepcopy(document))
    assert diff.empty and diff.lines() == []


def test_nodes_and_edges_added_and_removed():
    old = example("release-pipeline.json")
    new = copy.deepcopy(old)
    new["nodes"] = [n for n in new["nodes"] if n["key"] != "notify"]
    new["edges"] = [e for e in new["edges"] if e["to"] != "notify"]
    new["nodes"].append({"key": "smoke", "type": "task", "task": {"name": "shop-smoke", "kind": "shell", "config": {}}})
    new["edges"].append({"from": "deploy", "to": "smoke", "on": "success"})
    diff = definition_diff(old, new)
    assert diff.nodes_added == ("smoke",) and diff.nodes_removed == ("notify",)
    assert diff.edges_added == (("deploy", "smoke", "success"),)
    assert diff.edges_removed == (("unit", "notify", "failure"),)
    assert "node 'smoke' added" in diff.lines()


def test_task_config_core_and_trigger_changes():
    old = example("release-pipeline.json")
    new = copy.deepcopy(old)
    new["nodes"][5]["task"]["config"]["script"] = "exit 1"
    new["nodes"][5]["core"] = False
    new["nodes"][0]["task"]["retries"] = 3
    new["edges"][-1]["on"] = "success"
    new["timeout_seconds"] = 900
    diff = definition_diff(old, new)
    changed = {node.key: node.changes for node in diff.nodes_changed}
    assert Change("task.config.script", "echo deploying", "exit 1") in changed["deploy"]
    assert Change("core", True, False) in changed["deploy"]
    assert changed["pull"] == (Change("task.retries", 1, 3),)
    assert diff.edges_changed == (Change("'unit' -> 'notify'", "failure", "success"),)
    assert diff.settings == (Change("timeout_seconds", 600, 900),)
    lines = diff.lines()
    assert "node 'deploy' task.config.script: 'echo deploying' → 'exit 1'" in lines
    assert "timeout_seconds: 600 → 900" in lines


def test_moves_are_reported_apart_from_changes():
    old = example("release-pipeline.json")
    new = copy.deepcopy(old)
    new["nodes"][0]["position"] = {"x": 10, "y": 20}
    diff = definition_diff(old, new)
    assert diff.nodes_moved == ("pull",) and diff.nodes_changed == ()
    assert not diff.empty


def test_switching_between_inline_and_imported_task_reads_as_a_task_change():
    old = {"nodes": [{"key": "a", "type": "task", "task": {"name": "t1", "kind": "shell", "config": {}}}], "edges": []}
    new = {"nodes": [{"key": "a", "type": "task", "task": "t2"}], "edges": []}
    (node,) = definition_diff(old, new).nodes_changed
    assert node.changes == (Change("task", "t1", "t2"),)
