"""Run-time records: batches, node runs, their attempts and the append-only event log."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from executions.states import BatchStatus, NodeStatus, TriggerKind, status_text
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
    labels = {"cron": _("Cron"), "periodic": _("Periodic"), "once": _("Once")}
    return [
        *TriggerKind.choices,
        *((value, labels.get(value, label)) for value, label in triggers.batch_trigger_choices()),
    ]


class Batch(models.Model):
    """One execution of one workflow version."""

    # The team the batch ran under, stored on the row (set at the start from the workflow's or the
    # standalone task's team, which never changes): the team filter is one indexed column, not an
    # OR across two joins.
    team_paths = ("team",)

    id = models.CharField(
        primary_key=True, max_length=ID_LENGTH, default=new_batch_id, editable=False, verbose_name=_("id")
    )
    # No index of its own: `batch_workflow_recent` (workflow, -created_at) serves every look-up by workflow.
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="batches",
        db_index=False,
        verbose_name=_("workflow"),
    )
    version = models.ForeignKey(
        WorkflowVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="batches",
        verbose_name=_("version"),
    )
    # A standalone task's run is a batch of one node: `task` is set and `snapshot` holds the
    # one-node definition it runs (what a version holds for a workflow).
    # No index of its own: `batch_task_recent` (task, -created_at) serves it.
    task = models.ForeignKey(
        Task,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
        db_index=False,
        verbose_name=_("task"),
    )
    # Unconstrained, like the logs (no check at COMMIT on every start); indexed by `batch_team_recent`.
    team = models.ForeignKey(
        "workflows.Team",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
        editable=False,
        verbose_name=_("team"),
    )
    snapshot = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("snapshot"))
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.RUNNING, verbose_name=_("status")
    )
    trigger = models.CharField(
        max_length=16, choices=batch_trigger_choices, default=TriggerKind.MANUAL, verbose_name=_("trigger")
    )
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text=_("The fire time, for scheduled batches."), verbose_name=_("scheduled for")
    )
    rerun_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reruns", verbose_name=_("rerun of")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    deadline_at = models.DateTimeField(null=True, blank=True, verbose_name=_("deadline at"))
    stop_requested_at = models.DateTimeField(null=True, blank=True, verbose_name=_("stop requested at"))
    stop_reason = models.CharField(
        max_length=16, blank=True, help_text=_("stopped or timed_out"), verbose_name=_("stop reason")
    )
    # Set while an operator has paused the running batch: no node starts until it continues
    # (its status stays running, so it counts as running for overlap; its timeout keeps counting).
    paused_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paused at"))
    # What `${params.…}` and `${batch.…}` resolve to (`workflows.references`): {"params": {name: value},
    # "batch": {"workflow", "fire_time", "fire_date", "business_date"}}, resolved once at the start; a
    # re-run copies it unchanged.
    context = models.JSONField(default=dict, blank=True, editable=False, verbose_name=_("context"))

    class Meta:
        verbose_name = _("batch")
        ordering = ["-created_at"]
        verbose_name_plural = _("batches")
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
            # Serves the admin/API lists of everything (a superuser), newest first.
            models.Index(fields=["-created_at"], name="batch_recent"),
            # Serves the admin/API lists of a member's teams (and the home page), newest first.
            models.Index(fields=["team", "-created_at"], name="batch_team_recent"),
            # Serves the admin/API list filtered by workflow, and a workflow's execution records, newest first.
            models.Index(fields=["workflow", "-created_at"], name="batch_workflow_recent"),
            # Serves the standalone task's run list, newest first.
            models.Index(fields=["task", "-created_at"], name="batch_task_recent"),
            # Serves the home page's failures of the last 24 hours, latest first (a few rows of each day).
            models.Index(
                fields=["-finished_at"],
                condition=Q(status__in=[BatchStatus.FAILED, BatchStatus.TIMED_OUT]),
                name="batch_failed_recent",
            ),
            # Serves the recovery sweep's scan of unfinished batches past their deadline.
            models.Index(fields=["status", "deadline_at"], name="batch_status_deadline"),
        ]

    def __str__(self) -> str:
        return self.id


class NodeRun(models.Model):
    """One node inside one batch; task nodes carry attempts, timings and output."""

    team_paths = ("team",)  # its batch's team, stored on the row too (the API's node-run list filters by it)

    # No index of its own: `node_run_one_per_batch_node` (batch, node_key) serves every look-up by batch.
    batch = models.ForeignKey(
        Batch, on_delete=models.CASCADE, related_name="node_runs", db_index=False, verbose_name=_("batch")
    )
    team = models.ForeignKey(
        "workflows.Team",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
        editable=False,
        verbose_name=_("team"),
    )
    node_key = models.CharField(max_length=64, verbose_name=_("node key"))
    node_type = models.CharField(max_length=8, verbose_name=_("node type"))
    task_name = models.CharField(max_length=64, blank=True, verbose_name=_("task name"))
    queue = models.CharField(max_length=64, blank=True, verbose_name=_("queue"))
    status = models.CharField(
        max_length=16, choices=NodeStatus.choices, default=NodeStatus.PENDING, verbose_name=_("status")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    queued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("queued at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    heartbeat_at = models.DateTimeField(null=True, blank=True, verbose_name=_("heartbeat at"))
    retry_at = models.DateTimeField(null=True, blank=True, verbose_name=_("retry at"))
    # The recovery sweep's re-sends of this wait's wake-up, and when it may send one again
    # (the gap doubles: a long backlog is not flooded with duplicates). A claim resets both.
    resent = models.PositiveIntegerField(default=0, verbose_name=_("resent"))
    resend_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resend at"))
    worker = models.CharField(max_length=255, blank=True, verbose_name=_("worker"))
    output = models.TextField(blank=True, verbose_name=_("output"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))
    # The values the last attempt published (`${nodes.KEY.outputs.NAME}`), masked and capped
    # (BATON_OUTPUT_VALUES_LIMIT); a resume copies a kept node's.
    outputs = models.JSONField(default=dict, blank=True, verbose_name=_("outputs"))
    # Who set the status by hand (an operator's "mark succeeded" or "skip"), and why; empty when Baton did.
    set_by = models.CharField(max_length=160, blank=True, verbose_name=_("set by"))
    set_reason = models.TextField(blank=True, verbose_name=_("reason"))

    class Meta:
        verbose_name = _("node run")
        verbose_name_plural = _("node runs")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["batch", "node_key"], name="node_run_one_per_batch_node")]
        indexes = [
            # Serves the recovery sweep: queued/retrying runs whose message may be lost,
            # running ones whose worker stopped heart-beating.
            models.Index(fields=["status", "queued_at"], name="node_run_status_queued"),
            # Serves the API's node-run list of a member's teams, in id order.
            models.Index(fields=["team", "id"], name="node_run_team_id"),
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

    team_paths = ("node_run__team",)

    node_run = models.ForeignKey(
        NodeRun, on_delete=models.CASCADE, related_name="attempt_set", verbose_name=_("node run")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    status = models.CharField(
        max_length=16, choices=NodeStatus.choices, default=NodeStatus.RUNNING, verbose_name=_("status")
    )
    worker = models.CharField(max_length=255, blank=True, verbose_name=_("worker"))
    started_at = models.DateTimeField(verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    output = models.TextField(blank=True, verbose_name=_("output"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
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

    team_paths = ("batch__team",)

    batch = models.ForeignKey(
        Batch, on_delete=models.CASCADE, related_name="events", db_constraint=False, verbose_name=_("batch")
    )
    node_run = models.ForeignKey(
        NodeRun,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        db_constraint=False,
        verbose_name=_("node run"),
    )
    node_key = models.CharField(max_length=64, blank=True, verbose_name=_("node key"))
    from_status = models.CharField(max_length=16, blank=True, verbose_name=_("from status"))
    to_status = models.CharField(max_length=16, verbose_name=_("to status"))
    message = models.TextField(blank=True, verbose_name=_("message"))
    at = models.DateTimeField(verbose_name=_("at"))

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        who = self.node_key or gettext("batch")
        return f"{who}: {status_text(self.from_status) if self.from_status else '∅'} → {status_text(self.to_status)}"

    def save(self, *args, **kwargs) -> None:
        """Insert only: the event log is append-only."""
        if self.pk is not None:
            raise ValueError("events are append-only")
        super().save(*args, **kwargs)


class FireOutcome(models.TextChoices):
    """What became of a scheduled fire."""

    STARTED = "started", _("Started")
    STARTED_LATE = "started_late", _("Started Late")
    SKIPPED_OVERLAP = "skipped_overlap", _("Skipped Overlap")
    QUEUED = "queued", _("Queued")  # overlap `queue`: starts once the running batch has ended
    SKIPPED_BACKLOG = (
        "skipped_backlog",
        _("Skipped Backlog"),
    )  # overlap `queue`, but BATON_OVERLAP_QUEUE_LIMIT fires already wait
    DROPPED = "dropped", _("Dropped")  # was queued; the workflow was disabled, deleted or left the `queue` policy
    MISSED = "missed", _("Missed")


class Fire(models.Model):
    """A record of one scheduled fire (or of a run of missed ones) and what became of it.

    A log, like Event: its references have no database constraint (deletes still cascade or
    set null, in Django), so a minute boundary's thousand fires pay no check at COMMIT.
    """

    team_paths = ("workflow__team", "task__team")

    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="fires",
        db_constraint=False,
        db_index=False,  # `fire_workflow_time` serves the look-ups by workflow
        verbose_name=_("workflow"),
    )
    task = models.ForeignKey(
        Task,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="fires",
        db_constraint=False,
        db_index=False,  # `fire_task_time` serves the look-ups by task
        verbose_name=_("task"),
    )
    scheduled_for = models.DateTimeField(verbose_name=_("scheduled for"))
    outcome = models.CharField(max_length=16, choices=FireOutcome.choices, verbose_name=_("outcome"))
    batch = models.ForeignKey(
        Batch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        verbose_name=_("batch"),
    )
    missed_count = models.PositiveIntegerField(default=0, verbose_name=_("missed count"))
    missed_until = models.DateTimeField(null=True, blank=True, verbose_name=_("missed until"))
    recorded_at = models.DateTimeField(auto_now_add=True, verbose_name=_("recorded at"))

    class Meta:
        verbose_name = _("fire")
        verbose_name_plural = _("fires")
        ordering = ["-scheduled_for"]
        indexes = [
            # Serves the tick's look-up of queued fires in order.
            models.Index(fields=["outcome", "scheduled_for"], name="fire_outcome_time"),
            # Serve an owner's fires by time: the admin's list of one workflow or task, the deadline
            # alerts' recent fires, and retention's expired ones of a team (no scan of every fire).
            models.Index(fields=["workflow", "scheduled_for"], name="fire_workflow_time"),
            models.Index(fields=["task", "scheduled_for"], name="fire_task_time"),
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
