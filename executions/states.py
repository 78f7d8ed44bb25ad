"""Statuses of batches and node runs (SPEC §4.1), their groups and allowed transitions."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from executions import engine


class NodeStatus(models.TextChoices):
    """A node run's status."""

    PENDING = engine.PENDING, _("Pending")
    QUEUED = engine.QUEUED, _("Queued")
    RUNNING = engine.RUNNING, _("Running")
    RETRYING = engine.RETRYING, _("Retrying")
    SUCCEEDED = engine.SUCCEEDED, _("Succeeded")
    FAILED = engine.FAILED, _("Failed")
    TIMED_OUT = engine.TIMED_OUT, _("Timed Out")
    SKIPPED = engine.SKIPPED, _("Skipped")
    STOPPED = engine.STOPPED, _("Stopped")


class BatchStatus(models.TextChoices):
    """A batch's status."""

    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    TIMED_OUT = "timed_out", _("Timed Out")
    STOPPED = "stopped", _("Stopped")


class TriggerKind(models.TextChoices):
    """What started a batch, besides a fire (each trigger type names its own: `workflows.triggers`)."""

    MANUAL = "manual", _("Manual")
    RERUN = "rerun", _("Rerun")
    RESUME = "resume", _("Resume")


NODE_FINISHED = frozenset(engine.FINISHED)
NODE_ACTIVE = frozenset(engine.ACTIVE)
BATCH_FINISHED = frozenset({BatchStatus.SUCCEEDED, BatchStatus.FAILED, BatchStatus.TIMED_OUT, BatchStatus.STOPPED})
# A batch that can be resumed from failure: it ended without every node succeeding on its way.
BATCH_RESUMABLE = frozenset({BatchStatus.FAILED, BatchStatus.TIMED_OUT, BatchStatus.STOPPED})

NODE_TRANSITIONS: dict[str, frozenset[str]] = {
    NodeStatus.PENDING: frozenset({NodeStatus.QUEUED, NodeStatus.SUCCEEDED, NodeStatus.SKIPPED, NodeStatus.STOPPED}),
    NodeStatus.QUEUED: frozenset({NodeStatus.RUNNING, NodeStatus.STOPPED}),
    NodeStatus.RUNNING: frozenset(
        {NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.TIMED_OUT, NodeStatus.RETRYING, NodeStatus.STOPPED}
    ),
    NodeStatus.RETRYING: frozenset({NodeStatus.QUEUED, NodeStatus.STOPPED}),
    **{status: frozenset() for status in NODE_FINISHED},
}
# The moves only an operator's recovery action makes (`executions.lifecycle.operate`), never the hop:
# mark succeeded, the skipped descendants it reopens, a pause putting back what was queued, a skip.
OPERATOR_TRANSITIONS: dict[str, frozenset[str]] = {
    NodeStatus.FAILED: frozenset({NodeStatus.SUCCEEDED}),
    NodeStatus.TIMED_OUT: frozenset({NodeStatus.SUCCEEDED}),
    NodeStatus.STOPPED: frozenset({NodeStatus.SUCCEEDED}),
    NodeStatus.SKIPPED: frozenset({NodeStatus.PENDING}),
    NodeStatus.QUEUED: frozenset({NodeStatus.PENDING}),
    NodeStatus.PENDING: frozenset({NodeStatus.SKIPPED}),
}
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    BatchStatus.RUNNING: BATCH_FINISHED,
    **{status: frozenset() for status in BATCH_FINISHED},
}


# How a status reads to a person (the values themselves stay English in the API's JSON and the CLI).
_STATUS_WORDS = {
    "pending": lambda: pgettext("status", "pending"),
    "queued": lambda: pgettext("status", "queued"),
    "running": lambda: pgettext("status", "running"),
    "retrying": lambda: pgettext("status", "retrying"),
    "succeeded": lambda: pgettext("status", "succeeded"),
    "failed": lambda: pgettext("status", "failed"),
    "timed_out": lambda: pgettext("status", "timed_out"),
    "skipped": lambda: pgettext("status", "skipped"),
    "stopped": lambda: pgettext("status", "stopped"),
}


def status_text(status: str) -> str:
    """Return a batch's or node run's status in the active language (an unknown value as it is)."""
    word = _STATUS_WORDS.get(str(status))
    return word() if word else str(status)
