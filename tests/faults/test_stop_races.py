"""Stop a batch right about when it completes, many times over."""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta

import pytest

from baton import errors
from executions import lifecycle
from executions.models import Batch, Event, NodeRun
from tests.conftest import machine
from tests.faults.conftest import chain, python

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

SLEEPS = [round(0.02 * i, 2) for i in range(11)]  # 0.0 … 0.2 s, one workflow each
#: A claim reads the clock before its guarded update, the stop before it takes the batch lock;
#: a run claimed in between carries a `started_at` a few milliseconds after the stop's time.
CLOCK_SLACK = timedelta(seconds=0.5)


@pytest.mark.parametrize("races", [30, pytest.param(100, marks=pytest.mark.slow)])
def test_stop_versus_completion(cluster, races):
    cluster.start_worker()
    cluster.start_sweeper()
    workflows = {
        s: cluster.workflow(
            chain(
                f"race-{i}",
                python(f"race-sleep-{i}", "baton.sleep", seconds=s),
                python(f"race-after-{i}", "baton.noop"),
            )
        )
        for i, s in enumerate(SLEEPS)
    }
    # how long a batch takes to complete besides its sleep, on this machine right now
    calibration = cluster.start(workflows[0.0], 3)
    cluster.wait_finished(calibration, timeout=30)
    overhead = statistics.median(
        (b.finished_at - b.created_at).total_seconds() for b in Batch.objects.filter(pk__in=calibration)
    )
    rng = random.Random(20240601)
    acknowledged: dict[str, bool] = {}
    for _ in range(races):
        seconds = rng.choice(SLEEPS)
        (batch_id,) = cluster.start(workflows[seconds])
        # stop anywhere from before the first node starts to a little after the batch completes
        time.sleep(rng.uniform(0.0, 1.3 * (seconds + overhead)))
        try:
            lifecycle.batch_stop(batch_id=batch_id, actor=machine())
            acknowledged[batch_id] = True
        except errors.TransitionNotPossible:
            acknowledged[batch_id] = False
    cluster.wait_finished(acknowledged, timeout=60)

    outcomes: dict[str, int] = {}
    for batch in Batch.objects.filter(pk__in=list(acknowledged)):
        key = f"{batch.status} (stop {'acknowledged' if acknowledged[batch.pk] else 'refused'})"
        outcomes[key] = outcomes.get(key, 0) + 1
        if not acknowledged[batch.pk]:
            assert batch.status == "succeeded" and batch.stop_requested_at is None
            continue
        assert batch.status == "stopped", cluster.describe([batch.pk])
        stop = Event.objects.get(batch=batch, node_key="", message__startswith="stop requested")
        assert stop.at == batch.stop_requested_at
        # queueing happens under the batch lock, as does the stop: nothing is queued after it
        events = Event.objects.filter(batch=batch).exclude(node_key="")
        assert not events.filter(to_status="queued", id__gt=stop.id).exists(), cluster.describe([batch.pk])
        # nothing started after the stop (beyond a claim that raced the lock), nor after the end
        end = Event.objects.get(batch=batch, node_key="", to_status="stopped")
        assert not events.filter(to_status="running", id__gt=end.id).exists()
        for run in NodeRun.objects.filter(batch=batch, started_at__isnull=False):
            assert run.started_at <= stop.at + CLOCK_SLACK, cluster.describe([batch.pk])
        # a node that never started is stopped, and nothing is left active
        assert set(NodeRun.objects.filter(batch=batch, started_at__isnull=True).values_list("status", flat=True)) <= {
            "stopped"
        }
    print(f"{races} races (completion overhead {overhead * 1000:.0f} ms): {outcomes}")
    # the delays straddle completion: both outcomes must occur, or the test raced nothing
    assert any(acknowledged.values()) and not all(acknowledged.values()), outcomes
    cluster.assert_finished(acknowledged)
    cluster.assert_no_task_processes()
