"""Admin for definitions: teams, tasks, workflows (edited as a validated definition), versions.

Every write goes through the services the API and the CLI call (`task_save`,
`workflow_save_definition`, `workflow_delete`, `workflow_set_enabled`, the membership
services), with the request's actor, so the admin refuses and audits exactly what they do.
Buttons follow the user's role (`access.policy.allows`), and an action the role does not allow
says which role it needs. "Run once" is added by the run-time app (`executions.admin`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.admin import MemberField, MembershipForm, ScopedRelatedFilter, TeamScopedAdminMixin, admin_actor
from access.policy import allows, refusal
from access.preferences import rendered_in_workflow_zone, when_html
from access.scoping import teams_with
from access.services import membership_add, membership_change, membership_remove
from baton.errors import BatonError, PermissionDenied
from baton.text import error_text, translated
from workflows import kinds, secrets, triggers
from workflows.admin_settings import (
    SETTINGS_FIELDS,
    SETTINGS_MARKER,
    TRIGGER_FIELD_ORDER,
    TRIGGER_FORM_FIELDS,
    TriggerFieldsForm,
    WorkflowSettingsForm,
    apply_settings,
    editing_context,
    problems_to_fields,
    settings_field_of,
    settings_initial,
    trigger_from_fields,
)
from workflows.definition import DEFAULT_TASK_TIMEOUT, DefinitionError, Problem, load_text
from workflows.models import POLICY_LABELS, Membership, Role, Task, Team, Workflow, WorkflowVersion
from workflows.schedule import next_fires
from workflows.services import (
    SaveResult,
    task_delete,
    task_delete_refusal,
    task_document_of,
    task_save,
    version_export,
    workflow_delete,
    workflow_export,
    workflow_save_definition,
    workflow_set_enabled,
)

EXAMPLE = {
    "name": "my-workflow",
    "team": "my-team",
    "trigger": {"type": "none"},
    "nodes": [
        {
            "key": "hello",
            "type": "task",
            "task": {"name": "say-hello", "kind": "shell", "config": {"script": "echo hello"}},
        }
    ],
    "edges": [{"from": "start", "to": "hello"}],
}


def fire_times_html(trigger: dict | None):
    """Render the next 5 fire times of a trigger (SPEC §5: shown wherever a trigger is edited)."""
    times = next_fires(trigger, timezone.now())
    if not times:
        return _("— (manual only)")
    return format_html(
        '<ol class="baton-next-fires">{}</ol>', format_html_join("", "<li>{}</li>", ((t.isoformat(),) for t in times))
    )


def json_text(value: Any) -> str:
    """Return a value as indented JSON, as the admin's text areas show it."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def role_allows(request, obj: Any, role: str, action: str) -> bool:
    """Tell whether the user holds `role` in the object's team; if not, say (as a message) which role it needs.

    For what the admin shows before it calls a service (a confirmation page); the service checks again.
    """
    message = refusal(admin_actor(request), obj, role, action)
    if message is not None:
        messages.error(request, message)
    return message is None


def definition_html(document: dict[str, Any], next_fire_times: Any = None) -> SafeString:
    """Render a masked definition read-only: settings, each node with its task, the edges, the JSON."""
    settings_rows = [
        (_("description"), document.get("description") or "—"),
        (_("enabled"), _("yes") if document.get("enabled") else _("no")),
        (_("trigger"), translated(triggers.describe(document.get("trigger")), _)),
        (_("timeout"), f"{document.get('timeout_seconds')} s"),
        (_("overlap policy"), POLICY_LABELS.get(document.get("overlap_policy"), document.get("overlap_policy"))),
        (_("misfire policy"), POLICY_LABELS.get(document.get("misfire_policy"), document.get("misfire_policy"))),
    ]
    if next_fire_times is not None:
        settings_rows.append((_("next fire times"), next_fire_times))
    settings = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", settings_rows)
    nodes = format_html_join("", "<tr>{}</tr>", ((_node_cells(node),) for node in document.get("nodes", [])))
    edges = format_html_join(
        "",
        "<li>{} → {}{}</li>",
        ((e["from"], e["to"], f" ({e['on']})" if e.get("on") else "") for e in document.get("edges", [])),
    )
    return format_html(
        '<table class="baton-definition-settings">{}</table>'
        '<table class="baton-definition-nodes"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
        "<tbody>{}</tbody></table>"
        '<h4>{}</h4><ul class="baton-definition-edges">{}</ul>'
        "<details><summary>{}</summary><pre>{}</pre></details>",
        settings,
        _("node"),
        _("task"),
        _("runs with"),
        _("config"),
        nodes,
        _("edges"),
        edges,
        _("the definition as JSON"),
        json_text(document),
    )


