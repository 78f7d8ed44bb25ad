"""The definition format: parse, every problem reported with its path, and round trips."""

from __future__ import annotations

import copy
import json
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
