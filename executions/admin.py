"""Admin for run-time records: batches with their node runs and event timeline (read-only), and "run once".

Stop, re-run, resume and run once call the lifecycle services with the request's actor, which
check the operator role and audit the action. "Run once" on workflows and standalone tasks is
added here, to the definitions' admin (`workflows.admin`), because definitions never import
the run-time app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.admin import ScopedRelatedFilter, TeamScopedAdminMixin, admin_actor
from access.http import CappedCountPaginator
from access.policy import allows
from baton.errors import BatonError
from baton.text import error_text
from executions import lifecycle
from executions.live import batch_actions, outcome_text
from executions.models import Batch, Event, Fire, NodeRun, normalize_batch_id
from executions.runtime import blueprint_for
from executions.states import NODE_FINISHED, status_text
from workflows.admin import TaskAdmin, WorkflowAdmin, role_allows
from workflows.models import Role, Task, Workflow
from workflows.params import Param, ParamsProblem

COLOURS = {
    "pending": "#9e9e9e",
    "queued": "#7e57c2",
    "running": "#1e88e5",
    "retrying": "#fb8c00",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "timed_out": "#ad1457",
    "skipped": "#bdbdbd",
    "stopped": "#6d4c41",
}


# A node's type as a person reads it (the value stays `task`, `and` or `or` in definitions and the API).
NODE_TYPE_WORDS = {"task": lambda: _("task node"), "and": lambda: _("AND node"), "or": lambda: _("OR node")}


def badge(status: str):
    """Render a status as a coloured badge."""
    colour = COLOURS.get(status, "#607d8b")
    return format_html(
        '<span class="baton-status status-{}" style="background:{};color:#fff;padding:1px 6px;border-radius:8px">{}</span>',
        status,
        colour,
        status_text(status),
    )


class ReadOnlyMixin:
    """Execution records are written by the engine only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TeamChildInlineMixin:
    """Inline rows of a batch the user may already see (the batch admin is team-scoped)."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff


class NodeRunInline(TeamChildInlineMixin, ReadOnlyMixin, admin.TabularInline):
    model = NodeRun
    fields = [
        "node_key",
        "node_type_text",
        "status_badge",
        "attempts",
        "started_at",
        "finished_at",
        "duration",
        "outcome",
        "output_head",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["id"]

    @admin.display(description=gettext_lazy("node type"))
    def node_type_text(self, run: NodeRun):
        return NODE_TYPE_WORDS[run.node_type]() if run.node_type in NODE_TYPE_WORDS else run.node_type

    @admin.display(description=gettext_lazy("status"))
    def status_badge(self, run: NodeRun):
        return badge(run.status)

    @admin.display(description=gettext_lazy("duration"))
    def duration(self, run: NodeRun):
        seconds = run.duration_seconds
        return "—" if seconds is None else f"{seconds:.2f} s"

    @admin.display(description=gettext_lazy("result"))
    def outcome(self, run: NodeRun):
        return outcome_text(run.detail) if run.status in NODE_FINISHED else ""

    @admin.display(description=gettext_lazy("output"))
    def output_head(self, run: NodeRun):
        if not run.output:
            return _("(no output)") if run.node_type == "task" and run.status in NODE_FINISHED else ""
        return format_html('<pre style="max-height:12em;overflow:auto;margin:0">{}</pre>', run.output[:4000])


class EventInline(TeamChildInlineMixin, ReadOnlyMixin, admin.TabularInline):
    model = Event
    fields = ["at", "node_key", "from_status_text", "to_status_text", "message_text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]
    verbose_name_plural = gettext_lazy("timeline")

    @admin.display(description=gettext_lazy("from status"))
    def from_status_text(self, event: Event):
        return status_text(event.from_status) if event.from_status else "∅"

    @admin.display(description=gettext_lazy("to status"))
    def to_status_text(self, event: Event):
        return status_text(event.to_status)

    @admin.display(description=gettext_lazy("message"))
    def message_text(self, event: Event):
        # Written by the engine as it ran, like a log line: it stays as written, marked as English.
        return format_html('<span lang="en">{}</span>', event.message) if event.message else ""


class AdminCappedCountPaginator(CappedCountPaginator):
    """The batch list counts at most twenty pages' worth; past that it says "more than 1000 batches"."""


