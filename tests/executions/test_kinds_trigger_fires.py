"""Trigger types through the scheduler tick: each fire records its type's batch trigger; `once` fires once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from executions.models import Batch
from executions.scheduler import tick
from tests.conftest import machine
from tests.executions.conftest import chain_document, shell
from workflows.models import Schedule
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2031, 5, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0 - timedelta(seconds=30), tick=False)
    return time_machine


def save(name: str, trigger: dict) -> None:
    document = chain_document(name, shell(f"{name}-a", "true"), trigger=trigger, overlap_policy="parallel")
    workflow_save_definition(document=copy.deepcopy(document), actor=machine())


def test_each_fire_records_its_trigger_type_s_batch_trigger_and_once_fires_once(recorder, clock):
    save("by-cron", {"type": "cron", "expression": "0 * * * * ?", "timezone": "UTC"})
    save("by-period", {"type": "periodic", "every": 1, "unit": "minutes", "start": T0.isoformat()})
    save("by-once", {"type": "once", "at": "2031-05-17T11:01:00", "timezone": "Europe/Berlin"})
    for minute in range(3):
        clock.move_to(T0 + timedelta(minutes=minute, seconds=0.5), tick=False)
        tick()
    started = sorted(Batch.objects.values_list("workflow__name", "trigger", "scheduled_for"))
    minutes = [T0 + timedelta(minutes=m) for m in range(3)]
    assert started == sorted(
        [("by-cron", "cron", m) for m in minutes]
        + [("by-period", "periodic", m) for m in minutes]
        + [("by-once", "once", T0 + timedelta(minutes=1))]
    )
    assert Schedule.objects.get(workflow__name="by-once").next_fire_at is None
