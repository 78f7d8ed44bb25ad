"""Admin for definitions: teams, tasks, workflows (edited as a validated definition), versions."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from workflows import secrets
from workflows.definition import DefinitionError, load_text
from workflows.models import Membership, Task, Team, Workflow, WorkflowVersion
from workflows.services import version_export, workflow_export, workflow_save_definition, workflow_set_enabled

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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "kind", "workflow_link", "queue", "timeout_seconds", "retries"]
    list_filter = ["kind", "team"]
    search_fields = ["name", "description"]
    list_select_related = ["team", "node__workflow"]
    readonly_fields = ["config_masked", "workflow_link", "created_at", "updated_at"]
    exclude = ["config"]

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
            # Validate and save in a savepoint so every problem is shown and nothing is half-saved.
            try:
                with transaction.atomic():
                    self.result = workflow_save_definition(document=cleaned["definition"], user=self.user)
                    transaction.set_rollback(True)
            except DefinitionError as exc:
                self.add_error("definition", [str(p) for p in exc.problems])
        return cleaned


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = DefinitionForm
    list_display = ["name", "team", "enabled", "trigger_display", "version_display", "last_batch"]
    list_filter = ["enabled", "team"]
    search_fields = ["name", "description"]
    list_select_related = ["team", "current_version"]
    actions = ["run_once", "enable", "disable"]
    change_form_template = "admin/workflows/workflow/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def get_fields(self, request, obj=None):
        return ["definition"]

    @admin.display(description="trigger")
    def trigger_display(self, workflow: Workflow):
        trigger = workflow.trigger or {}
        if trigger.get("type") == "cron":
            return f"cron {trigger['expression']} ({trigger['timezone']})"
        if trigger.get("type") == "periodic":
            return f"every {trigger['every']} {trigger['unit']}"
        return "manual"

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
        result = workflow_save_definition(document=form.cleaned_data["definition"], user=request.user)
        obj.__dict__.update(result.workflow.__dict__)  # the admin redirects and logs with `obj`
        if change and not result.changed:
            messages.info(request, "The definition did not change; no new version was made.")
        elif result.changed:
            messages.success(request, f"Saved as version {result.version.number}.")

    def save_related(self, request, form, formsets, change):
        pass

    def delete_model(self, request, obj):
        from workflows.services import workflow_delete

        workflow_delete(workflow=obj)

    def delete_queryset(self, request, queryset):
        for workflow in queryset:
            self.delete_model(request, workflow)

    @admin.action(description="Run once")
    def run_once(self, request, queryset):
        from executions.services import BatonError, batch_start

        for workflow in queryset:
            try:
                batch = batch_start(workflow=workflow, user=request.user)
            except BatonError as exc:
                messages.error(request, str(exc))
                continue
            url = reverse("admin:executions_batch_change", args=[batch.pk])
            messages.success(
                request, format_html('Started batch <a href="{}">{}</a> of {}.', url, batch.pk, workflow.name)
            )

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        for workflow in queryset:
            workflow_set_enabled(workflow=workflow, enabled=True, user=request.user)

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        for workflow in queryset:
            workflow_set_enabled(workflow=workflow, enabled=False, user=request.user)

    def get_urls(self):
        urls = super().get_urls()
        extra = [path("<int:pk>/run/", self.admin_site.admin_view(self.run_view), name="workflows_workflow_run")]
        return extra + urls

    def run_view(self, request, pk):
        from executions.services import BatonError, batch_start

        workflow = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, workflow):
            return HttpResponseRedirect(reverse("admin:workflows_workflow_change", args=[pk]))
        try:
            batch = batch_start(workflow=workflow, user=request.user)
        except BatonError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:workflows_workflow_change", args=[pk]))
        messages.success(request, f"Started batch {batch.pk}.")
        return HttpResponseRedirect(reverse("admin:executions_batch_change", args=[batch.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["versions"] = obj.versions.order_by("-number")[:20]
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    list_display = ["workflow", "number", "created_by", "created_at"]
    list_filter = ["workflow"]
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
