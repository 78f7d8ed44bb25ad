"""Admin for definitions: teams, tasks, workflows (edited as a validated definition), versions."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from access.admin import MemberField, MembershipForm, ScopedRelatedFilter, TeamScopedAdminMixin
from access.audit import audit_denied, audit_record
from access.scoping import can_define_shell, definition_tasks, has_role, scoped, shell_change_denied, teams_with
from workflows import secrets
from workflows.definition import DefinitionError, load_text, parse_trigger
from workflows.models import Membership, Role, Task, TaskKind, Team, Workflow, WorkflowVersion
from workflows.schedule import next_fires
from workflows.services import (
    schedule_sync,
    version_export,
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


def trigger_text(trigger: dict | None) -> str:
    """Describe a trigger in a few words."""
    trigger = trigger or {}
    if trigger.get("type") == "cron":
        return f"cron {trigger['expression']} ({trigger['timezone']})"
    if trigger.get("type") == "periodic":
        return f"every {trigger['every']} {trigger['unit']} from {trigger['start']}"
    return "manual"


def fire_times_html(trigger: dict | None):
    """Render the next 5 fire times of a trigger (SPEC §5: shown wherever a trigger is edited)."""
    times = next_fires(trigger, timezone.now())
    if not times:
        return "— (manual only)"
    return format_html(
        '<ol class="baton-next-fires">{}</ol>', format_html_join("", "<li>{}</li>", ((t.isoformat(),) for t in times))
    )


def run_each(request, objects, start, action: str) -> None:
    """Start a batch of each workflow (or a run of each standalone task) the user may operate."""
    from executions.services import BatonError

    for obj in objects:
        if not has_role(request.user, obj.team_id, Role.OPERATOR):
            messages.error(request, f"Running {obj.name} needs the operator role in team {obj.team}.")
            continue
        try:
            batch = start(obj)
        except BatonError as exc:
            messages.error(request, str(exc))
            continue
        audit_record(user=request.user, action=action, obj=obj, request=request, via="admin", after={"batch": batch.pk})
        url = reverse("admin:executions_batch_change", args=[batch.pk])
        messages.success(request, format_html('Started batch <a href="{}">{}</a> of {}.', url, batch.pk, obj.name))


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
        return request.user.is_superuser or obj is None or has_role(request.user, obj.pk, Role.VIEWER)

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser or (obj is not None and has_role(request.user, obj.pk, Role.ADMIN))

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
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        team = form.instance
        before = {
            m.pk: (m.user_id, str(m.user), m.role) for m in Membership.objects.filter(team=team).select_related("user")
        }
        super().save_formset(request, form, formset, change)
        after = {
            m.pk: (m.user_id, str(m.user), m.role) for m in Membership.objects.filter(team=team).select_related("user")
        }
        for pk in sorted(set(before) | set(after)):
            old, new = before.get(pk), after.get(pk)
            if old == new:
                continue
            verb = "membership.add" if old is None else "membership.remove" if new is None else "membership.change"
            audit_record(
                user=request.user, action=verb, team=team, object_type="membership", object_id=str(pk),
                before={"user": old[1], "role": old[2]} if old else None,
                after={"user": new[1], "role": new[2]} if new else None,
                request=request, via="admin",
            )  # fmt: skip


@admin.register(Task)
class TaskAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
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
    readonly_fields = ["config_masked", "workflow_link", "next_fire_times", "runs_link", "created_at", "updated_at"]
    exclude = ["config"]
    actions = ["run_once"]

    @admin.display(description="trigger")
    def trigger_display(self, task: Task):
        return "workflow" if task.workflow is not None else trigger_text(task.trigger)

    @admin.display(description="next fire")
    def next_fire(self, task: Task):
        schedule_row = getattr(task, "schedule", None)
        return schedule_row.next_fire_at if schedule_row else "—"

    @admin.display(description="next 5 fire times")
    def next_fire_times(self, task: Task):
        if task.workflow is not None:
            return "— (fired by its workflow)"
        return fire_times_html(task.trigger)

    @admin.display(description="runs")
    def runs_link(self, task: Task):
        url = reverse("admin:executions_batch_changelist") + f"?task__id__exact={task.pk}"
        return format_html('<a href="{}">runs of {}</a>', url, task.name)

    @admin.action(description="Run once (standalone tasks)")
    def run_once(self, request, queryset):
        from executions.services import task_run_start

        run_each(request, queryset, lambda task: task_run_start(task=task, user=request.user), "task.run")

    @admin.display(description="workflow")
    def workflow_link(self, task: Task):
        workflow = task.workflow
        if workflow is None:
            return "— (standalone)"
        url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
        return format_html('<a href="{}">{}</a>', url, workflow.name)

    @admin.display(description="config")
    def config_masked(self, task: Task):
        return format_html("<pre>{}</pre>", json.dumps(secrets.mask(task.config), indent=2, ensure_ascii=False))

    def has_change_permission(self, request, obj=None):
        # A task inside a workflow is edited through the workflow's definition.
        return super().has_change_permission(request, obj) and (obj is None or obj.workflow is None)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "team":
            kwargs["queryset"] = self.scoped_teams(request, Role.EDITOR)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        user = request.user

        class ScopedTaskForm(form):
            def clean(self):
                cleaned = super().clean()
                team, kind = cleaned.get("team"), cleaned.get("kind")
                if team is not None and not has_role(user, team.pk, Role.EDITOR):
                    self.add_error("team", "You are not an editor of this team.")
                # The admin form does not edit config, so only turning a task into a shell task defines one.
                becomes_shell = kind == TaskKind.SHELL and not (
                    self.instance.pk and self.instance.kind == TaskKind.SHELL
                )
                if becomes_shell and not can_define_shell(user):
                    self.add_error("kind", "Defining shell tasks needs the define_shell_task permission.")
                if "trigger" in cleaned:
                    try:
                        cleaned["trigger"] = parse_trigger(cleaned["trigger"] or {"type": "none"}, now=timezone.now())
                    except DefinitionError as exc:
                        self.add_error("trigger", [str(p) for p in exc.problems])
                return cleaned

        return ScopedTaskForm

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        schedule_sync(task=obj)
        audit_record(user=request.user, action="task.update" if change else "task.create", obj=obj,
                     request=request, via="admin", after={"kind": obj.kind})  # fmt: skip

    def delete_model(self, request, obj):
        audit_record(user=request.user, action="task.delete", obj=obj, request=request, via="admin",
                     before={"name": obj.name, "kind": obj.kind})  # fmt: skip
        super().delete_model(request, obj)


class DefinitionForm(forms.ModelForm):
    """A workflow edited as its SPEC §10 definition, checked by the one validator."""

    definition = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 30, "cols": 100, "style": "font-family: monospace", "spellcheck": "false"}
        ),
        help_text="The workflow's definition (SPEC §10) in JSON or YAML. Secrets show as "
        '{"secret": "***"}; leave them so to keep the stored value.',
    )

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
        if self.instance.pk:
            self.fields["definition"].help_text = format_html(
                "{}<br>Next fire times of the saved trigger: {}", self.fields["definition"].help_text,
                fire_times_html(self.instance.trigger if self.instance.enabled else None),
            )  # fmt: skip
        self.result = None

    def clean_definition(self):
        try:
            document = load_text(self.cleaned_data["definition"])
        except DefinitionError as exc:
            raise forms.ValidationError([str(p) for p in exc.problems]) from exc
        identity = (document.get("name"), document.get("team")) if isinstance(document, dict) else None
        if self.instance.pk and identity and identity != (self.instance.name, self.instance.team.name):
            raise forms.ValidationError(
                "name and team identify the workflow: to rename or move it, import a new one and delete this one"
            )
        return document

    def clean(self):
        cleaned = super().clean()
        if "definition" in cleaned and not self.errors:
            if not self._team_allowed(cleaned["definition"]):
                return cleaned
            # Validate and save in a savepoint so every problem is shown and nothing is half-saved.
            try:
                with transaction.atomic():
                    self.result = workflow_save_definition(
                        document=cleaned["definition"], user=self.user, create_team=self.user.is_superuser
                    )
                    transaction.set_rollback(True)
            except DefinitionError as exc:
                self.add_error("definition", [str(p) for p in exc.problems])
        return cleaned

    def _team_allowed(self, document) -> bool:
        """Check the definition's team is one where the user is an editor (another team is unknown), and shell rights."""
        name = document.get("team") if isinstance(document, dict) else None
        if self.user.is_superuser or not isinstance(name, str):
            return True
        team = scoped(self.user, Team).filter(name=name).first()
        if team is None or not has_role(self.user, team.pk, Role.EDITOR):
            foreign = Team.objects.filter(name=name).first()
            if foreign is not None and team is None:
                audit_denied(user=self.user, obj=foreign, request=getattr(self, "request", None), via="admin",
                             what="team in definition")  # fmt: skip
            self.add_error("definition", f"team: no team named {name!r} where you are an editor")
            return False
        if shell_change_denied(self.user, team, definition_tasks(document)):
            self.add_error("definition", "Defining shell tasks needs the define_shell_task permission.")
            return False
        return True