@admin.register(Batch)
class BatchAdmin(ReadOnlyMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "subject",
        "version_number",
        "status_badge",
        "trigger",
        "created_at",
        "finished_at",
        "duration",
    ]
    # No date hierarchy (its MIN/MAX and DISTINCT years scanned every batch of the scope): a
    # created-at filter narrows by a range the (team, -created_at) index serves.
    list_filter = [
        "status",
        "trigger",
        ("workflow", ScopedRelatedFilter),
        ("task", ScopedRelatedFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["id"]
    paginator = AdminCappedCountPaginator
    list_per_page = 50  # a page of 100 rows took longer to render than all its queries took
    show_full_result_count = False  # the paginator's capped count is the only one
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ["workflow", "version", "task"]
    readonly_fields = [
        "id",
        "workflow",
        "task",
        "version",
        "status_badge",
        "trigger",
        "scheduled_for",
        "rerun_of",
        "created_by",
        "created_at",
        "finished_at",
        "deadline_at",
        "stop_requested_at",
        "parameters",
    ]
    fields = readonly_fields
    inlines = [NodeRunInline, EventInline]
    change_form_template = "admin/executions/batch/change_form.html"

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return queryset.filter(pk__contains=normalize_batch_id(search_term)), False

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, batch: Batch):
        return badge(batch.status)

    @admin.display(description=gettext_lazy("version"))
    def version_number(self, batch: Batch):
        return f"v{batch.version.number}" if batch.version else _("task run")

    @admin.display(description=gettext_lazy("workflow or task"))
    def subject(self, batch: Batch):
        if batch.workflow_id:
            return batch.workflow.name
        return _("task %(name)s") % {"name": batch.task.name}

    @admin.display(description=gettext_lazy("duration"))
    def duration(self, batch: Batch):
        if batch.finished_at is None:
            return "—"
        return f"{(batch.finished_at - batch.created_at).total_seconds():.2f} s"

    @admin.display(description=gettext_lazy("parameters"))
    def parameters(self, batch: Batch):
        """The values the batch's references read: its parameters and its built-in values."""
        context = batch.context or {}
        lines = [f"params.{name} = {json.dumps(value)}" for name, value in (context.get("params") or {}).items()]
        lines += [f"batch.{name} = {value}" for name, value in (context.get("batch") or {}).items()]
        return format_html('<pre id="batch-parameters" style="margin:0">{}</pre>', "\n".join(lines)) if lines else "—"

    def has_change_permission(self, request, obj=None):
        return False

    def _may_operate(self, request, batch: Batch, action: str) -> bool:
        return role_allows(request, batch, Role.OPERATOR, action % {"batch": batch.pk})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<str:pk>/stop/", view(self.stop_view), name="executions_batch_stop"),
            path("<str:pk>/rerun/", view(self.rerun_view), name="executions_batch_rerun"),
            *super().get_urls(),
        ]

    def _back(self, pk: str):
        return HttpResponseRedirect(reverse("admin:executions_batch_change", args=[pk]))

    def stop_view(self, request, pk):
        batch = self.scoped_object_or_404(request, pk)
        if request.method != "POST":
            return self._back(batch.pk)
        try:
            lifecycle.batch_stop(batch_id=batch.pk, actor=admin_actor(request))
            messages.success(request, _("Stop requested for batch %(batch)s.") % {"batch": batch.pk})
        except BatonError as exc:
            messages.error(request, error_text(exc, _))
        return self._back(batch.pk)

    def rerun_view(self, request, pk):
        """Confirm (GET) and start (POST) a re-run or a resume; a refusal is a message on the batch's page."""
        batch = self.scoped_object_or_404(request, pk)
        resume = request.GET.get("resume") == "1" or request.POST.get("resume") == "1"
        verb = _("Resuming batch %(batch)s") if resume else _("Re-running batch %(batch)s")
        if not self._may_operate(request, batch, verb):
            return self._back(batch.pk)
        form = _rerun_form(batch, request.POST if request.method == "POST" else None) if not resume else None
        try:
            lifecycle.batch_rerun_check(batch=batch, resume=resume)
            if request.method != "POST" or (form is not None and not form.is_valid()):
                plan = lifecycle.rerun_plan(batch=batch, resume=resume)
                context = {
                    **self.admin_site.each_context(request),
                    "batch": batch,
                    "plan": plan,
                    "resume": resume,
                    "form": form,
                    "opts": self.model._meta,
                    "title": (_("Resume batch %(batch)s") if resume else _("Re-run batch %(batch)s"))
                    % {"batch": batch.pk},
                }
                return TemplateResponse(request, "admin/executions/batch/rerun_confirm.html", context)
            values = form.values() if form is not None else None
            new = lifecycle.batch_rerun(
                batch_id=batch.pk, actor=admin_actor(request), resume=resume, values=values, values_as_text=True
            )
        except BatonError as exc:
            messages.error(request, error_text(exc, _))
            return self._back(batch.pk)
        started = (
            _("Started batch %(new)s (resume of %(batch)s).")
            if resume
            else _("Started batch %(new)s (re-run of %(batch)s).")
        )
        messages.success(request, started % {"new": new.pk, "batch": batch.pk})
        return self._back(new.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["batch_actions"] = batch_actions(admin_actor(request), obj)
            context["can_operate"] = any(context["batch_actions"].values())
            context["status_text"] = status_text(obj.status)
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(Fire)
class FireAdmin(ReadOnlyMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    """Scheduled fires and what became of them: started, late, skipped for overlap, queued, missed."""

    list_display = ["scheduled_for", "owner", "outcome", "missed_count", "missed_until", "batch_link", "recorded_at"]
    list_filter = ["outcome", ("workflow", ScopedRelatedFilter), ("task", ScopedRelatedFilter)]
    list_select_related = ["workflow", "task", "batch"]
    date_hierarchy = "scheduled_for"

    @admin.display(description=gettext_lazy("workflow or task"))
    def owner(self, fire: Fire):
        return fire.workflow.name if fire.workflow_id else _("task %(name)s") % {"name": fire.task.name}

    @admin.display(description=gettext_lazy("batch"))
    def batch_link(self, fire: Fire):
        if fire.batch_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:executions_batch_change", args=[fire.batch_id]), fire.batch_id
        )


# --- run once ------------------------------------------------------------------------------------


class RunOnceAdminMixin:
    """Add "run once" to a workflow or a standalone task: a list action and the change page's button (operator)."""

    def start_run(self, request, obj: Any) -> Batch:
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_run"
        return [path("<int:pk>/run/", self.admin_site.admin_view(self.run_view), name=name), *super().get_urls()]

    def run_view(self, request, pk):
        """Run once from the change page's button (POST)."""
        obj = self.scoped_object_or_404(request, pk)
        if request.method != "POST":
            messages.info(request, _("Run once starts from the button on this page."))
            return HttpResponseRedirect(self.change_url(pk))
        batch = self.run_one(request, obj)
        if batch is None:
            return HttpResponseRedirect(self.change_url(pk))
        return HttpResponseRedirect(reverse("admin:executions_batch_change", args=[batch.pk]))

    @admin.action(description=gettext_lazy("Run once"))
    def run_once(self, request, queryset: Iterable[Any]) -> None:
        for obj in queryset:
            self.run_one(request, obj)

    def run_one(self, request, obj: Any) -> Batch | None:
        """Start a batch of a workflow (or a run of a standalone task); a refusal is a message."""
        try:
            batch = self.start_run(request, obj)
        except BatonError as exc:
            messages.error(request, error_text(exc, _))
            return None
        url = reverse("admin:executions_batch_change", args=[batch.pk])
        messages.success(request, format_html(_('Started batch <a href="{}">{}</a> of {}.'), url, batch.pk, obj.name))
        return batch

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_operate"] = obj is not None and allows(admin_actor(request), obj, Role.OPERATOR)
        return super().render_change_form(request, context, add, change, form_url, obj)


class ParamsForm(forms.Form):
    """The run-once form generated from a workflow's declared parameters; values go as text to the one validator."""

    def __init__(self, declared: dict[str, Param], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, param in declared.items():
            self.fields[name] = _param_field(param)

    def values(self) -> dict[str, str]:
        """Return the values typed; a field left empty takes the parameter's default."""
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None)}


