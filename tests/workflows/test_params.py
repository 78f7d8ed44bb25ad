"""Parameters: declarations, values from JSON and from text, built-ins (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflows.definition import DefinitionError, parse, to_document
from workflows.params import Param, ParamsProblem, ValueProblem, builtins, from_json, from_text, resolve

DECLARED = {
    "env": Param("env", "string", "prod", choices=("prod", "test")),
    "count": Param("count", "integer", 3),
    "ratio": Param("ratio", "number"),
    "dry_run": Param("dry_run", "boolean", False),
    "day": Param("day", "date"),
    "at": Param("at", "datetime"),
    "ticket": Param("ticket", "string", required=True),
}


def doc(**extra):
    task = {"name": "a", "kind": "shell", "config": {"script": "true"}}
    return {
        "name": "w",
        "team": "t",
        "nodes": [{"key": "a", "type": "task", "task": task}],
        "edges": [{"from": "start", "to": "a"}],
        **extra,
    }


def problems(document) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse(document)
    return [str(p) for p in caught.value.problems]


def test_declarations_round_trip_through_the_canonical_document():
    document = doc(
        params={
            "env": {"type": "string", "default": "prod", "choices": ["prod", "test"], "description": "where"},
            "day": {"type": "date", "required": True},
        }
    )
    definition = parse(document)
    assert definition.params["env"].choices == ("prod", "test")
    assert to_document(parse(to_document(definition))) == to_document(definition)
    assert "params" not in to_document(parse(doc()))  # a definition without parameters reads as before


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"type": "text"}, "params.p.type: must be one of string, integer, number, boolean, date, datetime"),
        ({"type": "integer", "default": "3"}, "params.p.default: must be an integer, not a string"),
        ({"type": "date", "default": "2026-02-30"}, "params.p.default: must be a date such as 2026-12-31"),
        ({"type": "string", "default": "x", "required": True}, "params.p.default: a required parameter has no default"),
        ({"type": "string", "choices": ["a", 1]}, "params.p.choices[1]: must be a string, not int"),
        ({"type": "string", "default": "c", "choices": ["a", "b"]}, "params.p.default: must be one of a, b, not 'c'"),
        ({"type": "string", "colour": "red"}, "params.p.colour: unknown field"),
    ],
)
def test_a_bad_declaration_is_refused_naming_the_field(declaration, message):
    assert any(line.startswith(message) for line in problems(doc(params={"p": declaration}))), problems(
        doc(params={"p": declaration})
    )


def test_a_bad_parameter_name_is_refused():
    assert any("params.1x" in line for line in problems(doc(params={"1x": {"type": "string"}})))


def test_values_from_json_and_from_text_are_typed_and_checked():
    assert from_text(DECLARED["count"], " 7 ") == 7
    assert from_text(DECLARED["ratio"], "2") == 2 and from_text(DECLARED["ratio"], "0.5") == 0.5
    assert from_text(DECLARED["dry_run"], "yes") is True
    assert from_json(DECLARED["at"], "2026-12-07T02:00:00+08:00") == "2026-12-07T02:00:00+08:00"
    with pytest.raises(ValueProblem, match="must include its UTC offset"):
        from_json(DECLARED["at"], "2026-12-07T02:00:00")
    with pytest.raises(ValueProblem, match="must be an integer, not 'seven'"):
        from_text(DECLARED["count"], "seven")
    with pytest.raises(ValueProblem, match="must be true or false"):
        from_json(DECLARED["dry_run"], "true")


def test_resolve_fills_defaults_and_lists_every_problem():
    values = resolve(DECLARED, {"ticket": "OPS-1", "count": "9"}, as_text=True)
    assert values == {
        "env": "prod",
        "count": 9,
        "ratio": None,
        "dry_run": False,
        "day": None,
        "at": None,
        "ticket": "OPS-1",
    }
    with pytest.raises(ParamsProblem) as caught:
        resolve(DECLARED, {"env": "dev", "colour": "red"})
    assert dict(caught.value.pairs) == {
        "colour": "is not a parameter of this workflow (parameters: env, count, ratio, dry_run, day, at, ticket)",
        "env": "must be one of prod, test, not 'dev'",
        "ticket": "is required: give it a value",
    }


def test_builtins_give_the_fire_time_in_the_triggers_zone_and_the_day_before_as_business_date():
    fire = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)  # 02:30 on the 7th in Shanghai
    values = builtins(workflow="w", fire_time=fire, timezone="Asia/Shanghai")
    assert values == {
        "workflow": "w",
        "fire_time": "2026-12-07T02:30:00+08:00",
        "fire_date": "2026-12-07",
        "business_date": "2026-12-06",
    }


def test_trigger_values_are_checked_against_the_declarations():
    declared = {"env": {"type": "string", "choices": ["prod", "test"]}, "day": {"type": "date", "required": True}}
    cron = {"type": "cron", "expression": "0 0 2 * * ?"}
    lines = problems(doc(params=declared, trigger={**cron, "params": {"env": "dev", "x": 1}}))
    assert "trigger.params.env: must be one of prod, test, not 'dev'" in lines
    assert any(line.startswith("trigger.params.x: is not a parameter") for line in lines)
    assert "trigger.params.day: is required: give it a value" in lines
    ok = parse(doc(params=declared, trigger={**cron, "params": {"env": "test", "day": "2026-01-01"}}))
    assert ok.trigger["params"] == {"env": "test", "day": "2026-01-01"}
    assert any(
        "only a trigger that fires" in line for line in problems(doc(trigger={"type": "none", "params": {"a": 1}}))
    )
