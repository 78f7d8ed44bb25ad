"""Alerting records: channels and rules (definitions), alerts and their deliveries (the outbox)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from alerts import channels, rules
from executions.models import Batch, Fire
from workflows.models import Task, Team, Workflow


class Language(models.TextChoices):
    """The language a channel's messages are written in."""

    EN = "en", "English"
    ZH_HANS = "zh-hans", "简体中文"


def trigger_choices() -> list[tuple[str, str]]:
    """Return what a rule can watch, with the words a person reads."""
    labels = {
        rules.FAILED: _("batch failed"),
        rules.TIMED_OUT: _("batch timed out"),
        rules.STOPPED: _("batch stopped"),
        rules.RECOVERED: _("recovered (first success after a failure)"),
        rules.CORE_NODE_FAILED: _("a core node failed"),
        rules.RUNNING_LONG: _("running longer than the rule's limit"),
        rules.MISSED: _("a fire was missed (misfire)"),
        rules.SKIPPED: _("a fire was skipped by the overlap policy"),
        rules.NOT_SUCCEEDED_BY: _("a fire's batch has not succeeded by the deadline"),
        rules.NOT_STARTED_WITHIN: _("a fire's batch has not started within the rule's minutes"),
    }
    return [(trigger, labels[trigger]) for trigger in rules.TRIGGERS]


class Channel(models.Model):
    """Where a team's alerts go: a mailbox, a signed webhook or an IM robot (a kind of `alerts.channels`)."""

    team_paths = ("team",)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=channels.kind_choices)
    config = models.JSONField(_("config"), default=dict, help_text=_("Kind-specific; secret values are sealed."))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="alert_channel_name_unique_per_team")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Rule(models.Model):
    """What to tell which channels about one workflow's or standalone task's batches, or a team's default."""

    team_paths = ("team",)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_rules")
    # Neither set: the team's default, for every workflow and task without a rule of its own.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules")
    triggers = models.JSONField(_("triggers"), default=list, help_text=_("What sets the rule off."))
    channels = models.ManyToManyField(Channel, related_name="rules", blank=True)
    running_longer_than = models.PositiveIntegerField(
        _("running longer than (seconds)"), null=True, blank=True, help_text=_("The limit of the running_long trigger.")
    )
    running_long_factor = models.FloatField(
        _("running longer than k × p95"),
        null=True,
        blank=True,
        help_text=_("running_long relative to history: k times the p95 of the last successful batches."),
    )
    running_long_history = models.PositiveIntegerField(
        _("history (batches)"),
        null=True,
        blank=True,
        help_text=_("How many of the last successful batches the p95 is taken over (default 20)."),
    )
    deadline = models.TimeField(
        _("deadline (HH:MM)"),
        null=True,
        blank=True,
        help_text=_("not_succeeded_by: wall-clock time in the zone of the workflow's trigger."),
    )
    start_within = models.PositiveIntegerField(
        _("start within (minutes)"), null=True, blank=True, help_text=_("not_started_within: minutes after the fire.")
    )
    # The rule's owner: the user who made it. The `stopped` trigger ignores their own stops.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    muted_from = models.DateTimeField(_("muted from"), null=True, blank=True)
    muted_until = models.DateTimeField(_("muted until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["team__name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(workflow__isnull=True) | Q(task__isnull=True), name="alert_rule_one_owner_at_most"
            )
        ]

    def __str__(self) -> str:
        owner = self.workflow or self.task
        return f"{owner or _('team default')}: {', '.join(self.triggers)}"

    def facts(self) -> rules.RuleFacts:
        """Return the rule as the pure decision reads it."""
        return rules.RuleFacts(
            frozenset(self.triggers), self.enabled, self.muted_from, self.muted_until, owner=self.created_by_id
        )


class Alert(models.Model):
    """One rule set off by one batch or one scheduled fire: the outbox row, written once.

    Unique per (batch, rule) and per (fire, rule). A missed or skipped fire has no batch; a
    deadline alert names its fire and, when it started, the fire's batch too.
    """

    team_paths = ("team",)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="alerts")
    # No database constraint, like the event log: a batch is never deleted under its alerts.
    batch = models.ForeignKey(
        Batch, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts", db_constraint=False
    )
    fire = models.ForeignKey(
        Fire, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts", db_constraint=False
    )
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    trigger = models.CharField(_("trigger"), max_length=24, choices=trigger_choices)
    muted = models.BooleanField(default=False, help_text=_("Decided inside the rule's maintenance window: not sent."))
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "rule"], name="alert_one_per_batch_rule"),
            models.UniqueConstraint(fields=["fire", "rule"], name="alert_one_per_fire_rule"),
            models.CheckConstraint(
                condition=Q(batch__isnull=False) | Q(fire__isnull=False), name="alert_names_batch_or_fire"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id or f'fire {self.fire_id}'}: {self.trigger}"


class DeliveryStatus(models.TextChoices):
    """Where a delivery stands."""

    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class Delivery(models.Model):
    """One alert to one channel: its attempts, its result and each failure's reason (the delivery log)."""

    team_paths = ("alert__team",)

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    due_at = models.DateTimeField(help_text=_("Not sent before this (a retry's back-off, a grouping window)."))
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    # A repeat sent inside another delivery's message (grouped with a count) names it.
    sent_with = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    grouped = models.PositiveIntegerField(default=1, help_text=_("How many alerts the message carried."))
    last_error = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True, help_text=_("Each attempt: when, and what happened."))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-due_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="delivery_one_per_alert_channel")]
        indexes = [
            # Serves the sender's scan of due deliveries and the lease check of a crashed send.
            models.Index(fields=["status", "due_at"], name="delivery_status_due"),
        ]

    def __str__(self) -> str:
        return f"{self.alert} → {self.channel}: {self.status}"


class Cursor(models.Model):
    """How far the outbox has read the event log (one row, `name` "events")."""

    name = models.CharField(primary_key=True, max_length=32)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.event_id}"
