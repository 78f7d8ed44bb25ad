"""Statuses of batches and node runs (SPEC §4.1), their groups and allowed transitions."""

from __future__ import annotations

from django.db import models

from executions import engine


class NodeStatus(models.TextChoices):
    """A node run's status."""

    PENDING = engine.PENDING
    QUEUED = engine.QUEUED
    RUNNING = engine.RUNNING
    RETRYING = engine.RETRYING
    SUCCEEDED = engine.SUCCEEDED
    FAILED = engine.FAILED
    TIMED_OUT = engine.TIMED_OUT
    SKIPPED = engine.SKIPPED
    STOPPED = engine.STOPPED


class BatchStatus(models.TextChoices):
    """A batch's status."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"


class TriggerKind(models.TextChoices):
    """What started a batch, besides a fire (each trigger type names its own: `workflows.triggers`)."""

    MANUAL = "manual"
    RERUN = "rerun"
    RESUME = "resume"


N = NodeStatus
B = BatchStatus
NODE_FINISHED = frozenset(engine.FINISHED)
NODE_ACTIVE = frozenset(engine.ACTIVE)
BATCH_FINISHED = frozenset({B.SUCCEEDED, B.FAILED, B.TIMED_OUT, B.STOPPED})
# A batch that can be resumed from failure: it ended without every node succeeding on its way.
BATCH_RESUMABLE = frozenset({B.FAILED, B.TIMED_OUT, B.STOPPED})

NODE_TRANSITIONS: dict[str, frozenset[str]] = {
    N.PENDING: frozenset({N.QUEUED, N.SUCCEEDED, N.SKIPPED, N.STOPPED}),
    N.QUEUED: frozenset({N.RUNNING, N.STOPPED}),
    N.RUNNING: frozenset({N.SUCCEEDED, N.FAILED, N.TIMED_OUT, N.RETRYING, N.STOPPED}),
    N.RETRYING: frozenset({N.QUEUED, N.STOPPED}),
    **{status: frozenset() for status in NODE_FINISHED},
}
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    B.RUNNING: BATCH_FINISHED,
    **{status: frozenset() for status in BATCH_FINISHED},
}
