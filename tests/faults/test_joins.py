"""Many batches of 19 parallel branches into an AND join and into an OR join: each join fires once."""

from __future__ import annotations

import time

import pytest
from django.db.models import Count, Q

from executions.models import Attempt, Batch, Event, NodeRun
from tests.faults.conftest import python

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

BRANCHES = 19  # + the node after the join = 20 task nodes, the per-workflow maximum


def fan_in(join: str) -> dict:
    branches = [f"b{i}" for i in range(BRANCHES)]
    nodes = [{"key": b, "type": "task", "task": python(f"{join}-{b}", "baton.noop")} for b in branches]
    nodes += [
        {"key": "join", "type": join},
        {"key": "last", "type": "task", "task": python(f"{join}-last", "baton.noop")},
    ]
    edges = [{"from": "start", "to": b} for b in branches]
    edges += [{"from": b, "to": "join", "on": "success"} for b in branches]
    edges.append({"from": "join", "to": "last"})
    return {"name": f"fan-in-{join}", "team": "faults", "nodes": nodes, "edges": edges}


@pytest.mark.parametrize("join", ["and", "or"])
@pytest.mark.parametrize("batches", [20, pytest.param(100, marks=pytest.mark.slow)])
def test_wide_fan_in_runs_each_join_exactly_once(cluster, join, batches):
    cluster.start_worker()
    cluster.start_worker()  # two workers x 2 processes: up to 4 branches finish at once
    cluster.start_sweeper()
    workflow = cluster.workflow(fan_in(join))
    started = time.monotonic()
    ids = cluster.start(workflow, batches)
    cluster.wait_finished(ids, timeout=30 + batches * 1.5)
    took = time.monotonic() - started
    runs = batches * (BRANCHES + 1)
    print(
        f"{join}: {batches} batches, {runs} task runs in {took:.1f}s ({runs / took:.0f} runs/s); sweep {cluster.sweeper.counts}"
    )

    assert set(Batch.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}
    joins = NodeRun.objects.filter(batch_id__in=ids, node_key="join")
    assert joins.count() == batches and set(joins.values_list("status", flat=True)) == {"succeeded"}
    # the join was satisfied once per batch: one pending -> succeeded event each
    satisfied = Event.objects.filter(batch_id__in=ids, node_key="join", to_status="succeeded")
    assert satisfied.count() == batches
    last = NodeRun.objects.filter(batch_id__in=ids, node_key="last")
    assert set(last.values_list("status", "attempts")) == {("succeeded", 1)}
    per_run = last.annotate(
        queued=Count("events", filter=Q(events__to_status="queued")),
        running=Count("events", filter=Q(events__to_status="running")),
    ).values_list("queued", "running")
    assert set(per_run) == {(1, 1)}, "the node after the join was queued or started more than once"
    # no task node of any batch ran twice
    assert Attempt.objects.filter(node_run__batch_id__in=ids).count() == runs
    assert not Attempt.objects.filter(node_run__batch_id__in=ids).exclude(number=1).exists()
    assert cluster.sweeper is not None and cluster.sweeper.errors == []
    cluster.assert_finished(ids)
    cluster.assert_no_task_processes()