def _node_cells(node: dict[str, Any]) -> SafeString:
    """Render one node's cells: key and type, its task, how the task runs, its masked config."""
    task = node.get("task")
    kind = {"task": _("task"), "and": "AND", "or": "OR"}.get(node["type"], node["type"])
    if node.get("core"):
        kind = _("%(type)s, core node") % {"type": kind}
    if not isinstance(task, dict):
        return format_html("<td>{} ({})</td><td>{}</td><td></td><td></td>", node["key"], kind, task or "—")
    runs_with = _("%(kind)s · timeout %(timeout)s s · retries %(retries)s · queue %(queue)s") % {
        "kind": task.get("kind"),
        "timeout": task.get("timeout_seconds"),
        "retries": task.get("retries"),
        "queue": task.get("queue"),
    }
    return format_html(
        "<td>{} ({})</td><td>{}</td><td>{}</td><td><pre>{}</pre></td>",
        node["key"],
        kind,
        task.get("name"),
        runs_with,
        json_text(task.get("config", {})),
    )


class RoleAwareAdminMixin:
    """Buttons and actions that follow the user's role; a refused one says which role it needs (never a bare 403)."""

    operator_actions: tuple[str, ...] = ()
    delete_confirmation_template = "admin/workflows/baton_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/workflows/baton_delete_selected_confirmation.html"

    def change_url(self, pk: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[pk])

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        refusals = self.delete_refusals(request, obj) if obj is not None else []
        if refusals:  # a viewer who typed the URL: say why on the object's page instead of a bare 403
            messages.error(request, refusals[0])
            return HttpResponseRedirect(self.change_url(obj.pk))
        return super().delete_view(request, object_id, extra_context)

    def delete_refusals(self, request, obj) -> list[str]:
        """Say why the user may not delete this row (their role in its team), or nothing."""
        message = refusal(admin_actor(request), obj, Role.EDITOR, _("Deleting %(name)s") % {"name": obj})
        return [] if message is None else [message]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not teams_with(request.user, Role.OPERATOR) and not request.user.is_superuser:
            for name in self.operator_actions:
                actions.pop(name, None)
        return actions


class MembershipInline(admin.TabularInline):
    """A team's members; superusers pick users from the user table, team admins type an exact name."""

    model = Membership
    form = MembershipForm
    extra = 0

    def get_autocomplete_fields(self, request):
        return ["user"] if request.user.is_superuser else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            return MemberField(label=db_field.verbose_name)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Members are managed by the team's admins (SPEC §7); obj is the team.
    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or obj is None or allows(admin_actor(request), obj, Role.VIEWER)

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser or (obj is not None and allows(admin_actor(request), obj, Role.ADMIN))

    def has_change_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)


@admin.register(Team)
class TeamAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    change_role = Role.ADMIN

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser  # teams are made by superusers

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def save_formset(self, request, form, formset, change):
        """Write the members through the membership services (a team admin; each change audited)."""
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        actor = admin_actor(request)
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            membership_remove(actor=actor, membership=membership)
        for membership, _changed in formset.changed_objects:
            membership_change(actor=actor, membership=membership, role=membership.role)
        for membership in formset.new_objects:
            membership_add(actor=actor, team=form.instance, user=membership.user, role=membership.role)


