"""The definition format: parse, every problem reported with its path, and round trips."""

from __future__ import annotations

import copy
import functools
import json
import time
from datetime import UTC, datetime

import pytest
import yaml

from tests.conftest import EXAMPLES, example
from workflows.definition import DefinitionError, load_text, parse, parse_task, to_document

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def problems_of(document) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse(document, now=NOW)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_examples_parse_and_round_trip(name):
    document = to_document(parse(example(name), now=NOW))
    assert to_document(parse(copy.deepcopy(document), now=NOW)) == document


def test_yaml_and_json_give_the_same_definition():
    document = example("release-pipeline.json")
    assert parse(load_text(yaml.safe_dump(document)), now=NOW) == parse(load_text(json.dumps(document)), now=NOW)


def test_defaults_are_filled_in_canonical_form():
    document = to_document(
        parse(
            {
                "name": "w",
                "team": "t",
                "nodes": [
                    {"key": "a", "type": "task", "task": {"name": "a", "kind": "shell", "config": {"script": "true"}}}
                ],
                "edges": [{"from": "start", "to": "a"}],
            }
        )
    )
    assert document["trigger"] == {"type": "none"}
    assert document["timeout_seconds"] == 86400
    assert document["overlap_policy"] == "skip" and document["misfire_policy"] == "fire_once_now"
    task = document["nodes"][0]["task"]
    assert (task["timeout_seconds"], task["retries"], task["queue"]) == (3600, 0, "default")


def test_every_problem_is_listed_with_its_path():
    document = example("release-pipeline.json")
    document["name"] = "bad name!"
    document["overlap_policy"] = "sometimes"
    document["nodes"][0]["task"]["retries"] = -1
    document["nodes"][1]["task"]["kind"] = "ftp"
    document["extra"] = 1
    found = problems_of(document)
    assert any(p.startswith("name:") for p in found)
    assert any(p.startswith("overlap_policy:") for p in found)
    assert any(p.startswith("nodes[0].task.retries:") for p in found)
    assert any(p.startswith("nodes[1].task") and "kind" in p for p in found)
    assert any(p.startswith("extra: unknown field") for p in found)


def test_topology_violations_name_the_nodes():
    document = example("release-pipeline.json")
    document["edges"].append({"from": "deploy", "to": "pull", "on": "success"})
    found = "\n".join(problems_of(document))
    assert "pull" in found and "deploy" in found


def test_invalid_cron_expression_names_the_field():
    document = example("release-pipeline.json")
    document["trigger"]["expression"] = "0 0 2 ? * MON-FRX"
    (problem,) = problems_of(document)
    assert problem.startswith("trigger.expression:") and "day-of-week" in problem


def test_cron_without_a_future_fire_time_is_refused():
    document = example("release-pipeline.json")
    document["trigger"]["expression"] = "0 0 0 1 1 ? 2020"
    (problem,) = problems_of(document)
    assert "no fire time" in problem


@pytest.mark.parametrize(
    "trigger, needle",
    [
        ({"every": 10**9, "unit": "days"}, "trigger.every: must be at most 36500 days"),
        ({"every": 876_001, "unit": "hours"}, "trigger.every: must be at most 876000 hours"),
        ({"every": 10, "unit": "seconds", "start": "9999-12-31T23:59:59-05:00"}, "trigger.start: must lie between"),
        ({"every": 10, "unit": "seconds", "start": "0001-01-01T00:00:00+05:00"}, "trigger.start: must lie between"),
    ],
)
def test_a_periodic_trigger_out_of_range_is_refused(trigger, needle):
    document = example("release-pipeline.json")
    document["trigger"] = {"type": "periodic", "every": 1, "unit": "hours", "start": "2026-01-01T00:00:00Z", **trigger}
    (problem,) = problems_of(document)
    assert problem.startswith(needle)


def test_a_periodic_trigger_at_the_limits_is_accepted():
    document = example("release-pipeline.json")
    document["trigger"] = {"type": "periodic", "every": 36_500, "unit": "days", "start": "9999-01-01T00:00:00Z"}
    assert parse(document, now=NOW).trigger["every"] == 36_500


