"""The console's home page and a workflow's execution records, as template tags of the admin's pages.

They live on the run-time side (the definitions app never imports it); the admin's templates
load them.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from access.preferences import chosen_zone, when_html
from executions.admin import badge, duration_text
from executions.charts import outcomes_svg
from executions.selectors import home_summary, workflow_records
from executions.states import BatchStatus
from workflows.admin_settings import zone_names

register = template.Library()


@register.inclusion_tag("admin/baton_home.html", takes_context=True)
def baton_home(context):
    """Running batches, the last 24 hours' failures, the next fires and outcomes per day, as the user may see them."""
    summary = home_summary(context["request"].user, now=timezone.now())
    labels = {status.value: status.label for status in BatchStatus}
    chart = outcomes_svg(summary["days"], summary["counts"], labels, _("Batches ended per day, last 14 days"))
    return {**summary, "chart": mark_safe(chart)}  # noqa: S308 — every text in it is escaped by outcomes_svg


@register.inclusion_tag("admin/workflows/workflow/records.html", takes_context=True)
def workflow_execution_records(context, workflow):
    """The workflow's batches, newest first, filtered by status and id, a page at a time without counting."""
    request = context["request"]
    status = request.GET.get("records_status", "")
    status = status if status in BatchStatus.values else ""
    query = request.GET.get("records_q", "").strip()[:32]
    before = None
    if raw := request.GET.get("records_before"):
        try:
            before = datetime.fromisoformat(raw)
        except ValueError:
            before = None  # an odd cursor shows the first page
    rows, next_before = workflow_records(workflow, status=status, query=query, before=before)
    return {
        "workflow": workflow,
        "rows": rows,
        "status": status,
        "query": query,
        "statuses": BatchStatus.choices,
        "next_before": next_before.isoformat() if next_before else "",
        "paged": before is not None,
    }


@register.simple_tag(takes_context=True)
def baton_viewer_zone(context) -> str:
    """Return the zone the viewer chose (empty: none), and put the zone names in the context for the header's list."""
    context["viewer_zone_names"] = zone_names()
    return chosen_zone(context["request"]) or ""


@register.filter
def when(moment: datetime | None) -> str:
    """A time in the active zone to the second with its offset, UTC on hover (a <time> element)."""
    return when_html(moment)


@register.filter
def status_badge(status: str):
    """A batch or node status as the admin's coloured badge."""
    return badge(status)


@register.filter
def batch_duration(batch) -> str:
    """How long a batch ran (so far), readable: 4.2 s, 3 min 05 s, 2 h 07 min."""
    if batch.finished_at is None:
        return _("running")
    return duration_text((batch.finished_at - batch.created_at).total_seconds())