PLACEHOLDERS = {"date": "2026-12-31", "datetime": "2026-12-31T18:00:00+08:00", "integer": "42", "number": "0.5"}


def _param_field(param: Param) -> forms.Field:
    """Return the form field of one parameter: a choice for booleans and choices, else text."""
    label = f"{param.name} ({param.type})"
    initial = "" if param.default is None else str(param.default).lower() if param.type == "boolean" else param.default
    common: dict[str, Any] = {"label": label, "help_text": param.description, "required": param.required}
    if param.type == "boolean" or param.choices:
        options = ["true", "false"] if param.type == "boolean" else [str(choice) for choice in param.choices]
        blank = [] if param.required else [("", _("(default)"))]
        return forms.ChoiceField(choices=[*blank, *((o, o) for o in options)], initial=str(initial), **common)
    widget = forms.TextInput(attrs={"placeholder": PLACEHOLDERS.get(param.type, "")})
    return forms.CharField(initial=initial, widget=widget, **common)


def _rerun_form(batch: Batch, data: Any) -> ParamsForm | None:
    """The re-run form's parameters, filled with the original's values; None when the version declares none."""
    declared = blueprint_for(batch.version_id).params if batch.version_id else {}
    if not declared:
        return None
    before = (batch.context or {}).get("params") or {}
    initial = {name: json.dumps(value) if isinstance(value, bool) else value for name, value in before.items()}
    return ParamsForm(declared, data, initial={k: v for k, v in initial.items() if v is not None})


