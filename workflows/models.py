"""Definitions: teams, tasks, workflows, their current graph and immutable versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from workflows import graph, kinds, policies


class Role(models.TextChoices):
    """A member's role in a team (SPEC §7)."""

    VIEWER = "viewer", _("Viewer")
    OPERATOR = "operator", _("Operator")
    EDITOR = "editor", _("Editor")
    ADMIN = "admin", _("Admin")


# The policies' choices, built from their one definition (`workflows.policies`, pure).
POLICY_LABELS = {"skip": _("Skip"), "parallel": _("Parallel"), "queue": _("Queue"), "fire_once_now": _("Fire Once Now")}
OverlapPolicy = models.TextChoices(
    "OverlapPolicy", [(policy.name, (policy.value, POLICY_LABELS[policy.value])) for policy in policies.OverlapPolicy]
)
MisfirePolicy = models.TextChoices(
    "MisfirePolicy", [(policy.name, (policy.value, POLICY_LABELS[policy.value])) for policy in policies.MisfirePolicy]
)


class Team(models.Model):
    """The owner of tasks and workflows."""

    team_paths = ("pk",)  # how a row reaches its team (`access.scoping`): a team is its own

    name = models.CharField(max_length=64, unique=True, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams", blank=True, verbose_name=_("members")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name=_("retention (days)"),
        help_text=_(
            "Ended batches older than this many days are archived and deleted; 0 keeps everything; "
            "empty uses the installation's default (BATON_RETENTION_DAYS)."
        ),
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one team."""

    team_paths = ("team",)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("team"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER, verbose_name=_("role"))

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_one_per_team_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Task(models.Model):
    """A reusable unit of work; standalone or in exactly one workflow (through its node)."""

    team_paths = ("team",)

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="tasks", verbose_name=_("team"))
    name = models.CharField(max_length=64, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    kind = models.CharField(
        max_length=16, choices=kinds.kind_choices, verbose_name=_("kind")
    )  # the registry's kinds (`workflows.kinds`)
    config = models.JSONField(
        default=dict, help_text=_("Kind-specific; secret values are sealed."), verbose_name=_("config")
    )
    timeout_seconds = models.PositiveIntegerField(default=3600, verbose_name=_("timeout seconds"))
    retries = models.PositiveIntegerField(default=0, verbose_name=_("retries"))
    retry_interval_seconds = models.PositiveIntegerField(default=0, verbose_name=_("retry interval seconds"))
    retry_backoff = models.BooleanField(
        default=False,
        help_text=_("Double the retry interval after each failed attempt."),
        verbose_name=_("retry backoff"),
    )
    queue = models.CharField(max_length=64, default="default", verbose_name=_("queue"))
    trigger = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Standalone tasks only; off while in a workflow."),
        verbose_name=_("trigger"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="task_name_unique_per_team")]
        # What defining some kinds needs on top of an editor role, declared by the kinds (SPEC §2, §7).
        permissions = kinds.permissions()

    def __str__(self) -> str:
        return self.name

    @property
    def workflow(self) -> Workflow | None:
        """Return the workflow this task belongs to, if any."""
        node = getattr(self, "node", None)
        return node.workflow if node else None


class WorkflowQuerySet(models.QuerySet):
    """Workflow queries."""

    def alive(self) -> WorkflowQuerySet:
        """Exclude deleted workflows."""
        return self.filter(deleted_at__isnull=True)


class Workflow(models.Model):
    """A named DAG of nodes and edges with a trigger, a batch timeout and an enabled flag."""

    team_paths = ("team",)
    team_scope_hidden = Q(deleted_at__isnull=False)  # deleted workflows are hidden (SPEC §6); their batches stay

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="workflows", verbose_name=_("team"))
    name = models.CharField(max_length=64, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    trigger = models.JSONField(default=dict, verbose_name=_("trigger"))
    timeout_seconds = models.PositiveIntegerField(default=86400, verbose_name=_("timeout seconds"))
    overlap_policy = models.CharField(
        max_length=16, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP, verbose_name=_("overlap policy")
    )
    misfire_policy = models.CharField(
        max_length=16,
        choices=MisfirePolicy.choices,
        default=MisfirePolicy.FIRE_ONCE_NOW,
        verbose_name=_("misfire policy"),
    )
    current_version = models.ForeignKey(
        "WorkflowVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current version"),
    )
    deleted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("deleted at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        verbose_name = _("workflow")
        verbose_name_plural = _("workflows")
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(deleted_at__isnull=True),
                name="workflow_name_unique_per_team",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Node(models.Model):
    """One node of a workflow's current graph; START is implicit and not stored."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="nodes", verbose_name=_("workflow"))
    key = models.CharField(max_length=64, verbose_name=_("key"))
    type = models.CharField(
        max_length=8,
        choices=[(graph.TASK, _("task")), (graph.AND, _("and")), (graph.OR, _("or"))],
        verbose_name=_("type"),
    )
    # One-to-one: a task sits in at most one workflow, at most once (SPEC §3.7).
    task = models.OneToOneField(
        Task, on_delete=models.PROTECT, null=True, blank=True, related_name="node", verbose_name=_("task")
    )
    core = models.BooleanField(default=False, verbose_name=_("core"))

    class Meta:
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "key"], name="node_key_unique_per_workflow"),
            models.CheckConstraint(
                condition=Q(type=graph.TASK, task__isnull=False)
                | (~Q(type=graph.TASK) & Q(task__isnull=True, core=False)),
                name="node_task_iff_task_type",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Edge(models.Model):
    """One edge of a workflow's current graph, between node keys (`start` for START)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="edges", verbose_name=_("workflow"))
    source = models.CharField(max_length=64, verbose_name=_("source"))
    target = models.CharField(max_length=64, verbose_name=_("target"))
    on = models.CharField(
        max_length=8,
        blank=True,
        choices=[(graph.SUCCESS, _("success")), (graph.FAILURE, _("failure")), ("", "—")],
        verbose_name=_("on"),
    )

    class Meta:
        verbose_name = _("edge")
        verbose_name_plural = _("edges")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "source", "target"], name="edge_unique_per_pair"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="edge_no_self_loop"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}" + (f" ({self.on})" if self.on else "")


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow's full definition (SPEC §10, secrets sealed)."""

    team_paths = ("workflow__team",)

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="versions", verbose_name=_("workflow")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    definition = models.JSONField(verbose_name=_("definition"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("workflow version")
        verbose_name_plural = _("workflow versions")
        ordering = ["workflow_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="version_number_unique_per_workflow")
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        """Insert only: a version never changes once written."""
        if self.pk is not None:
            raise ValueError("workflow versions are immutable")
        super().save(*args, **kwargs)


class Schedule(models.Model):
    """The scheduling state of one active trigger: when it fires next.

    A row exists only while its owner (a workflow, or a standalone task) is enabled, not
    deleted and has a cron or periodic trigger; the scheduler claims due rows with
    `SELECT … FOR UPDATE SKIP LOCKED`, so two schedulers never take the same row.
    """

    workflow = models.OneToOneField(
        Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="schedule", verbose_name=_("workflow")
    )
    task = models.OneToOneField(
        Task, on_delete=models.CASCADE, null=True, blank=True, related_name="schedule", verbose_name=_("task")
    )
    trigger = models.JSONField(
        help_text=_("A copy of the owner's trigger when the row was synced."), verbose_name=_("trigger")
    )
    misfire_policy = models.CharField(
        max_length=16,
        choices=MisfirePolicy.choices,
        default=MisfirePolicy.FIRE_ONCE_NOW,
        verbose_name=_("misfire policy"),
    )
    overlap_policy = models.CharField(
        max_length=16, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP, verbose_name=_("overlap policy")
    )
    next_fire_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next fire at"))
    last_fire_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last fire at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["next_fire_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(workflow__isnull=False, task__isnull=True) | Q(workflow__isnull=True, task__isnull=False),
                name="schedule_one_owner",
            )
        ]
        indexes = [
            # Serves the tick: due rows in fire order (`next_fire_at <= now ORDER BY next_fire_at`).
            models.Index(fields=["next_fire_at"], name="schedule_due"),
        ]

    def __str__(self) -> str:
        owner = self.workflow or self.task
        return f"{owner} next at {self.next_fire_at}"
