"""Access records: API tokens for integrations and the append-only audit trail."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils.translation import gettext_lazy as _

from workflows.kinds import shell as shell_kind
from workflows.models import Membership, Role, Team

TOKEN_PREFIX = "baton_"  # noqa: S105 (a marker to recognise leaked tokens, not a secret)


def token_generate() -> str:
    """Return a fresh random token (shown once; only its hash is kept)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(raw: str) -> str:
    """Return the stored form of a token: its SHA-256 (tokens are 256-bit random, so no salt is needed)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class TokenRole(models.TextChoices):
    """What an integration's token may do in its team; managing members stays with people."""

    VIEWER = Role.VIEWER.value, _("Viewer")
    OPERATOR = Role.OPERATOR.value, _("Operator")
    EDITOR = Role.EDITOR.value, _("Editor")


class ApiTokenQuerySet(models.QuerySet):
    """Token queries."""

    def with_creator_rights(self) -> ApiTokenQuerySet:
        """Load each token with its team, its creator, the creator's role in the team and shell permission (one query)."""
        creator = OuterRef("created_by_id")
        shell = Permission.objects.filter(codename=shell_kind.PERMISSION.codename, content_type__app_label="workflows")
        return self.select_related("team", "created_by").annotate(
            creator_role=Subquery(Membership.objects.filter(team=OuterRef("team_id"), user=creator).values("role")[:1]),
            creator_shell=Exists(shell.filter(Q(user=creator) | Q(group__user=creator))),
        )


class ApiToken(models.Model):
    """One integration's credential, scoped to one team; only a hash of the secret is stored.

    A token acts within its creator's current rights in its team (docs/api.md, "Tokens").
    """

    team_paths = ("team",)
    team_view_role = Role.ADMIN  # only a team's admins see its tokens

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("team"))
    name = models.CharField(max_length=64, help_text=_("The integration this token is for."), verbose_name=_("name"))
    role = models.CharField(
        max_length=16, choices=TokenRole.choices, default=TokenRole.OPERATOR, verbose_name=_("role")
    )
    can_define_shell = models.BooleanField(
        default=False,
        help_text=_("May create or change shell tasks (needs an editor role as well)."),
        verbose_name=_("can define shell"),
    )
    prefix = models.CharField(
        max_length=16,
        editable=False,
        help_text=_("The token's first characters, to recognise it."),
        verbose_name=_("prefix"),
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("key hash"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("API tokens")
        ordering = ["team__name", "name"]
        verbose_name = _("API token")
        constraints = [
            # One live token per integration and team; revoked ones stay for the audit trail.
            models.UniqueConstraint(
                fields=["team", "name"], condition=Q(revoked_at__isnull=True), name="api_token_one_live_per_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team}, {self.prefix}…)"

    @property
    def active(self) -> bool:
        """Tell whether the token still authenticates."""
        return self.revoked_at is None


class AuditEntry(models.Model):
    """One state-changing action, or the denied cross-team attempts of one actor, team and minute.

    Insert only; the one change a row ever sees is its `count` growing while its minute lasts.
    """

    team_paths = ("team",)
    team_view_role = Role.ADMIN  # only a team's admins see its audit trail

    at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(
        max_length=160, help_text=_("User name, or token:<name> for an integration."), verbose_name=_("actor label")
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("team")
    )
    action = models.CharField(max_length=48, verbose_name=_("action"))
    object_type = models.CharField(max_length=48, blank=True, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, blank=True, verbose_name=_("object id"))
    object_repr = models.CharField(max_length=200, blank=True, verbose_name=_("object repr"))
    before = models.JSONField(null=True, blank=True, verbose_name=_("before"))
    after = models.JSONField(null=True, blank=True, verbose_name=_("after"))
    source_address = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("source address"))
    via = models.CharField(max_length=16, blank=True, help_text=_("api, admin or cli"), verbose_name=_("via"))
    count = models.PositiveIntegerField(
        default=1,
        help_text=_("Attempts this row stands for: denied attempts are one row per actor, team and minute."),
        verbose_name=_("count"),
    )

    class Meta:
        verbose_name = _("audit entry")
        ordering = ["-at", "-id"]
        verbose_name_plural = _("audit entries")
        indexes = [
            # Serves the audit list of one team, newest first (the API and admin default view).
            models.Index(fields=["team", "-at"], name="audit_team_recent"),
            # Serves "what happened to this object" look-ups.
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs) -> None:
        """Insert only: the audit trail is append-only."""
        if self.pk is not None:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """Refuse: the audit trail is append-only."""
        raise ValueError("audit entries are append-only")