@admin.register(Workflow)
class WorkflowAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    form = DefinitionForm
    list_display = ["name", "team", "enabled", "trigger_display", "next_fire", "version_display", "last_batch"]
    list_filter = ["enabled", ("team", ScopedRelatedFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["team", "current_version", "schedule"]
    actions = ["run_once", "enable", "disable"]
    change_form_template = "admin/workflows/workflow/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        form.request = request
        return form

    def get_fields(self, request, obj=None):
        return ["definition"]

    @admin.display(description="trigger")
    def trigger_display(self, workflow: Workflow):
        return trigger_text(workflow.trigger)

    @admin.display(description="next fire")
    def next_fire(self, workflow: Workflow):
        schedule_row = getattr(workflow, "schedule", None)
        return schedule_row.next_fire_at if schedule_row else "—"

    @admin.display(description="version")
    def version_display(self, workflow: Workflow):
        return workflow.current_version.number if workflow.current_version else "—"

    @admin.display(description="last batch")
    def last_batch(self, workflow: Workflow):
        batch = workflow.batches.order_by("-created_at").first()
        if batch is None:
            return "—"
        url = reverse("admin:executions_batch_change", args=[batch.pk])
        return format_html('<a href="{}">{}</a> {}', url, batch.pk, batch.status)

    def save_model(self, request, obj, form, change):
        before = obj.current_version.number if change and obj.current_version_id else None
        result = workflow_save_definition(
            document=form.cleaned_data["definition"], user=request.user, create_team=request.user.is_superuser
        )
        obj.__dict__.update(result.workflow.__dict__)  # the admin redirects and logs with `obj`
        audit_record(user=request.user, action="workflow.update" if change else "workflow.create", obj=result.workflow,
                     request=request, via="admin", before={"version": before},
                     after={"version": result.version.number, "changed": result.changed})  # fmt: skip
        if change and not result.changed:
            messages.info(request, "The definition did not change; no new version was made.")
        elif result.changed:
            messages.success(request, f"Saved as version {result.version.number}.")

    def save_related(self, request, form, formsets, change):
        pass

    def delete_model(self, request, obj):
        from workflows.services import workflow_delete

        workflow_delete(workflow=obj)
        audit_record(user=request.user, action="workflow.delete", obj=obj, request=request, via="admin",
                     before={"deleted": False}, after={"deleted": True})  # fmt: skip

    def delete_queryset(self, request, queryset):
        for workflow in queryset:
            self.delete_model(request, workflow)

    @admin.action(description="Run once")
    def run_once(self, request, queryset):
        from executions.services import batch_start

        run_each(request, queryset, lambda workflow: batch_start(workflow=workflow, user=request.user), "workflow.run")

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        for workflow in queryset:
            if not has_role(request.user, workflow.team_id, Role.OPERATOR):
                messages.error(request, f"Enabling or disabling {workflow.name} needs the operator role.")
                continue
            before = workflow.enabled
            workflow_set_enabled(workflow=workflow, enabled=enabled, user=request.user)
            audit_record(user=request.user, action="workflow.enable" if enabled else "workflow.disable", obj=workflow,
                         request=request, via="admin", before={"enabled": before}, after={"enabled": enabled})  # fmt: skip

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser and not teams_with(request.user, Role.OPERATOR):
            for name in ("run_once", "enable", "disable"):
                actions.pop(name, None)
        return actions

    def get_urls(self):
        urls = super().get_urls()
        extra = [path("<int:pk>/run/", self.admin_site.admin_view(self.run_view), name="workflows_workflow_run")]
        return extra + urls

    def run_view(self, request, pk):
        from executions.services import BatonError, batch_start

        workflow = self.scoped_object_or_404(request, pk)
        if request.method != "POST" or not has_role(request.user, workflow.team_id, Role.OPERATOR):
            return HttpResponseRedirect(reverse("admin:workflows_workflow_change", args=[pk]))
        try:
            batch = batch_start(workflow=workflow, user=request.user)
        except BatonError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:workflows_workflow_change", args=[pk]))
        audit_record(user=request.user, action="workflow.run", obj=workflow, request=request, via="admin",
                     after={"batch": batch.pk})  # fmt: skip
        messages.success(request, f"Started batch {batch.pk}.")
        return HttpResponseRedirect(reverse("admin:executions_batch_change", args=[batch.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["versions"] = obj.versions.order_by("-number")[:20]
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = ["workflow", "number", "created_by", "created_at"]
    list_filter = [("workflow", ScopedRelatedFilter)]
    list_select_related = ["workflow", "created_by"]
    readonly_fields = ["workflow", "number", "created_by", "created_at", "definition_masked"]
    exclude = ["definition"]

    @admin.display(description="definition")
    def definition_masked(self, version: WorkflowVersion):
        document = version_export(version=version)
        rows = format_html_join("", "<li>{}</li>", ((f"{n['key']} ({n['type']})",) for n in document["nodes"]))
        return format_html("<ul>{}</ul><pre>{}</pre>", rows, json.dumps(document, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
