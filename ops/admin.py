"""The admin's worker list: which Celery workers are alive, what they consume, when each was last seen."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from executions.dispatch import ALERTS_QUEUE
from ops.models import WorkerHeartbeat
from ops.selectors import control_queues_without_worker, queues_without_worker

STATE_COLOURS = {"alive": "#2e7d32", "stopped": "#6d4c41", "gone": "#c62828"}


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Read-only; staff see every worker, and a warning for each queue in use that no live worker consumes."""

    list_display = ("name", "state", "queue_list", "last_seen_at", "started_at", "hostname", "pid", "concurrency")
    search_fields = ("name", "hostname")
    ordering = ("name",)

    def has_view_permission(self, request, obj=None):
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return bool(request.user.is_active and request.user.is_superuser)  # forget a worker that is gone for good

    @admin.display(description=gettext_lazy("state"))
    def state(self, worker: WorkerHeartbeat):
        if worker.stopped_at is not None:
            key, text = "stopped", _("stopped")
        elif worker.is_alive():
            key, text = "alive", _("alive")
        else:
            key, text = "gone", _("not seen")
        return format_html(
            '<span class="baton-worker worker-{}" style="background:{};color:#fff;padding:1px 6px;border-radius:8px">'
            "{}</span>",
            key,
            STATE_COLOURS[key],
            text,
        )

    @admin.display(description=gettext_lazy("queues"))
    def queue_list(self, worker: WorkerHeartbeat) -> str:
        return ", ".join(worker.queues)

    def changelist_view(self, request, extra_context=None):
        now = timezone.now()
        for queue in control_queues_without_worker(now):
            if queue == ALERTS_QUEUE:
                text = _(
                    "No live worker consumes queue %(queue)s: no alert is decided or sent (they wait, none is lost)."
                )
            else:
                text = _(
                    "No live worker consumes queue %(queue)s: the scheduler does not fire and the recovery sweep does not run."
                )
            messages.warning(request, text % {"queue": queue})
        for queue, workflows in sorted(queues_without_worker(request.user, now).items()):
            messages.warning(
                request,
                _(
                    "No live worker consumes queue %(queue)s, which enabled workflows use (%(workflows)s): their tasks stay queued until a worker for it starts or the batch times out."
                )
                % {"queue": queue, "workflows": ", ".join(workflows[:10]) + ("…" if len(workflows) > 10 else "")},
            )
        return super().changelist_view(request, extra_context)