class WorkflowRunAdmin(RunOnceAdminMixin, WorkflowAdmin):
    """Workflows, with "run once" (a form of the declared parameters, when there are any)."""

    actions = ["run_once", *WorkflowAdmin.actions]
    operator_actions = ("run_once", *WorkflowAdmin.operator_actions)

    def start_run(self, request, obj: Workflow) -> Batch:
        return lifecycle.batch_start(workflow=obj, actor=admin_actor(request))

    def run_view(self, request, pk):
        """Ask for the parameters' values (the button's POST, or a GET), then start with them."""
        workflow = self.scoped_object_or_404(request, pk)
        declared = blueprint_for(workflow.current_version_id).params if workflow.current_version_id else {}
        if not declared:
            return super().run_view(request, pk)
        form = ParamsForm(declared, request.POST if "params_form" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                batch = lifecycle.batch_start(
                    workflow=workflow, actor=admin_actor(request), values=form.values(), values_as_text=True
                )
            except ParamsProblem as exc:
                for name, message in exc.pairs:
                    form.add_error(name if name in form.fields else None, message)
            except BatonError as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(self.change_url(pk))
            else:
                url = reverse("admin:executions_batch_change", args=[batch.pk])
                messages.success(
                    request, format_html(_('Started batch <a href="{}">{}</a> of {}.'), url, batch.pk, workflow.name)
                )
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "workflow": workflow,
            "form": form,
            "opts": self.model._meta,
            "title": _("Run %(name)s once") % {"name": workflow.name},
        }
        return TemplateResponse(request, "admin/executions/workflow_run_form.html", context)


class TaskRunAdmin(RunOnceAdminMixin, TaskAdmin):
    """Tasks, with "run once" for standalone ones."""

    actions = ["run_once"]
    operator_actions = ("run_once",)

    def start_run(self, request, obj: Task) -> Batch:
        return lifecycle.task_run_start(task=obj, actor=admin_actor(request))


admin.site.unregister(Workflow)
admin.site.register(Workflow, WorkflowRunAdmin)
admin.site.unregister(Task)
admin.site.register(Task, TaskRunAdmin)

# The console: Baton's name in the header and a home page (running batches, the last day's
# failures, the next fires, outcomes per day) above the list of models.
admin.site.site_header = admin.site.site_title = gettext_lazy("Baton")
admin.site.index_title = gettext_lazy("Console")
admin.site.index_template = "admin/baton_index.html"


def _superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


# django-celery-beat's own models (beat's entries for the tick, the sweep and retention) are the
# installation's machinery, not Baton's triggers: only superusers see them, under "System".
for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "django_celery_beat":
        for _check in (
            "has_module_permission",
            "has_view_permission",
            "has_change_permission",
            "has_add_permission",
            "has_delete_permission",
        ):
            setattr(_model_admin, _check, lambda request, *args, **kwargs: _superusers_only(request))