# --- standalone tasks ----------------------------------------------------------------------------

TASK_DOCUMENT_FIELDS = [
    "name",
    "kind",
    "config",
    "description",
    "timeout_seconds",
    "retries",
    "retry_interval_seconds",
    "retry_backoff",
    "queue",
    "trigger",
]
TASK_INFO_FIELDS = ["workflow_link", "next_fire_times", "runs_link", "created_at", "updated_at"]
JSON_WIDGET_ATTRS = {"rows": 8, "cols": 80, "style": "font-family: monospace", "spellcheck": "false"}
FIELD_PATH = re.compile(r"([a-z_]+)(?:\.(.*))?", re.DOTALL)


def problems_on_fields(form: forms.Form, problems: Iterable[Problem]) -> None:
    """Show each validator problem on the form field its path starts with (`config.url` on config)."""
    trigger_kind = form.cleaned_data.get("trigger_type") or "none"
    for problem in problems:
        match = FIELD_PATH.fullmatch(problem.path)
        field = match.group(1) if match and match.group(1) in form.fields else None
        message = translated(problem.message, _)
        on_field = settings_field_of(problem.path, trigger_kind) if form.data.get(SETTINGS_MARKER) else None
        if on_field is not None and on_field in form.fields:  # a trigger's problem on its field
            if on_field not in form.errors:
                form.add_error(on_field, message)
            continue
        if field is None:
            form.add_error(None, f"{problem.path}: {message}" if problem.path else message)
        elif field not in form.errors:  # a field that did not parse already says so
            form.add_error(field, f"{match.group(2)}: {message}" if match.group(2) else message)


def _field_label(name: str) -> str:
    """Return a task field's translatable label (the model's verbose name)."""
    return capfirst(Task._meta.get_field(name).verbose_name)


