"""Run-time records: batches, node runs, their attempts and the append-only event log."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from executions.states import BatchStatus, NodeStatus, TriggerKind
from workflows import triggers
from workflows.models import Task, Workflow, WorkflowVersion

# Crockford's base 32: no I, L, O, U, so an id read out on a call is not misheard.
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 8


def new_batch_id() -> str:
    """Return a random, short, human-friendly batch id such as `K7QX2M9D`."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def normalize_batch_id(text: str) -> str:
    """Map what an operator typed to the id alphabet (case, dashes, O→0, I/L→1)."""
    table = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
    return text.strip().upper().translate(table)


def batch_trigger_choices() -> list[tuple[str, str]]:
    """Return what can start a batch: a person, a re-run or resume, or a fire of a trigger type (no migration per type)."""
    return [*TriggerKind.choices, *triggers.batch_trigger_choices()]


class Batch(models.Model):
    """One execution of one workflow version."""

    team_paths = ("workflow__team", "task__team")  # a workflow's batch, or a standalone task's run

    id = models.CharField(primary_key=True, max_length=ID_LENGTH, default=new_batch_id, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, null=True, blank=True, related_name="batches")
    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="batches"
    )
    # A standalone task's run is a batch of one node: `task` is set and `snapshot` holds the
    # one-node definition it runs (what a version holds for a workflow).
    task = models.ForeignKey(Task, on_delete=models.PROTECT, null=True, blank=True, related_name="runs")
    snapshot = models.JSONField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.RUNNING)
    trigger = models.CharField(max_length=16, choices=batch_trigger_choices, default=TriggerKind.MANUAL)
    scheduled_for = models.DateTimeField(null=True, blank=True, help_text="The fire time, for scheduled batches.")
    rerun_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reruns")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=16, blank=True, help_text="stopped or timed_out")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        constraints = [
            # Two schedulers, a restart or a redelivered tick cannot start one fire twice.
            models.UniqueConstraint(
                fields=["workflow", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="batch_one_per_workflow_fire",
            ),
            models.UniqueConstraint(
                fields=["task", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="batch_one_per_task_fire",
            ),
            models.CheckConstraint(
                condition=Q(workflow__isnull=False, version__isnull=False, task__isnull=True)
                | Q(workflow__isnull=True, version__isnull=True, task__isnull=False, snapshot__isnull=False),
                name="batch_runs_a_workflow_version_or_a_task",
            ),
        ]
        indexes = [
            # Serves the admin/API list filtered by workflow, newest first.
            models.Index(fields=["workflow", "-created_at"], name="batch_workflow_recent"),
            # Serves the standalone task's run list, newest first.
            models.Index(fields=["task", "-created_at"], name="batch_task_recent"),
            # Serves the recovery sweep's scan of unfinished batches past their deadline.
            models.Index(fields=["status", "deadline_at"], name="batch_status_deadline"),
        ]

    def __str__(self) -> str:
        return self.id


class NodeRun(models.Model):
    """One node inside one batch; task nodes carry attempts, timings and output."""

    team_paths = ("batch__workflow__team", "batch__task__team")

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="node_runs")
    node_key = models.CharField(max_length=64)
    node_type = models.CharField(max_length=8)
    task_name = models.CharField(max_length=64, blank=True)
    queue = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    # The recovery sweep's re-sends of this wait's wake-up, and when it may send one again
    # (the gap doubles: a long backlog is not flooded with duplicates). A claim resets both.
    resent = models.PositiveIntegerField(default=0)
    resend_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    output = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["batch", "node_key"], name="node_run_one_per_batch_node")]
        indexes = [
            # Serves the recovery sweep: queued/retrying runs whose message may be lost,
            # running ones whose worker stopped heart-beating.
            models.Index(fields=["status", "queued_at"], name="node_run_status_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.node_key}"

    @property
    def duration_seconds(self) -> float | None:
        """Return how long the last attempt ran."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Attempt(models.Model):
    """One attempt of a task node run."""

    team_paths = ("node_run__batch__workflow__team", "node_run__batch__task__team")

    node_run = models.ForeignKey(NodeRun, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.RUNNING)
    worker = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    output = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["node_run_id", "number"]
        constraints = [models.UniqueConstraint(fields=["node_run", "number"], name="attempt_number_unique_per_run")]

    def __str__(self) -> str:
        return f"{self.node_run} #{self.number}"


class Event(models.Model):
    """An append-only record of one status transition of a batch or a node run.

    Its references have no database constraint (`db_constraint=False`; deletes still cascade,
    in Django): a log row is written only beside the row it names, and a checked reference
    cost every start and every hop a deferred check at COMMIT that locks the named row.
    """

    team_paths = ("batch__workflow__team", "batch__task__team")

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events", db_constraint=False)
    node_run = models.ForeignKey(
        NodeRun, on_delete=models.CASCADE, null=True, blank=True, related_name="events", db_constraint=False
    )
    node_key = models.CharField(max_length=64, blank=True)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    message = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        who = self.node_key or "batch"
        return f"{who}: {self.from_status or '∅'} → {self.to_status}"

    def save(self, *args, **kwargs) -> None:
        """Insert only: the event log is append-only."""
        if self.pk is not None:
            raise ValueError("events are append-only")
        super().save(*args, **kwargs)


class FireOutcome(models.TextChoices):
    """What became of a scheduled fire."""

    STARTED = "started"
    STARTED_LATE = "started_late"
    SKIPPED_OVERLAP = "skipped_overlap"
    QUEUED = "queued"  # overlap `queue`: starts once the running batch has ended
    SKIPPED_BACKLOG = "skipped_backlog"  # overlap `queue`, but BATON_OVERLAP_QUEUE_LIMIT fires already wait
    DROPPED = "dropped"  # was queued; the workflow was disabled, deleted or left the `queue` policy
    MISSED = "missed"


class Fire(models.Model):
    """A record of one scheduled fire (or of a run of missed ones) and what became of it.

    A log, like Event: its references have no database constraint (deletes still cascade or
    set null, in Django), so a minute boundary's thousand fires pay no check at COMMIT.
    """

    team_paths = ("workflow__team", "task__team")

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="fires", db_constraint=False
    )
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, null=True, blank=True, related_name="fires", db_constraint=False
    )
    scheduled_for = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=FireOutcome.choices)
    batch = models.ForeignKey(
        Batch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    missed_count = models.PositiveIntegerField(default=0)
    missed_until = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_for"]
        indexes = [
            # Serves the tick's look-up of queued fires in order, and the admin's per-owner list.
            models.Index(fields=["outcome", "scheduled_for"], name="fire_outcome_time"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow or self.task} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S}: {self.outcome}"


class DailyOutcome(models.Model):
    """How many batches of one workflow (or standalone task) ended in one status on one day.

    Written when retention deletes history (`executions.retention`), so counts of the past
    outlive the rows they summarise.
    """

    team_paths = ("team",)

    team = models.ForeignKey("workflows.Team", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_constraint=False
    )
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_constraint=False
    )
    day = models.DateField()
    status = models.CharField(max_length=16, choices=BatchStatus.choices)
    count = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0, help_text="The batches' durations, summed.")

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "day", "status"], condition=Q(workflow__isnull=False), name="daily_outcome_workflow"
            ),
            models.UniqueConstraint(
                fields=["task", "day", "status"], condition=Q(task__isnull=False), name="daily_outcome_task"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id or self.task_id} {self.day} {self.status}: {self.count}"
