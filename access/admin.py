"""Admin: team scoping for staff who are not superusers, API tokens, and the read-only audit trail.

Staff who are not superusers are authorised by their team roles (SPEC §7), not by Django's
model permissions: they see their teams' rows only (`access.scoping.scoped`), viewers read,
editors change definitions, admins manage members and tokens.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from access.actors import ADMIN, Actor, request_actor
from access.audit import audit_denied
from access.http import CappedCountPaginator
from access.models import ApiToken, AuditEntry
from access.policy import allows
from access.preferences import when_html
from access.scoping import (
    exists_unscoped,
    is_scoped,
    scoped,
    teams_with,
    token_grant_problems,
    token_orphaned_because,
    within_scope,
)
from access.services import token_issue, token_revoke
from baton.errors import BatonError
from baton.text import error_text
from workflows.models import Role, Team


def _is_superuser(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _is_staff(request) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def admin_actor(request) -> Actor:
    """Return who acts on an admin page: the request's user, through the admin, from its address."""
    return request_actor(request, ADMIN)


class TeamScopedAdminMixin:
    """Rows from `scoped(user, model)`; permissions from the role in the row's team."""

    view_role: str = Role.VIEWER
    change_role: str = Role.EDITOR
    add_role: str = Role.EDITOR
    delete_role: str = Role.EDITOR

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _is_superuser(request):
            return queryset
        hidden = getattr(self.model, "team_scope_hidden", None)
        queryset = within_scope(request.user, queryset)
        return queryset if hidden is None else queryset.exclude(hidden)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not _is_superuser(request) and is_scoped(self.model):
            foreign = exists_unscoped(self.model, pk=object_id)
            if foreign is not None:
                audit_denied(actor=admin_actor(request), obj=foreign, what="admin page", unless_role=Role.VIEWER)
        return obj

    def scoped_object_or_404(self, request, object_id):
        """Return the row for an extra admin view, 404 (and audited) when it is another team's."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        return obj

    def _allowed(self, request, obj, role: str) -> bool:
        if not _is_staff(request):
            return False
        if _is_superuser(request):
            return True
        if obj is None:
            return bool(teams_with(request.user, role))
        return allows(admin_actor(request), obj, role)

    def has_module_permission(self, request):
        return _is_superuser(request) or (_is_staff(request) and bool(teams_with(request.user, Role.VIEWER)))

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj, self.view_role)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, obj, self.change_role)

    def has_add_permission(self, request, *args):
        return self._allowed(request, None, self.add_role)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, obj, self.delete_role)

    def scoped_teams(self, request, role: str):
        """Return the teams a form may offer for a new row: those where the user holds `role`."""
        teams = teams_with(request.user, role)
        return Team.objects.all() if teams is None else Team.objects.filter(pk__in=teams)


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A sidebar filter offering only the related rows the user may see (no other team's names)."""

    def field_choices(self, field, request, model_admin):
        return [(obj.pk, str(obj)) for obj in scoped(request.user, field.related_model)]


class RecentValuesFilter(admin.AllValuesFieldListFilter):
    """A sidebar filter offering the values seen in the newest `sample` rows of the list.

    Django's own reads DISTINCT over every row of the scope on each page view: a scan of a table
    that only grows. Any older value still filters when typed in the address.
    """

    sample = 5000

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        newest = model_admin.get_queryset(request).order_by(*model._meta.ordering).values("pk")[: self.sample]
        self.lookup_choices = (
            model._default_manager.filter(pk__in=newest)
            .order_by(field.name)
            .values_list(field.name, flat=True)
            .distinct()
        )


# --- members ------------------------------------------------------------------------------------


class MemberField(forms.Field):
    """A new member typed as an exact username or e-mail address; it never lists or names other users.

    Team admins are not shown the user table: a raw id is read as a username, so the page can
    only ever show the users already in the team.
    """

    widget = forms.TextInput(attrs={"placeholder": _("exact username or e-mail"), "autocomplete": "off"})
    default_error_messages = {
        "unknown": _("No such user: type an exact username or e-mail address."),
        "ambiguous": _("Several users have this e-mail address: type the username."),
    }

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int):  # the user of an existing membership of this team
            return get_user_model().objects.filter(pk=value).values_list("username", flat=True).first() or ""
        return value.get_username() if hasattr(value, "get_username") else value

    def to_python(self, value: Any) -> Any:
        if isinstance(value, int):  # a disabled row's initial value (posted data is always text)
            return get_user_model().objects.filter(pk=value).first()
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            return None
        users = get_user_model().objects.filter(is_active=True)
        matches = list(users.filter(email__iexact=text)[:2] if "@" in text else users.filter(username=text)[:1])
        if not matches:
            raise forms.ValidationError(self.error_messages["unknown"], code="unknown")
        if len(matches) > 1:
            raise forms.ValidationError(self.error_messages["ambiguous"], code="ambiguous")
        return matches[0]


