"""The trigger-type registry: each type declared once; the parser, the schedule, the admin and batches read it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from executions.models import Batch
from workflows import triggers
from workflows.definition import DefinitionError, parse, parse_trigger
from workflows.schedule import is_active, next_fire, next_fires
from workflows.triggers import TRIGGER_TYPES
from workflows.triggers.declaration import TriggerType

AFTER = datetime(2031, 5, 16, 20, tzinfo=UTC)


@pytest.mark.parametrize("trigger_type", TRIGGER_TYPES.values(), ids=list(TRIGGER_TYPES))
def test_each_type_is_registered_under_its_name_and_its_example_reads_back_as_itself(
    trigger_type: TriggerType,
) -> None:
    assert TRIGGER_TYPES[trigger_type.name] is trigger_type
    assert parse_trigger(trigger_type.example, now=AFTER) == trigger_type.example
    assert triggers.describe(trigger_type.example)


@pytest.mark.parametrize("trigger_type", TRIGGER_TYPES.values(), ids=list(TRIGGER_TYPES))
def test_a_type_fires_by_itself_exactly_when_its_batches_have_a_trigger_to_record(trigger_type: TriggerType) -> None:
    assert trigger_type.fires == (trigger_type.batch_trigger is not None)
    assert is_active(trigger_type.example) == trigger_type.fires


# name: (trigger, the next three fires after AFTER through the registry)
NEXT_FIRES = {
    "none": ({"type": "none"}, []),
    "cron": (
        {"type": "cron", "expression": "0 0 2 ? * MON-FRI", "timezone": "Asia/Shanghai"},
        ["2031-05-19T02:00:00+08:00", "2031-05-20T02:00:00+08:00", "2031-05-21T02:00:00+08:00"],
    ),
    "periodic": (
        {"type": "periodic", "every": 90, "unit": "minutes", "start": "2031-05-16T00:00:00", "timezone": "UTC"},
        ["2031-05-16T21:00:00+00:00", "2031-05-16T22:30:00+00:00", "2031-05-17T00:00:00+00:00"],
    ),
    "once": ({"type": "once", "at": "2031-05-17T09:00:00", "timezone": "Europe/Berlin"}, ["2031-05-17T09:00:00+02:00"]),
}


@pytest.mark.parametrize(("trigger", "expected"), NEXT_FIRES.values(), ids=NEXT_FIRES.keys())
def test_each_type_s_next_fire_comes_from_its_module(trigger: dict, expected: list[str]) -> None:
    assert set(NEXT_FIRES) == set(TRIGGER_TYPES)
    assert [fire.isoformat() for fire in next_fires(trigger, AFTER, 3)] == expected
    first = next_fire(trigger, AFTER)
    assert (first.isoformat() if first else None) == (expected[0] if expected else None)


@pytest.mark.parametrize(
    ("trigger", "words", "batch_trigger"),
    [
        ({"type": "cron", "expression": "0 0 2 ? * *", "timezone": "UTC"}, "cron 0 0 2 ? * * (UTC)", "cron"),
        (NEXT_FIRES["periodic"][0], "every 90 minutes from 2031-05-16T00:00:00", "periodic"),
        ({"type": "once", "at": "2031-05-17T09:00:00", "timezone": "UTC"}, "once at 2031-05-17T09:00:00 (UTC)", "once"),
        ({"type": "none"}, "manual", None),
        ({}, "manual", None),
        (None, "manual", None),
    ],
)
def test_a_trigger_is_described_and_recorded_on_batches_by_its_type(trigger, words, batch_trigger) -> None:
    assert triggers.describe(trigger) == words
    if batch_trigger is None:
        with pytest.raises(ValueError, match="never fires"):
            triggers.batch_trigger_of(trigger or {})
    else:
        assert triggers.batch_trigger_of(trigger) == batch_trigger


def test_a_stored_trigger_of_an_undeclared_type_is_an_error_never_read_as_another() -> None:
    stored = {"type": "hourly", "expression": "0 0 * * * ?"}
    for use in (lambda: next_fire(stored, AFTER), lambda: is_active(stored), lambda: triggers.describe(stored)):
        with pytest.raises(ValueError, match=r"unknown trigger type 'hourly' \(known: none, cron, periodic"):
            use()
    with pytest.raises(ValueError, match="unknown trigger type"):
        triggers.batch_trigger_of(stored)


@pytest.mark.parametrize("kind", ["hourly", None, 3, ["cron"], {"cron": 1}])
def test_the_parser_refuses_an_undeclared_type_by_name(kind: object) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_trigger({"type": kind})
    known = ", ".join(TRIGGER_TYPES)
    assert [str(p) for p in caught.value.problems] == [f"trigger.type: must be one of {known}, not {kind!r}"]


def test_a_type_s_unknown_fields_are_named() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_trigger({"type": "cron", "expression": "0 0 2 ? * *", "every": 5})
    assert [p.path for p in caught.value.problems] == ["trigger.every"]


@pytest.mark.parametrize("unit", [[], {}, ["days"]])
def test_a_periodic_unit_that_is_not_text_is_a_problem_not_a_crash(unit: object) -> None:
    trigger = {"type": "periodic", "every": 1, "unit": unit, "start": "2031-01-01T00:00:00"}
    with pytest.raises(DefinitionError) as caught:
        parse_trigger(trigger)
    assert [str(p) for p in caught.value.problems] == [
        f"trigger.unit: must be one of seconds, minutes, hours, days, not {unit!r}"
    ]
    document = {"name": "w", "team": "t", "trigger": trigger, "nodes": [], "edges": []}
    with pytest.raises(DefinitionError, match=r"trigger\.unit"):
        parse(document)


def test_batches_record_what_each_firing_type_declares() -> None:
    recorded = dict(Batch._meta.get_field("trigger").choices)
    assert set(recorded) == {"manual", "rerun", "resume"} | {
        t.batch_trigger for t in TRIGGER_TYPES.values() if t.batch_trigger
    }


# name: (the trigger's `at` and zone, what the parser says with now = AFTER, or its instant)
ONCE = {
    "naive, read in the zone": ("2031-06-01T02:30:00", "Asia/Shanghai", "2031-06-01T02:30:00+08:00"),
    "with an offset": ("2031-06-01T02:30:00+00:00", "Asia/Shanghai", "2031-06-01T10:30:00+08:00"),
    "in the spring gap: its end": ("2032-03-28T02:30:00", "Europe/Berlin", "2032-03-28T03:00:00+02:00"),
    "in the autumn overlap: the first": ("2031-10-26T02:30:00", "Europe/Berlin", "2031-10-26T02:30:00+02:00"),
    "not after now": ("2031-05-16T20:00:00", "UTC", "trigger.at: '2031-05-16T20:00:00' is not after now"),
    "not a date": ("soon", "UTC", "trigger.at: must be an ISO-8601 date-time, not 'soon'"),
    "out of range": ("0001-01-01T05:00:00", "Asia/Tokyo", "trigger.at: must lie between the years 1 and 9999"),
}


@pytest.mark.parametrize(("at", "zone", "expected"), ONCE.values(), ids=ONCE.keys())
def test_a_once_trigger_fires_at_its_instant_and_only_ahead(at: str, zone: str, expected: str) -> None:
    trigger = {"type": "once", "at": at, "timezone": zone}
    if not expected[0].isdigit():
        with pytest.raises(DefinitionError) as caught:
            parse_trigger(trigger, now=AFTER)
        assert str(caught.value).startswith(expected)
        return
    assert parse_trigger(trigger, now=AFTER) == trigger
    assert [fire.isoformat() for fire in next_fires(trigger, AFTER)] == [expected]
    assert next_fire(trigger, datetime.fromisoformat(expected)) is None
