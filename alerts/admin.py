"""Alerts in the admin: channels (with "send a test message") and rules, saved through the services; the delivery log."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin import ScopedRelatedFilter, TeamScopedAdminMixin, admin_actor
from access.http import CappedCountPaginator
from access.scoping import scoped
from alerts import channels, rules
from alerts.models import Alert, Channel, Delivery, Rule, trigger_choices
from alerts.services import channel_delete, channel_save, channel_test, rule_delete, rule_save
from baton.errors import BatonError, Invalid
from workflows import secrets
from workflows.models import Role, Task, Workflow


def _problems_on_fields(form: forms.Form, error: BatonError) -> None:
    """Show a service's refusal on the fields it names (`config.url` on `config`), else on the form."""
    problems = getattr(error, "problems", ()) if isinstance(error, Invalid) else ()
    if not problems:
        form.add_error(None, str(error))
    for problem in problems:
        field = str(problem.path).split(".", 1)[0]
        form.add_error(field if field in form.fields else None, f"{problem.path}: {problem.message}")


def _kinds_help() -> str:
    parts = []
    for kind in channels.CHANNEL_KINDS.values():
        fields = ", ".join(f"{field.name}{' (secret)' if field.secret else ''}" for field in kind.fields)
        parts.append(f"{kind.name}: {fields}")
    return "; ".join(parts)


def _checked_by_the_service(form: Any, cleaned: dict[str, Any], save: Any) -> dict[str, Any]:
    """Finish a channel's or rule's document (a new row names its team) and let the service check it (a dry run)."""
    if not form.instance.pk:
        if cleaned.get("team") is None:
            form.add_error("team", _("This field is required."))
            return cleaned
        form.document["team"] = cleaned["team"].name
    try:
        save(dry_run=True)
    except BatonError as exc:
        _problems_on_fields(form, exc)
    return cleaned


class ChannelForm(forms.ModelForm):
    team = forms.ModelChoiceField(queryset=None, required=False)
    config = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=_("A JSON object. Secrets are shown as *** and kept when left so."),
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "language", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = self.editor_teams
        self.fields["kind"].help_text = _kinds_help()
        if self.instance.pk:
            del self.fields["team"]
            self.initial["config"] = json.dumps(secrets.mask(self.instance.config), ensure_ascii=False)

    def clean_config(self) -> Any:
        try:
            return json.loads(self.cleaned_data["config"] or "{}")
        except ValueError as exc:
            raise forms.ValidationError(_("not valid JSON: %(error)s") % {"error": exc}) from exc

    def clean(self):
        cleaned = super().clean()
        self.document = {f: cleaned[f] for f in ("name", "kind", "config", "language", "enabled") if f in cleaned}
        return _checked_by_the_service(self, cleaned, self.save_channel)

    def save_channel(self, *, dry_run: bool = False) -> Channel:
        edited = Channel.objects.get(pk=self.instance.pk) if self.instance.pk else None
        return channel_save(document=self.document, actor=admin_actor(self.request), channel=edited, dry_run=dry_run)


class ServiceSavedAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    """An admin whose rows are written by a service (`save_<model>` on its form), never by the model form."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        form.editor_teams = self.scoped_teams(request, Role.EDITOR)
        return form

    def save_related(self, request, form, formsets, change):
        pass


@admin.register(Channel)
class ChannelAdmin(ServiceSavedAdmin):
    form = ChannelForm
    list_display = ["name", "team", "kind", "language", "enabled"]
    list_filter = ["kind", "language", ("team", ScopedRelatedFilter)]
    list_select_related = ["team"]
    search_fields = ["name"]
    actions = ["send_test_message"]

    def get_fields(self, request, obj=None):
        return (
            ["name", "kind", "config", "language", "enabled"]
            if obj
            else ["team", "name", "kind", "config", "language", "enabled"]
        )

    def save_model(self, request, obj, form, change):
        channel = form.save_channel()
        obj.__dict__.update(channel.__dict__)

    def delete_model(self, request, obj):
        channel_delete(channel=obj, actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            self.delete_model(request, channel)

    @admin.action(description=_("Send a test message"))
    def send_test_message(self, request, queryset):
        for channel in queryset.select_related("team"):
            try:
                error = channel_test(channel=channel, actor=admin_actor(request))
            except BatonError as exc:
                error = str(exc)
            if error is None:
                self.message_user(request, _("Test message sent through %(name)s.") % {"name": channel.name})
            else:
                text = _("Test message through %(name)s failed: %(error)s") % {"name": channel.name, "error": error}
                self.message_user(request, text, level=messages.ERROR)


class RuleForm(forms.ModelForm):
    team = forms.ModelChoiceField(queryset=None, required=False)
    triggers = forms.MultipleChoiceField(choices=trigger_choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Rule
        fields = [
            "workflow",
            "task",
            "channels",
            "running_longer_than",
            "running_long_factor",
            "running_long_history",
            "deadline",
            "start_within",
            "enabled",
            "muted_from",
            "muted_until",
        ]
        widgets = {"deadline": forms.TimeInput(format="%H:%M", attrs={"placeholder": "HH:MM"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = self.request.user
        self.fields["team"].queryset = self.editor_teams
        self.fields["workflow"].queryset = scoped(user, Workflow)
        self.fields["task"].queryset = scoped(user, Task).filter(node__isnull=True)
        self.fields["channels"].queryset = scoped(user, Channel)
        self.fields["workflow"].help_text = _("Leave workflow and task empty for the team's default rule.")
        if self.instance.pk:
            del self.fields["team"]
            self.initial["triggers"] = list(self.instance.triggers)

    def clean(self):
        cleaned = super().clean()
        self.document = {
            "workflow": cleaned["workflow"].name if cleaned.get("workflow") else None,
            "task": cleaned["task"].name if cleaned.get("task") else None,
            "triggers": [t for t in rules.TRIGGERS if t in (cleaned.get("triggers") or [])],
            "channels": [channel.name for channel in cleaned.get("channels") or []],
            "running_longer_than": cleaned.get("running_longer_than"),
            "running_long_factor": cleaned.get("running_long_factor"),
            "running_long_history": cleaned.get("running_long_history"),
            "deadline": cleaned.get("deadline"),
            "start_within": cleaned.get("start_within"),
            "enabled": cleaned.get("enabled", True),
            "muted_from": cleaned.get("muted_from"),
            "muted_until": cleaned.get("muted_until"),
        }
        return _checked_by_the_service(self, cleaned, self.save_rule)

    def save_rule(self, *, dry_run: bool = False) -> Rule:
        edited = Rule.objects.get(pk=self.instance.pk) if self.instance.pk else None
        return rule_save(document=self.document, actor=admin_actor(self.request), rule=edited, dry_run=dry_run)


@admin.register(Rule)
class RuleAdmin(ServiceSavedAdmin):
    form = RuleForm
    list_display = ["__str__", "team", "workflow", "task", "created_by", "enabled", "muted_until"]
    list_filter = ["enabled", ("team", ScopedRelatedFilter)]
    list_select_related = ["team", "workflow", "task", "created_by"]
    readonly_fields = ["created_by"]

    def get_fields(self, request, obj=None):
        shown = [
            "workflow",
            "task",
            "triggers",
            "running_longer_than",
            "running_long_factor",
            "running_long_history",
            "deadline",
            "start_within",
            "channels",
            "enabled",
            "muted_from",
            "muted_until",
        ]
        return [*shown, "created_by"] if obj else ["team", *shown]

    def save_model(self, request, obj, form, change):
        rule = form.save_rule()
        obj.__dict__.update(rule.__dict__)

    def delete_model(self, request, obj):
        rule_delete(rule=obj, actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


class ReadOnlyLog(TeamScopedAdminMixin, admin.ModelAdmin):
    """Alerts and deliveries are written by the outbox only; they grow with history, so their count is capped."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyLog):
    list_display = ["created_at", "team", "batch", "fire", "trigger", "muted"]
    list_filter = ["trigger", "muted", ("team", ScopedRelatedFilter)]
    list_select_related = ["team", "batch", "fire__workflow", "fire__task"]
    search_fields = ["batch__id"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyLog):
    """The delivery log: what was sent, when, to which channel, and each failure's reason."""

    list_display = ["due_at", "channel", "alert", "status_badge", "attempts", "sent_at", "grouped", "last_error"]
    list_filter = ["status", ("channel", ScopedRelatedFilter)]
    list_select_related = ["channel", "alert"]
    readonly_fields = ["attempts_log"]

    @admin.display(description=_("status"))
    def status_badge(self, delivery: Delivery):
        colour = {"sent": "#2e7d32", "failed": "#c62828"}.get(delivery.status, "#616161")
        return format_html('<span style="color:{}">{}</span>', colour, delivery.get_status_display())

    @admin.display(description=_("attempts"))
    def attempts_log(self, delivery: Delivery):
        return format_html("<pre>{}</pre>", json.dumps(delivery.log, ensure_ascii=False, indent=1))