class MembershipForm(forms.ModelForm):
    """A membership row: the member is fixed once added (remove and add to change it); the role changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "user" in self.fields:
            self.fields["user"].disabled = True


# --- tokens -------------------------------------------------------------------------------------


class ApiTokenForm(forms.ModelForm):
    """A new token's team, name, role and shell flag; nobody may grant a right they do not hold."""

    creator: Any = None  # the user making the token (set per request by the admin)

    class Meta:
        model = ApiToken
        fields = ["team", "name", "role", "can_define_shell"]

    def clean(self):
        cleaned = super().clean()
        team, role = cleaned.get("team"), cleaned.get("role")
        if team is not None and role and self.creator is not None:
            problems = token_grant_problems(self.creator, team, role, bool(cleaned.get("can_define_shell")))
            for field, message in problems.items():
                self.add_error(field, message)
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    """One token per integration and team; the secret is shown once, only its hash is kept."""

    form = ApiTokenForm
    view_role = change_role = add_role = delete_role = Role.ADMIN
    list_display = [
        "name",
        "team",
        "role",
        "can_define_shell",
        "state",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["role", ("team", ScopedRelatedFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_creator_rights()

    @admin.display(description=_("state"))
    def state(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return _("revoked")
        orphaned = token_orphaned_because(token)
        return _("orphaned: %(reason)s; replace it") % {"reason": orphaned} if orphaned else _("active")

    def has_module_permission(self, request):
        return _is_superuser(request) or (_is_staff(request) and bool(teams_with(request.user, Role.ADMIN)))

    def has_change_permission(self, request, obj=None):
        return False  # a token is created or revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay, for the audit trail

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "team":
            kwargs["queryset"] = self.scoped_teams(request, Role.ADMIN)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"creator": request.user})

    def save_model(self, request, obj: ApiToken, form, change):
        if change:
            return
        raw = token_issue(actor=admin_actor(request), token=obj)
        shown = _("Token for %(name)s: %(raw)s — copy it now; it is not shown again.")
        messages.warning(request, shown % {"name": obj.name, "raw": raw})

    @admin.action(description=_("Revoke selected tokens"))
    def revoke(self, request, queryset):
        actor = admin_actor(request)
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                token_revoke(actor=actor, token=token)
            except BatonError as exc:
                messages.error(request, error_text(exc, gettext))
        messages.success(request, _("Revoked."))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not _is_superuser(request) and not teams_with(request.user, Role.ADMIN):
            actions.pop("revoke", None)
        return actions

    def has_revoke_permission(self, request) -> bool:
        return self._allowed(request, None, Role.ADMIN)


ApiTokenAdmin.revoke.allowed_permissions = ("revoke",)


# --- audit --------------------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    """The append-only audit trail (read-only; team admins see their teams')."""

    view_role = Role.ADMIN
    list_display = [
        "at_when",
        "actor_label",
        "team",
        "action",
        "count",
        "object_type",
        "object_id",
        "object_repr",
        "source_address",
        "via",
    ]
    # No date hierarchy (MIN/MAX and DISTINCT years over the whole trail, which only grows): a
    # range filter and a capped count, as on the batch list.
    list_filter = [
        ("action", RecentValuesFilter),
        ("via", RecentValuesFilter),
        ("object_type", RecentValuesFilter),
        ("team", ScopedRelatedFilter),
        ("at", admin.DateFieldListFilter),
    ]
    search_fields = ["actor_label", "object_id", "object_repr", "action"]
    list_select_related = ["team"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    @admin.display(description=AuditEntry._meta.get_field("at").verbose_name, ordering="at")
    def at_when(self, entry: AuditEntry):
        return when_html(entry.at)

    def has_module_permission(self, request):
        return _is_superuser(request) or (_is_staff(request) and bool(teams_with(request.user, Role.ADMIN)))

    def has_add_permission(self, request, *args: Any):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