def test_unknown_timezone_is_refused():
    document = example("release-pipeline.json")
    document["trigger"]["timezone"] = "Mars/Olympus"
    assert any("timezone" in p for p in problems_of(document))


@pytest.mark.parametrize(
    "text, needle",
    [
        (b"\xff\xfe{", "not UTF-8"),
        ('{"name": "a\x00"}', "NUL"),
        ("[1, 2", "neither valid JSON nor valid YAML"),
        ("[1]", "must be an object"),
    ],
)
def test_unreadable_documents_get_a_clear_message(text, needle):
    with pytest.raises(DefinitionError) as caught:
        parse(load_text(text), now=NOW)
    assert needle in str(caught.value)


def test_deep_nesting_is_a_problem_not_a_crash():
    text = "[" * 100000 + "]" * 100000
    with pytest.raises(DefinitionError):
        parse(load_text(text), now=NOW)


# --------------------------------------------------------------------------- reserved queues (issue 10, item 2)


@pytest.mark.parametrize("queue", ["baton-control", "baton-anything"])
def test_a_reserved_queue_is_refused_with_a_clear_message(queue):
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["queue"] = queue
    (problem,) = problems_of(document)
    assert problem.startswith("nodes[0].task.queue: ")
    assert f"the queue {queue!r} is reserved for Baton's scheduler and sweep" in problem
    assert problem.endswith("pick another queue")


def test_a_standalone_task_on_a_reserved_queue_is_refused_too():
    with pytest.raises(DefinitionError, match=r"^queue: the queue 'baton-control' is reserved"):
        parse_task({"name": "t", "kind": "python", "config": {"callable": "baton.echo"}, "queue": "baton-control"})


def test_queues_that_only_look_like_baton_s_are_fine():
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["queue"] = "batons-control"
    assert parse(document, now=NOW).nodes[0].task.queue == "batons-control"


# --------------------------------------------------------------------------- caps on every document (item 5)


def alias_bomb(levels: int) -> str:
    """Return a definition whose one alias expands 9**levels times: 'a billion laughs' in YAML."""
    anchors = '&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'
    for level in range(1, levels):
        anchors = f"&l{level} [{anchors}, " + ", ".join([f"*l{level - 1}"] * 8) + "]"
    document = example("release-pipeline.json")
    document["nodes"][0]["task"] = {"name": "bomb", "kind": "python", "config": {"callable": "baton.echo"}}
    text = yaml.safe_dump(document, width=10**6).replace("baton.echo", "baton.echo\n      kwargs: {x: @@}", 1)
    return text.replace("@@", anchors)


def test_a_seven_level_alias_bomb_is_refused_quickly():
    text = alias_bomb(7)
    assert len(text) < 5000
    started = time.monotonic()
    with pytest.raises(DefinitionError) as caught:
        parse(load_text(text), now=NOW)
    assert time.monotonic() - started < 3  # a sanity bound: the walk stops at the cap (it took 15 s and 590 MB)
    assert [str(p) for p in caught.value.problems] == [
        "the document has more than 100000 values (a YAML alias counts at each use)"
    ]


def test_a_small_alias_is_still_yaml():
    text = alias_bomb(2)
    definition = parse(load_text(text), now=NOW)
    assert len(definition.nodes[0].task.config["kwargs"]["x"]) == 9


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &a [*a]", id="recursive-alias"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="100000-deep-json"),
        pytest.param("- " * 2000 + "x", id="2000-deep-yaml"),
        pytest.param(json.dumps(functools.reduce(lambda inner, _: [inner], range(33), [])), id="33-levels"),
    ],
)
def test_documents_nested_deeper_than_32_levels_are_refused(text):
    with pytest.raises(DefinitionError) as caught:
        load_text(text)
    (problem,) = caught.value.problems
    assert problem.message == "the document is nested deeper than 32 levels (or a YAML alias contains itself)"


