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
from django.conf import settings
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
from access.preferences import rendered_in_workflow_zone, when_html
from baton.errors import BatonError
from baton.text import error_text, translated
from executions import actions, lifecycle
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


def duration_text(seconds: float) -> str:
    """Say how long something took, readable: 0.42 s, 4.2 s, 3 min 05 s, 2 h 07 min, 3 d 04 h."""
    if seconds < 10:
        return _("%(seconds).2f s") % {"seconds": seconds}
    if seconds < 60:
        return _("%(seconds).1f s") % {"seconds": seconds}
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}
    hours = minutes // 60
    if hours < 48:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes % 60}
    return _("%(days)d d %(hours)02d h") % {"days": hours // 24, "hours": hours % 24}


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
        "started_when",
        "finished_when",
        "duration",
        "outcome",
        "output_head",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["id"]

    @admin.display(description=NodeRun._meta.get_field("started_at").verbose_name)
    def started_when(self, run: NodeRun):
        return when_html(run.started_at)

    @admin.display(description=NodeRun._meta.get_field("finished_at").verbose_name)
    def finished_when(self, run: NodeRun):
        return when_html(run.finished_at)

    @admin.display(description=gettext_lazy("node type"))
    def node_type_text(self, run: NodeRun):
        return NODE_TYPE_WORDS[run.node_type]() if run.node_type in NODE_TYPE_WORDS else run.node_type

    @admin.display(description=gettext_lazy("status"))
    def status_badge(self, run: NodeRun):
        return badge(run.status)

    @admin.display(description=gettext_lazy("duration"))
    def duration(self, run: NodeRun):
        seconds = run.duration_seconds
        return "—" if seconds is None else duration_text(seconds)

    @admin.display(description=gettext_lazy("result"))
    def outcome(self, run: NodeRun):
        text = outcome_text(run.detail) if run.status in NODE_FINISHED else ""
        if run.set_by:  # set by a person: say who and why
            by = _("set by %(who)s") % {"who": run.set_by}
            by = f"{by}: {run.set_reason}" if run.set_reason else by
            text = f"{by} — {text}" if text else by
        return text

    @admin.display(description=gettext_lazy("output"))
    def output_head(self, run: NodeRun):
        if not run.output:
            return _("(no output)") if run.node_type == "task" and run.status in NODE_FINISHED else ""
        return format_html('<pre style="max-height:12em;overflow:auto;margin:0">{}</pre>', run.output[:4000])


class EventInline(TeamChildInlineMixin, ReadOnlyMixin, admin.TabularInline):
    model = Event
    fields = ["at_when", "node_key", "from_status_text", "to_status_text", "message_text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]
    verbose_name_plural = gettext_lazy("timeline")

    @admin.display(description=Event._meta.get_field("at").verbose_name)
    def at_when(self, event: Event):
        return when_html(event.at)

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


class RecoverForm(forms.Form):
    """What to recover on a batch: the action, its node, the version (re-run from a node) and the reason."""

    action = forms.ChoiceField(
        label=gettext_lazy("action"),
        choices=[
            (actions.MARK_SUCCEEDED, gettext_lazy("Mark succeeded and continue")),
            (actions.SKIP, gettext_lazy("Skip for this run")),
            (actions.RERUN_FROM, gettext_lazy("Re-run from this node")),
        ],
        widget=forms.RadioSelect,
    )
    node = forms.ChoiceField(label=gettext_lazy("node"))
    version = forms.ChoiceField(
        label=gettext_lazy("version"),
        choices=[
            ("original", gettext_lazy("the version the batch ran (original)")),
            ("current", gettext_lazy("the workflow's current version")),
        ],
        initial="original",
        required=False,
        widget=forms.RadioSelect,
        help_text=gettext_lazy("Only for a re-run from a node."),
    )
    reason = forms.CharField(
        label=gettext_lazy("reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Required to mark a node succeeded; recorded with the node and in the audit trail."),
    )

    def __init__(self, batch: Batch, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runs = batch.node_runs.filter(node_type="task").order_by("id").values_list("node_key", "status")
        self.fields["node"].choices = [(key, f"{key} ({status_text(status)})") for key, status in runs]

    def clean(self):
        cleaned = super().clean()
        cleaned["version"] = cleaned.get("version") or "original"
        if cleaned.get("action") == actions.MARK_SUCCEEDED and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("give a reason: it is recorded with the node and in the audit trail"))
        return cleaned


class AdminCappedCountPaginator(CappedCountPaginator):
    """A history list (batches, fires) counts at most twenty pages' worth; past that it says "more than 1000 batches"."""


@admin.register(Batch)
class BatchAdmin(ReadOnlyMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "subject",
        "version_number",
        "status_badge",
        "trigger",
        "created_when",
        "finished_when",
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
        "scheduled_when",
        "rerun_of",
        "created_by",
        "created_when",
        "finished_when",
        "deadline_when",
        "stop_requested_when",
        "parameters",
    ]
    fields = readonly_fields
    inlines = [NodeRunInline, EventInline]
    change_form_template = "admin/executions/batch/change_form.html"
    actions = ["bulk_stop", "bulk_rerun", "bulk_resume"]  # each batch checked and audited on its own

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return queryset.filter(pk__contains=normalize_batch_id(search_term)), False

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, batch: Batch):
        return badge(batch.status)

    # The batch's times, in the list and on its page: the viewer's zone with the offset, UTC on hover.
    @admin.display(description=Batch._meta.get_field("created_at").verbose_name, ordering="created_at")
    def created_when(self, batch: Batch):
        return when_html(batch.created_at)

    @admin.display(description=Batch._meta.get_field("finished_at").verbose_name, ordering="finished_at")
    def finished_when(self, batch: Batch):
        return when_html(batch.finished_at)

    @admin.display(description=Batch._meta.get_field("scheduled_for").verbose_name)
    def scheduled_when(self, batch: Batch):
        return when_html(batch.scheduled_for)

    @admin.display(description=Batch._meta.get_field("deadline_at").verbose_name)
    def deadline_when(self, batch: Batch):
        return when_html(batch.deadline_at)

    @admin.display(description=Batch._meta.get_field("stop_requested_at").verbose_name)
    def stop_requested_when(self, batch: Batch):
        return when_html(batch.stop_requested_at)

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
        return duration_text((batch.finished_at - batch.created_at).total_seconds())

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
            path("<str:pk>/pause/", view(self.pause_view), name="executions_batch_pause"),
            path("<str:pk>/continue/", view(self.continue_view), name="executions_batch_continue"),
            path("<str:pk>/recover/", view(self.recover_view), name="executions_batch_recover"),
            *super().get_urls(),
        ]

    def _back(self, pk: str):
        return HttpResponseRedirect(reverse("admin:executions_batch_change", args=[pk]))

    def stop_view(self, request, pk):
        """Confirm (GET) and request (POST) a stop; a refusal is a message on the batch's page."""
        batch = self.scoped_object_or_404(request, pk)
        if request.method != "POST":
            if not self._may_operate(request, batch, _("Stopping batch %(batch)s")):
                return self._back(batch.pk)
            refused = actions.refusal("stop", lifecycle.batch_state_of(batch), batch=batch.pk)
            if refused is not None:
                messages.error(request, translated(refused, _))
                return self._back(batch.pk)
            running = list(
                batch.node_runs.filter(status__in=("queued", "running", "retrying")).values_list("node_key", flat=True)
            )
            context = {
                **self.admin_site.each_context(request),
                "batch": batch,
                "running": running,
                "grace": settings.BATON_KILL_GRACE_SECONDS,
                "opts": self.model._meta,
                "title": _("Stop batch %(batch)s") % {"batch": batch.pk},
            }
            return TemplateResponse(request, "admin/executions/batch/stop_confirm.html", context)
        try:
            lifecycle.batch_stop(batch_id=batch.pk, actor=admin_actor(request))
            messages.success(request, _("Stop requested for batch %(batch)s.") % {"batch": batch.pk})
        except BatonError as exc:
            messages.error(request, error_text(exc, _))
        return self._back(batch.pk)

    def pause_view(self, request, pk):
        return self._pause(request, pk, pause=True)

    def continue_view(self, request, pk):
        return self._pause(request, pk, pause=False)

    def _pause(self, request, pk, *, pause: bool):
        """Pause or continue (POST only); the outcome is a message on the batch's page."""
        batch = self.scoped_object_or_404(request, pk)
        if request.method != "POST":
            return self._back(batch.pk)
        try:
            if pause:
                lifecycle.batch_pause(batch_id=batch.pk, actor=admin_actor(request))
                messages.success(
                    request, _("Batch %(batch)s paused: no node starts until you continue it.") % {"batch": batch.pk}
                )
            else:
                lifecycle.batch_continue(batch_id=batch.pk, actor=admin_actor(request))
                messages.success(request, _("Batch %(batch)s continues.") % {"batch": batch.pk})
        except BatonError as exc:
            messages.error(request, error_text(exc, _))
        return self._back(batch.pk)

    def recover_view(self, request, pk):
        """Recover a node: mark it succeeded, skip it, or re-run from it; GET previews the plan, POST (confirm) acts."""
        batch = self.scoped_object_or_404(request, pk)
        if not self._may_operate(request, batch, _("Recovering batch %(batch)s")):
            return self._back(batch.pk)
        # GET with an action previews (the preview button); with a node only, it comes from the
        # node's panel on the batch page and chooses that node.
        data = request.POST if request.method == "POST" else (request.GET if "action" in request.GET else None)
        form = RecoverForm(batch, data, initial={"node": request.GET.get("node")} if data is None else None)
        plan, refusal = None, None
        if form.is_bound and form.is_valid():
            action, node, version = form.cleaned_data["action"], form.cleaned_data["node"], form.cleaned_data["version"]
            if action == actions.RERUN_FROM:
                refusal = lifecycle.batch_rerun_refusal(batch=batch, from_node=node, version=version)
                if refusal is None:
                    plan = lifecycle.rerun_plan(batch=batch, from_node=node, version=version)
            else:
                refusal = lifecycle.action_refusal(action, batch, node)
                if refusal is None:
                    plan = lifecycle.action_plan(action, batch, node)
            if request.method == "POST" and plan is not None:
                return self._recover(request, batch, form.cleaned_data)
        context = {
            **self.admin_site.each_context(request),
            "batch": batch,
            "form": form,
            "plan": plan,
            "refusal": refusal,
            "opts": self.model._meta,
            "title": _("Recover batch %(batch)s") % {"batch": batch.pk},
        }
        return TemplateResponse(request, "admin/executions/batch/recover_confirm.html", context)

    def _recover(self, request, batch: Batch, chosen: dict[str, Any]):
        action, node, reason = chosen["action"], chosen["node"], chosen["reason"]
        actor = admin_actor(request)
        try:
            if action == actions.MARK_SUCCEEDED:
                after = lifecycle.node_mark_succeeded(batch_id=batch.pk, node_key=node, actor=actor, reason=reason)
            elif action == actions.SKIP:
                after = lifecycle.node_skip(batch_id=batch.pk, node_key=node, actor=actor, reason=reason)
            else:
                after = lifecycle.batch_rerun(batch_id=batch.pk, actor=actor, from_node=node, version=chosen["version"])
        except BatonError as exc:
            messages.error(request, error_text(exc, _))
            return self._back(batch.pk)
        if after.pk != batch.pk:
            messages.success(
                request, _("Started batch %(new)s (continues %(batch)s).") % {"new": after.pk, "batch": batch.pk}
            )
        else:
            messages.success(request, _("Node %(node)s of batch %(batch)s: done.") % {"node": node, "batch": batch.pk})
        return self._back(after.pk)

    @admin.action(description=gettext_lazy("Stop the selected batches"))
    def bulk_stop(self, request, queryset):
        return self._bulk(request, queryset, "stop")

    @admin.action(description=gettext_lazy("Re-run the selected batches"))
    def bulk_rerun(self, request, queryset):
        return self._bulk(request, queryset, "rerun")

    @admin.action(description=gettext_lazy("Resume the selected batches from failure"))
    def bulk_resume(self, request, queryset):
        return self._bulk(request, queryset, "resume")

    BULK_TITLES = {
        "stop": gettext_lazy("Stop these batches?"),
        "rerun": gettext_lazy("Re-run these batches?"),
        "resume": gettext_lazy("Resume these batches from failure?"),
    }

    def _bulk(self, request, queryset, what: str) -> TemplateResponse | None:
        """Confirm first (which batches the action takes, which it refuses and why), then act on each on its own."""
        if request.POST.get("confirmed") != "1":
            return self._bulk_confirm(request, queryset, what)
        return self._bulk_do(request, queryset, what)

    def _bulk_confirm(self, request, queryset, what: str) -> TemplateResponse:
        actor = admin_actor(request)
        action = actions.STOP
        rows = []
        for batch in queryset.order_by("created_at", "id"):
            refused = None
            if not allows(actor, batch, Role.OPERATOR):
                owner = batch.workflow if batch.workflow_id else batch.task
                refused = _("needs the operator role in team %(team)s") % {"team": owner.team if owner else "?"}
            elif what != "stop":  # the same refusal the re-run itself gives
                refused = lifecycle.batch_rerun_refusal(batch=batch, resume=what == "resume")
            elif (reason := actions.refusal(action, lifecycle.batch_state_of(batch), batch=batch.pk)) is not None:
                refused = translated(reason, _)
            rows.append({"batch": batch, "refused": refused})
        context = {
            **self.admin_site.each_context(request),
            "rows": rows,
            "what": what,
            "action": f"bulk_{what}",
            "count": sum(1 for row in rows if row["refused"] is None),
            "opts": self.model._meta,
            "title": self.BULK_TITLES[what],
        }
        return TemplateResponse(request, "admin/executions/batch/bulk_confirm.html", context)

    def _bulk_do(self, request, queryset, what: str) -> None:
        """Act on each selected batch on its own (each checked and audited); one message says what became of each."""
        actor = admin_actor(request)
        done, refused = [], []
        for batch in queryset.order_by("created_at", "id"):
            try:
                if what == "stop":
                    lifecycle.batch_stop(batch_id=batch.pk, actor=actor)
                    done.append(batch.pk)
                else:
                    new = lifecycle.batch_rerun(batch_id=batch.pk, actor=actor, resume=what == "resume")
                    done.append(f"{batch.pk} → {new.pk}")
            except BatonError as exc:
                refused.append(f"{batch.pk}: {error_text(exc, _)}")
        if done:
            messages.success(request, _("Done: %(batches)s") % {"batches": "; ".join(done)})
        if refused:
            messages.warning(request, _("Refused: %(batches)s") % {"batches": "; ".join(refused)})

    def rerun_view(self, request, pk):
        """Confirm (GET) and start (POST) a re-run or a resume; a refusal is a message on the batch's page."""
        batch = self.scoped_object_or_404(request, pk)
        resume = request.GET.get("resume") == "1" or request.POST.get("resume") == "1"
        version = request.POST.get("version") or request.GET.get("version") or lifecycle.ORIGINAL
        verb = _("Resuming batch %(batch)s") if resume else _("Re-running batch %(batch)s")
        if not self._may_operate(request, batch, verb):
            return self._back(batch.pk)
        form = _rerun_form(batch, request.POST if request.method == "POST" else None) if not resume else None
        try:
            lifecycle.batch_rerun_check(batch=batch, resume=resume, version=version)
            if request.method != "POST" or (form is not None and not form.is_valid()):
                plan = lifecycle.rerun_plan(batch=batch, resume=resume, version=version)
                context = {
                    **self.admin_site.each_context(request),
                    "batch": batch,
                    "plan": plan,
                    "resume": resume,
                    "version": version,
                    "other_version": lifecycle.CURRENT if version == lifecycle.ORIGINAL else lifecycle.ORIGINAL,
                    "form": form,
                    "opts": self.model._meta,
                    "title": (_("Resume batch %(batch)s") if resume else _("Re-run batch %(batch)s"))
                    % {"batch": batch.pk},
                }
                return TemplateResponse(request, "admin/executions/batch/rerun_confirm.html", context)
            values = form.values() if form is not None else None
            new = lifecycle.batch_rerun(
                batch_id=batch.pk,
                actor=admin_actor(request),
                resume=resume,
                values=values,
                values_as_text=True,
                version=version,
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
        response = super().render_change_form(request, context, add, change, form_url, obj)
        if obj is None:
            return response
        owner = obj.workflow if obj.workflow_id else obj.task
        return rendered_in_workflow_zone(request, getattr(owner, "trigger", None), response)  # its zone by default


@admin.register(Fire)
class FireAdmin(ReadOnlyMixin, TeamScopedAdminMixin, admin.ModelAdmin):
    """Scheduled fires and what became of them: started, late, skipped for overlap, queued, missed."""

    list_display = [
        "scheduled_when",
        "owner",
        "outcome",
        "missed_count",
        "missed_until_when",
        "batch_link",
        "recorded_when",
    ]
    # As on the batch list: no date hierarchy (MIN/MAX and DISTINCT years over every fire of the
    # scope; a minutely cron writes half a million a year), a range filter and a capped count.
    list_filter = [
        "outcome",
        ("workflow", ScopedRelatedFilter),
        ("task", ScopedRelatedFilter),
        ("scheduled_for", admin.DateFieldListFilter),
    ]
    list_select_related = ["workflow", "task", "batch"]
    paginator = AdminCappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description=Fire._meta.get_field("scheduled_for").verbose_name, ordering="scheduled_for")
    def scheduled_when(self, fire: Fire):
        return when_html(fire.scheduled_for)

    @admin.display(description=Fire._meta.get_field("missed_until").verbose_name)
    def missed_until_when(self, fire: Fire):
        return when_html(fire.missed_until)

    @admin.display(description=Fire._meta.get_field("recorded_at").verbose_name, ordering="recorded_at")
    def recorded_when(self, fire: Fire):
        return when_html(fire.recorded_at)

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
    def run_once(self, request, queryset: Iterable[Any]) -> HttpResponseRedirect | None:
        """Start each selected one; one that declares parameters asks for them on its own form instead."""
        chosen = list(queryset)
        asking = [obj for obj in chosen if self.declared_params(obj)]
        if len(chosen) == 1 and asking:
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_run", args=[chosen[0].pk])
            )
        for obj in chosen:
            if obj in asking:
                url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_run", args=[obj.pk])
                text = _('{} declares parameters and was not started: <a href="{}">run it with its form</a>.')
                messages.warning(request, format_html(text, obj.name, url))
            else:
                self.run_one(request, obj)
        return None

    def declared_params(self, obj: Any) -> dict[str, Param]:
        """Return the parameters a run of `obj` asks for (none by default)."""
        return {}

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

    def declared_params(self, obj: Workflow) -> dict[str, Param]:
        return blueprint_for(obj.current_version_id).params if obj.current_version_id else {}

    def run_view(self, request, pk):
        """Ask for the parameters' values (the button's POST, or a GET), then start with them."""
        workflow = self.scoped_object_or_404(request, pk)
        declared = self.declared_params(workflow)
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
                    form.add_error(name if name in form.fields else None, translated(message, _))
            except BatonError as exc:
                messages.error(request, error_text(exc, _))
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