class TaskForm(TriggerFieldsForm, forms.ModelForm):
    """A standalone task as its SPEC §10 object, config and trigger as JSON; `task_save` validates and writes it."""

    team = forms.ModelChoiceField(label=_field_label("team"), queryset=Team.objects.none())
    name = forms.CharField(label=_field_label("name"), strip=False)
    kind = forms.ChoiceField(label=_field_label("kind"), choices=kinds.kind_choices)
    config = forms.CharField(
        label=_field_label("config"),
        strip=False,
        widget=forms.Textarea(attrs=JSON_WIDGET_ATTRS),
        help_text=format_lazy(
            "{} {}. {}",
            gettext_lazy("JSON (or YAML) with the fields of its kind:"),
            format_html(
                "<code>{}</code>", "; ".join(f"{k.name}: {', '.join(k.fields)}" for k in kinds.TASK_KINDS.values())
            ),
            gettext_lazy(
                'A secret value is {"secret": "…"}; stored ones show as {"secret": "***"}: leave them so to keep them.'
            ),
        ),
    )
    description = forms.CharField(
        label=_field_label("description"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
    )
    timeout_seconds = forms.IntegerField(label=_field_label("timeout_seconds"), initial=DEFAULT_TASK_TIMEOUT)
    retries = forms.IntegerField(label=_field_label("retries"), initial=0)
    retry_interval_seconds = forms.IntegerField(label=_field_label("retry_interval_seconds"), initial=0)
    retry_backoff = forms.BooleanField(
        label=_field_label("retry_backoff"),
        required=False,
        help_text=gettext_lazy("Double the retry interval after each failed attempt."),
    )
    queue = forms.CharField(label=_field_label("queue"), strip=False, initial="default")
    trigger = forms.CharField(
        label=_field_label("trigger"),
        required=False,
        strip=False,
        initial=json_text({"type": "none"}),
        widget=forms.Textarea(attrs={**JSON_WIDGET_ATTRS, "rows": 4}),
        help_text=format_lazy(
            "{} {}.",
            gettext_lazy("One of"),
            format_html("<code>{}</code>", ", ".join(json.dumps(t.example) for t in triggers.TRIGGER_TYPES.values())),
        ),
    )

    # Set by TaskAdmin.get_form for the request.
    request: Any = None
    editor_teams: Any = Team.objects.none()

    class Meta:
        model = Task
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.document: dict[str, Any] = {}
        if self.instance.pk:
            for identity in ("team", "name"):  # a task is identified by them; shown read-only
                self.fields.pop(identity, None)
            stored = task_document_of(self.instance)
            for field in TASK_DOCUMENT_FIELDS[1:]:
                value = stored.get(field)
                self.initial[field] = json_text(value) if field in ("config", "trigger") else value
        else:
            self.fields["team"].queryset = self.editor_teams
        # The trigger also as fields (the workflow page's, `workflows.admin_settings`), from the stored trigger.
        stored_trigger = task_document_of(self.instance).get("trigger") if self.instance.pk else {"type": "none"}
        for field, value in settings_initial({"trigger": stored_trigger}).items():
            if field in TRIGGER_FORM_FIELDS:
                self.fields[field].initial = value
        if self.is_bound and not self.data.get(SETTINGS_MARKER):  # only the JSON was posted: it alone counts
            for field in TRIGGER_FORM_FIELDS:
                self.fields[field].required = False

    def _post_clean(self) -> None:
        """Skip the ModelForm's model validation: `task_save` (the one validator) checks and writes the task."""

    def _json(self, field: str, blank: Any) -> Any:
        text = self.cleaned_data.get(field, "")
        if not text.strip():
            return blank
        try:
            return load_text(text)
        except DefinitionError as exc:
            raise forms.ValidationError([problem.message for problem in exc.problems]) from exc

    def clean_config(self) -> Any:
        return self._json("config", {})

    def clean_trigger(self) -> Any:
        return self._json("trigger", {"type": "none"})

    def clean(self):
        cleaned = super().clean()
        self.document = {f: cleaned[f] for f in TASK_DOCUMENT_FIELDS if f in cleaned}
        if self.data.get(SETTINGS_MARKER) and TRIGGER_FORM_FIELDS & set(self.changed_data) and "trigger" in cleaned:
            self.document["trigger"] = trigger_from_fields(cleaned, keep=cleaned["trigger"])  # the fields changed
        if not self.instance.pk:
            if cleaned.get("team") is None:
                return cleaned
            self.document["team"] = cleaned["team"].name
        # A dry run of the save: every problem is shown, nothing is saved.
        try:
            self.save_task(dry_run=True)
        except DefinitionError as exc:
            problems_on_fields(self, exc.problems)
        except PermissionDenied as exc:  # the role, or a kind's permission (shell)
            self.add_error("kind" if "kind" in self.fields else None, error_text(exc, _))
        except BatonError as exc:
            self.add_error(None, error_text(exc, _))
        return cleaned

    def save_task(self, *, dry_run: bool = False) -> Task:
        """Save the task the form describes through `task_save` (the one validator), as the request's actor."""
        edited = self.instance if self.instance.pk else None
        return task_save(
            document=self.document,
            actor=admin_actor(self.request),
            task=edited,
            create=edited is None,
            dry_run=dry_run,
        )


@admin.register(Task)
class TaskAdmin(RoleAwareAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    form = TaskForm
    list_display = [
        "name",
        "team",
        "kind",
        "workflow_link",
        "trigger_display",
        "next_fire",
        "queue",
        "timeout_seconds",
        "retries",
    ]
    list_filter = ["kind", ("team", ScopedRelatedFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["team", "node__workflow", "schedule"]
    change_form_template = "admin/workflows/task/change_form.html"

    def get_fields(self, request, obj=None):
        editable = [*TASK_DOCUMENT_FIELDS[:-1], *TRIGGER_FIELD_ORDER, "trigger"]  # the trigger's fields, its JSON
        if obj is None:
            return ["team", *editable]
        if self.has_change_permission(request, obj):
            return ["team", *editable, *TASK_INFO_FIELDS]
        # Read-only: the stored config only ever masked, the trigger in words with its next fire times.
        shown = ["team", *TASK_DOCUMENT_FIELDS, *TASK_INFO_FIELDS]
        return [{"config": "config_masked", "trigger": "trigger_display"}.get(f, f) for f in shown]

    def get_readonly_fields(self, request, obj=None):
        identity = ["team", "name"] if obj is not None else []
        return [*identity, "config_masked", "trigger_display", *TASK_INFO_FIELDS]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Every field is declared on TaskForm; the model is written by `task_save` only.
        form = super().get_form(request, obj, change=change, **{**kwargs, "fields": []})
        form.request = request
        form.editor_teams = self.scoped_teams(request, Role.EDITOR)
        return form

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(editing_context())
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=gettext_lazy("trigger"))
    def trigger_display(self, task: Task):
        return _("workflow") if task.workflow is not None else translated(triggers.describe(task.trigger), _)

    @admin.display(description=gettext_lazy("next fire"))
    def next_fire(self, task: Task):
        schedule_row = getattr(task, "schedule", None)
        return when_html(schedule_row.next_fire_at) if schedule_row else "—"

    @admin.display(description=gettext_lazy("next 5 fire times"))
    def next_fire_times(self, task: Task):
        if task.workflow is not None:
            return _("— (fired by its workflow)")
        return fire_times_html(task.trigger)

    @admin.display(description=gettext_lazy("runs"))
    def runs_link(self, task: Task):
        url = reverse("admin:executions_batch_changelist") + f"?task__id__exact={task.pk}"
        return format_html('<a href="{}">{}</a>', url, _("runs of %(name)s") % {"name": task.name})

    @admin.display(description=gettext_lazy("workflow"))
    def workflow_link(self, task: Task):
        workflow = task.workflow
        if workflow is None:
            return _("— (standalone)")
        url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
        return format_html('<a href="{}">{}</a>', url, workflow.name)

    @admin.display(description=gettext_lazy("config"))
    def config_masked(self, task: Task):
        return format_html("<pre>{}</pre>", json_text(secrets.mask(task.config)))

    def has_change_permission(self, request, obj=None):
        # A task inside a workflow is edited through the workflow's definition.
        return super().has_change_permission(request, obj) and (obj is None or obj.workflow is None)

    def save_model(self, request, obj, form, change):
        task = form.save_task()
        obj.__dict__.update(task.__dict__)  # the admin redirects and logs with `obj`

    def save_related(self, request, form, formsets, change):
        pass

    def get_deleted_objects(self, objs, request):
        """Refuse with reasons (role, workflow, runs); a standalone task goes with its schedule and fire log."""
        tasks = list(objs)
        refusals = [r for task in tasks for r in self.delete_refusals(request, task)]
        refusals += [refusal for task in tasks if (refusal := task_delete_refusal(task))]
        return [str(task) for task in tasks], {}, set(), refusals

    def delete_model(self, request, obj):
        task_delete(task=obj, actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for task in queryset:
            self.delete_model(request, task)


class DefinitionForm(WorkflowSettingsForm, forms.ModelForm):
    """A workflow edited as its SPEC §10 definition, checked by the one validator.

    Its settings (team, trigger, timeout, policies, enabled) are also fields
    (`workflows.admin_settings`); when posted they are written into the definition before the
    one validator reads it, and its problems about them land on their fields.
    """

    definition = forms.CharField(
        label=gettext_lazy("Definition"),
        widget=forms.Textarea(
            attrs={"rows": 30, "cols": 100, "style": "font-family: monospace", "spellcheck": "false"}
        ),
        help_text=gettext_lazy(
            "The workflow's definition (SPEC §10) in JSON or YAML. Secrets show as "
            '{"secret": "***"}; leave them so to keep the stored value.'
        ),
    )

    # Set by WorkflowAdmin.get_form for the request.
    request: Any = None
    editor_teams: Any = Team.objects.none()

    class Meta:
        model = Workflow
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.current_version_id:
            initial = workflow_export(workflow=self.instance)
        else:
            initial = EXAMPLE
        self.fields["definition"].initial = json.dumps(initial, indent=2, ensure_ascii=False)
        for field, value in settings_initial(initial).items():
            self.fields[field].initial = value
        if self.instance.pk:
            self.fields.pop("team")  # the team identifies the workflow: fixed once saved
            self.fields["definition"].help_text = format_html(
                "{}<br>{} {}",
                self.fields["definition"].help_text,
                _("Next fire times of the saved trigger:"),
                fire_times_html(self.instance.trigger if self.instance.enabled else None),
            )
        else:
            self.fields["team"].queryset = self.editor_teams
            self.fields["team"].initial = None
            self.fields["team"].required = True
        if self.is_bound and not self.data.get(SETTINGS_MARKER):  # only the JSON was posted: it alone counts
            for field in SETTINGS_FIELDS:
                if field in self.fields:
                    self.fields[field].required = False
        self.result = None

    def _post_clean(self) -> None:
        """Skip the ModelForm's model validation: `workflow_save_definition` (the one validator) checks and writes."""

    def clean_definition(self):
        try:
            document = load_text(self.cleaned_data["definition"])
        except DefinitionError as exc:
            raise forms.ValidationError([str(p) for p in exc.problems]) from exc
        return document

    def clean(self):
        cleaned = super().clean()
        if "definition" in cleaned and not self.errors:
            if self.data.get(SETTINGS_MARKER):  # the settings fields were posted: those changed are the settings
                changed = [f for f in self.changed_data if f in SETTINGS_FIELDS and f in self.fields]
                cleaned["definition"] = apply_settings(cleaned["definition"], cleaned, changed=changed)
            try:  # a dry run of the save: every problem is shown, nothing is saved
                self.save_definition(dry_run=True)
            except DefinitionError as exc:
                problems_to_fields(self, exc.problems, rest="definition")
            except BatonError as exc:  # the role in the team, a kind's permission (shell)
                self.add_error("definition", error_text(exc, _))
        return cleaned

    def save_definition(self, *, dry_run: bool = False) -> SaveResult:
        """Save the definition through `workflow_save_definition` (the one validator), as the request's actor."""
        edited = self.instance if self.instance.pk else None
        return workflow_save_definition(
            document=self.cleaned_data["definition"],
            actor=admin_actor(self.request),
            workflow=edited,
            create=edited is None,
            dry_run=dry_run,
        )


@admin.register(Workflow)
class WorkflowAdmin(RoleAwareAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    form = DefinitionForm
    list_display = ["name", "team", "enabled", "trigger_display", "next_fire", "version_display", "last_batch"]
    list_filter = ["enabled", ("team", ScopedRelatedFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["team", "current_version", "schedule"]
    actions = ["enable", "disable"]
    change_form_template = "admin/workflows/workflow/change_form.html"
    operator_actions = ("enable", "disable")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Every field is declared on DefinitionForm; the model is written by `workflow_save_definition` only.
        form = super().get_form(request, obj, change=change, **{**kwargs, "fields": []})
        form.request = request
        form.editor_teams = self.scoped_teams(request, Role.EDITOR)
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is None or self.has_change_permission(request, obj):
            settings = [f for f in SETTINGS_FIELDS if obj is None or f != "team"]
            return [
                (_("Settings"), {"fields": settings, "classes": ["baton-settings"]}),
                (None, {"fields": ["definition"]}),
            ]
        return [(None, {"fields": ["definition_readonly"]})]  # viewers and operators read it (SPEC §7)

    def get_readonly_fields(self, request, obj=None):
        return ["definition_readonly"]

    @admin.display(description=gettext_lazy("definition"))
    def definition_readonly(self, workflow: Workflow):
        if workflow.current_version_id is None:
            return _("— (no saved definition)")
        fires = fire_times_html(workflow.trigger) if workflow.enabled else _("— (disabled)")
        return definition_html(workflow_export(workflow=workflow), next_fire_times=fires)

    @admin.display(description=gettext_lazy("trigger"))
    def trigger_display(self, workflow: Workflow):
        return translated(triggers.describe(workflow.trigger), _)

    @admin.display(description=gettext_lazy("next fire"))
    def next_fire(self, workflow: Workflow):
        schedule_row = getattr(workflow, "schedule", None)
        return when_html(schedule_row.next_fire_at) if schedule_row else "—"

    @admin.display(description=gettext_lazy("version"))
    def version_display(self, workflow: Workflow):
        return workflow.current_version.number if workflow.current_version else "—"

    @admin.display(description=gettext_lazy("last batch"))
    def last_batch(self, workflow: Workflow):
        batch = workflow.batches.order_by("-created_at").first()
        if batch is None:
            return "—"
        url = reverse("admin:executions_batch_change", args=[batch.pk])
        return format_html('<a href="{}">{}</a> {}', url, batch.pk, batch.get_status_display())

    def save_model(self, request, obj, form, change):
        result = form.save_definition()
        obj.__dict__.update(result.workflow.__dict__)  # the admin redirects and logs with `obj`
        if change and not result.changed:
            messages.info(request, _("The definition did not change; no new version was made."))
        elif result.changed:
            messages.success(request, _("Saved as version %(number)s.") % {"number": result.version.number})

    def save_related(self, request, form, formsets, change):
        pass

    def get_deleted_objects(self, objs, request):
        """Describe a soft delete (`workflow_delete`): nothing related is deleted, so nothing is collected."""
        workflows = list(objs)
        refusals = [r for workflow in workflows for r in self.delete_refusals(request, workflow)]
        return [str(workflow) for workflow in workflows], {}, set(), refusals

    def delete_model(self, request, obj):
        workflow_delete(workflow=obj, actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for workflow in queryset:
            self.delete_model(request, workflow)

    @admin.action(description=gettext_lazy("Enable"))
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=gettext_lazy("Disable"))
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, workflows: Iterable[Workflow], enabled: bool) -> None:
        actor = admin_actor(request)
        for workflow in workflows:
            try:
                workflow_set_enabled(workflow=workflow, enabled=enabled, actor=actor)
            except BatonError as exc:
                messages.error(request, error_text(exc, _))
                continue
            done = _("Enabled %(name)s.") if enabled else _("Disabled %(name)s: no scheduled fire starts it.")
            messages.success(request, done % {"name": workflow.name})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/enable/", view(self.enable_view), name="workflows_workflow_enable"),
            path("<int:pk>/disable/", view(self.disable_view), name="workflows_workflow_disable"),
            *super().get_urls(),
        ]

    def enable_view(self, request, pk):
        return self._enabled_view(request, pk, True)

    def disable_view(self, request, pk):
        return self._enabled_view(request, pk, False)

    def _enabled_view(self, request, pk, enabled: bool):
        """Enable or disable from the change page's button (POST; operator)."""
        workflow = self.scoped_object_or_404(request, pk)
        if request.method == "POST":
            self._set_enabled(request, [workflow], enabled)
        return HttpResponseRedirect(self.change_url(pk))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["versions"] = obj.versions.order_by("-number")[:20]
        context.update(editing_context())
        response = super().render_change_form(request, context, add, change, form_url, obj)
        return response if obj is None else rendered_in_workflow_zone(request, obj.trigger, response)


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ["workflow", "number", "created_by", "created_at"]
    list_filter = [("workflow", ScopedRelatedFilter)]
    list_select_related = ["workflow", "created_by"]
    readonly_fields = ["workflow", "number", "created_by", "created_at", "definition_masked"]
    exclude = ["definition"]

    @admin.display(description=gettext_lazy("definition"))
    def definition_masked(self, version: WorkflowVersion):
        return definition_html(version_export(version=version))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