def test_32_levels_are_allowed():
    document = example("release-pipeline.json")
    document["nodes"][0]["task"] = {"name": "deep", "kind": "python", "config": {"callable": "baton.echo"}}
    document["nodes"][0]["task"]["config"]["kwargs"] = {"x": functools.reduce(lambda inner, _: [inner], range(26), 1)}
    assert parse(json.loads(json.dumps(document)), now=NOW).name == "release-pipeline"


def test_a_document_over_a_mebibyte_is_refused():
    document = example("release-pipeline.json")
    document["description"] = "x" * (1024 * 1024)
    (problem,) = problems_of(document)
    assert problem == "the document is larger than 1024 KiB as JSON (a YAML alias counts at each use)"
    with pytest.raises(DefinitionError, match="the document is larger than 2048 KiB"):
        load_text(" " * (2 * 1024 * 1024 + 1))


# --------------------------------------------------------------------------- odd numbers and text (item 8)


@pytest.mark.parametrize(
    "text, path, message",
    [
        ('{"a": {"x": 1e999}}', "a.x", "must be a finite number, not inf"),
        ('{"a": [-1e999]}', "a[0]", "must be a finite number, not -inf"),
        ('{"a": NaN}', "a", "must be a finite number, not nan"),
        ("a: {x: .inf}", "a.x", "must be a finite number, not inf"),
        ("a: [.nan]", "a[0]", "must be a finite number, not nan"),
        ('{"a": 9223372036854775808}', "a", "is out of range (integers must lie between"),
        ('{"a": -9223372036854775809}', "a", "is out of range (integers must lie between"),
        ('{"a": "x\\u0000y"}', "a", "contains a NUL character"),
        ('{"a\\u0000": 1}', "a\x00", "contains a NUL character"),
        ('{"a": "\\ud800"}', "a", "contains an unpaired surrogate"),
    ],
)
def test_values_no_column_can_hold_are_refused_with_their_path(text, path, message):
    with pytest.raises(DefinitionError) as caught:
        load_text(text)
    (problem,) = caught.value.problems
    assert problem.path == path and problem.message.startswith(message)


def test_the_same_odd_value_is_refused_in_a_document_given_as_a_value():
    document = example("release-pipeline.json")
    document["nodes"][0]["position"] = {"x": float("inf"), "y": 0}
    assert problems_of(document) == ["nodes[0].position.x: must be a finite number, not inf"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"timeout_seconds": 1' + "0" * 5000 + "}", id="json"),
        pytest.param("timeout_seconds: 1" + "0" * 5000, id="yaml"),
    ],
)
def test_an_integer_past_python_s_digit_limit_is_a_problem_not_a_crash(text):
    with pytest.raises(DefinitionError) as caught:
        load_text(text)
    assert "a number is too long to read (integers must lie between -9223372036854775808 and" in str(caught.value)


@pytest.mark.parametrize("position", [{"x": 1_000_001, "y": 0}, {"x": 0, "y": -(10**18)}, {"x": 1e17, "y": 5}])
def test_a_position_far_off_the_canvas_is_refused(position):
    document = example("release-pipeline.json")
    document["nodes"][0]["position"] = position
    assert problems_of(document) == [
        'nodes[0].position: must be {"x": number, "y": number}, each between -1000000 and 1000000'
    ]


# --------------------------------------------------------------------------- time zones (item 11)


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "/usr/share/zoneinfo/UTC", "right/UTC", "posix/Europe/Berlin", "", "utc", 5]
)
def test_a_time_zone_must_be_an_iana_name(zone):
    document = example("release-pipeline.json")
    document["trigger"]["timezone"] = zone
    assert problems_of(document) == [f"trigger.timezone: must be an IANA time zone such as Europe/Berlin, not {zone!r}"]


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Europe/Berlin", "US/Eastern", "Asia/Shanghai", "Etc/GMT-14"])
def test_iana_names_are_accepted(zone):
    document = example("release-pipeline.json")
    document["trigger"]["timezone"] = zone
    assert parse(document, now=NOW).trigger["timezone"] == zone
