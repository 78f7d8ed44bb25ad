"""Prometheus metrics of the engine, the scheduler and the sweep, counted in process after each commit.

The services call the `record_*` functions, or `*_after_commit` inside a transaction; a
function only increments in-process counters (prometheus_client's multiprocess files, see
`ops.multiproc`) and never queries the hop's database: the one exception is a workflow's or a
task's name for a label, read once per process and five minutes (`Names`), after the commit,
when the row that ended a batch did not carry it. Labels are bounded: the workflow's name (or
`task:<name>` for a standalone task's run), the trigger kind, the status, the task kind and
the queue — never a batch or run id.

The metrics are made on first use, so that a process writes them to its service's folder
chosen at its start (`ops.multiproc.start_service`), not to the folder in force at import.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction
from prometheus_client import Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry

from ops import multiproc

# Seconds: a node run's queue wait and duration span a few milliseconds to hours.
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
# Seconds: a fire's lateness is milliseconds when all is well, seconds to minutes when not.
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5, 10, 30)
SWEEP_ACTIONS = ("redispatched", "worker_lost", "timed_out", "finished")

logger = logging.getLogger(__name__)
Recorder = TypeVar("Recorder", bound=Callable[..., None])
_failed: set[str] = set()


def harmless(record: Recorder) -> Recorder:
    """Make a recording function never raise: a metric must not fail the hop it counts.

    A failure (the metrics folder deleted under a running process, a name read while the database
    is away) is logged once per function and process; the count is lost, the engine goes on.
    """

    @functools.wraps(record)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            record(*args, **kwargs)
        except Exception:
            if record.__name__ not in _failed:
                _failed.add(record.__name__)
                logger.warning("metrics: %s failed; this count is lost", record.__name__, exc_info=True)

    return guarded  # type: ignore[return-value]


@dataclass(frozen=True)
class Instruments:
    """The metrics Baton records."""

    batches_started: Counter
    batches_ended: Counter
    node_run_duration: Histogram
    node_run_queue_wait: Histogram
    scheduler_fires: Counter
    sweep_actions: Counter
    alert_sends: Counter


@functools.cache
def instruments() -> Instruments:
    """Make the metrics once per process, on first use."""
    return Instruments(
        batches_started=Counter("baton_batches_started", "Batches started.", ["workflow", "trigger"], registry=None),
        batches_ended=Counter(
            "baton_batches_ended", "Batches that ended, by result.", ["workflow", "trigger", "status"], registry=None
        ),
        node_run_duration=Histogram(
            "baton_node_run_duration_seconds",
            "How long a node run's attempt ran, from its claim to its recorded end.",
            ["kind", "queue"],
            buckets=RUN_BUCKETS,
            registry=None,
        ),
        node_run_queue_wait=Histogram(
            "baton_node_run_queue_wait_seconds",
            "How long a node run waited queued (or due for retry) before a worker claimed it.",
            ["kind", "queue"],
            buckets=RUN_BUCKETS,
            registry=None,
        ),
        scheduler_fires=Counter(
            "baton_scheduler_fires",
            "Scheduled fires, by outcome: started, missed (misfire policy), skipped (overlap policy), queued.",
            ["outcome"],
            registry=None,
        ),
        sweep_actions=Counter(
            "baton_sweep_actions",
            "What the recovery sweep did: wake-ups re-sent, runs of lost workers, batches timed out, idle batches ended.",
            ["action"],
            registry=None,
        ),
        alert_sends=Counter(
            "baton_alert_sends",
            "Alert messages sent through a channel, by the channel's kind and outcome (sent, failed: one per attempt).",
            ["channel", "outcome"],
            registry=None,
        ),
    )


@functools.cache
def scheduler_histograms() -> tuple[Histogram, Histogram]:
    """Make the scheduler's (lateness, tick) histograms once, in the process that ticks.

    They have no labels, so prometheus_client writes a zero series as soon as they exist: made
    apart from the others, they show only for the services that tick.
    """
    return (
        Histogram(
            "baton_scheduler_lateness_seconds",
            "From a fire's scheduled time to its batch's commit.",
            buckets=LATENESS_BUCKETS,
            registry=None,
        ),
        Histogram(
            "baton_scheduler_tick_seconds", "How long a scheduler tick took.", buckets=TICK_BUCKETS, registry=None
        ),
    )


# --- labels ----------------------------------------------------------------------------------


class Names:
    """Workflow and task names by id, kept five minutes per process (a rename shows within that)."""

    ttl = 300.0
    limit = 10_000

    def __init__(self) -> None:
        self._names: dict[tuple[str, int], tuple[str, float]] = {}

    def remember(self, kind: str, pk: int, name: str) -> None:
        if len(self._names) >= self.limit:
            self._names.clear()
        self._names[kind, pk] = (name, time.monotonic() + self.ttl)

    def get(self, kind: str, pk: int) -> str:
        """Return the name of a workflow (`kind` "workflow") or task ("task"), read when not known or stale."""
        known = self._names.get((kind, pk))
        if known is not None and known[1] > time.monotonic():
            return known[0]
        from workflows.models import Task, Workflow

        model = Workflow if kind == "workflow" else Task
        name = model.objects.filter(pk=pk).values_list("name", flat=True).first() or f"#{pk}"
        self.remember(kind, pk, name)
        return name


names = Names()


def owner_label(workflow_id: int | None, task_id: int | None) -> str:
    """Return the `workflow` label of a batch: its workflow's name, or `task:<name>` for a standalone task's run."""
    if workflow_id is not None:
        return names.get("workflow", workflow_id)
    if task_id is not None:
        return "task:" + names.get("task", task_id)
    return ""


def _known_owner(batch: Any) -> tuple[int | None, int | None]:
    """Return a batch's (workflow id, task id), remembering the names of owners already loaded with it."""
    model = type(batch)
    if batch.workflow_id is not None and model.workflow.is_cached(batch):
        names.remember("workflow", batch.workflow_id, batch.workflow.name)
    if batch.task_id is not None and model.task.is_cached(batch):
        names.remember("task", batch.task_id, batch.task.name)
    return batch.workflow_id, batch.task_id


# --- recording -------------------------------------------------------------------------------


@harmless
def batches_started_after_commit(batches: Iterable[Any]) -> None:
    """Count started batches (and those that ended at once) when the current transaction commits."""
    started = [(*_known_owner(batch), batch.trigger, batch.status) for batch in batches]
    if started:
        transaction.on_commit(functools.partial(_count_started, started))


@harmless
def _count_started(started: list[tuple[int | None, int | None, str, str]]) -> None:
    metrics = instruments()
    for workflow_id, task_id, trigger, status in started:
        owner = owner_label(workflow_id, task_id)
        metrics.batches_started.labels(owner, trigger).inc()
        if status != "running":
            metrics.batches_ended.labels(owner, trigger, status).inc()


@harmless
def batch_ended_after_commit(*, workflow_id: int | None, task_id: int | None, trigger: str, status: str) -> None:
    """Count a batch's end when the current transaction commits."""
    transaction.on_commit(functools.partial(_count_ended, workflow_id, task_id, trigger, status))


@harmless
def _count_ended(workflow_id: int | None, task_id: int | None, trigger: str, status: str) -> None:
    instruments().batches_ended.labels(owner_label(workflow_id, task_id), trigger, status).inc()


@functools.lru_cache(maxsize=4096)
def _run_histograms(kind: str, queue: str) -> tuple[Any, Any]:
    """Return the (queue wait, duration) children of a kind and queue, looked up once (a hop saves the lookups)."""
    metrics = instruments()
    return metrics.node_run_queue_wait.labels(kind, queue), metrics.node_run_duration.labels(kind, queue)


@harmless
def record_queue_wait(*, kind: str, queue: str, queued_at: datetime | None, claimed_at: datetime | None) -> None:
    """Record how long a claimed run waited (its claim has committed)."""
    if queued_at is not None and claimed_at is not None:
        waited = (claimed_at - queued_at).total_seconds()
        _run_histograms(kind, queue or "default")[0].observe(waited if waited > 0 else 0.0)


@harmless
def record_run_duration(*, kind: str, queue: str, seconds: float) -> None:
    """Record how long an attempt ran, once its end is recorded."""
    _run_histograms(kind, queue or "default")[1].observe(seconds if seconds > 0 else 0.0)


@harmless
def record_tick(*, seconds: float, started: int, missed: int, skipped: int, queued: int, lateness: list[float]) -> None:
    """Record a scheduler tick: its duration, its fires by outcome, each started fire's lateness."""
    metrics = instruments()
    lateness_histogram, tick_histogram = scheduler_histograms()
    tick_histogram.observe(seconds)
    for outcome, count in (("started", started), ("missed", missed), ("skipped", skipped), ("queued", queued)):
        if count:
            metrics.scheduler_fires.labels(outcome).inc(count)
    for late in lateness:
        lateness_histogram.observe(max(0.0, late))


@harmless
def record_sweep(counts: Mapping[str, int]) -> None:
    """Record what a recovery sweep did."""
    metrics = instruments()
    for action in SWEEP_ACTIONS:
        if counts.get(action):
            metrics.sweep_actions.labels(action).inc(counts[action])


@harmless
def record_alert_send(kind: str, ok: bool) -> None:
    """Record one attempt to send an alert message (a grouped message counts once) through a channel of `kind`."""
    instruments().alert_sends.labels(kind, "sent" if ok else "failed").inc()


# --- the scrape ------------------------------------------------------------------------------


class ServicesCollector:
    """Add up every service's samples (`ops.multiproc`), each series labelled with its `service`."""

    def __init__(self, base: Any = None) -> None:
        self.base = base

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for folder in multiproc.service_folders(self.base):
            files = [str(path) for path in folder.glob("*.db")]
            for metric in MultiProcessCollector.merge(files, accumulate=True):
                into = merged.get(metric.name)
                if into is None:
                    into = merged[metric.name] = Metric(metric.name, metric.documentation, metric.type)
                for sample in metric.samples:
                    into.add_sample(sample.name, {**sample.labels, "service": folder.name}, sample.value)
        yield from merged.values()


def registry() -> CollectorRegistry:
    """Return a registry that reads every service's samples at scrape time."""
    found = CollectorRegistry()
    found.register(ServicesCollector())
    return found
