"""The viewer's time zone: the zone the admin shows times in, chosen in the header and kept in the session.

No profile model: a zone is a per-browser display choice like the language (Django keeps that in
a cookie), so it lives in the session (`SESSION_KEY`) and goes with it at logout. Without a choice
a page shows times in UTC, and the workflow and batch pages in the workflow's own zone (its
trigger's; `for_workflow`), so a schedule's times read as its owners wrote them. Either way each
time shows its UTC offset, and UTC on hover (`executions.templatetags.baton_console.when`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from workflows import quartz

SESSION_KEY = "baton_time_zone"
TIME_FORMAT = "Y-m-d H:i:s O"  # seconds and the UTC offset, as config/formats writes times


def chosen_zone(request: HttpRequest) -> str | None:
    """Return the zone the viewer chose (an IANA name), or None."""
    session = getattr(request, "session", None)
    name = session.get(SESSION_KEY) if session is not None else None
    try:
        return quartz.load_zone(name).key if name else None
    except quartz.InvalidCronExpression:  # a zone the tz database no longer has
        return None


class ViewerTimeZoneMiddleware:
    """Show times in the viewer's chosen zone (else the settings' TIME_ZONE, UTC by default)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = chosen_zone(request)
        if name is None:
            timezone.deactivate()
        else:
            timezone.activate(ZoneInfo(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def workflow_zone(trigger: Any) -> str:
    """Return the zone a workflow's times are read in: its trigger's, else UTC."""
    name = trigger.get("timezone") if isinstance(trigger, dict) else None
    try:
        return quartz.load_zone(name).key if name else "UTC"
    except quartz.InvalidCronExpression:
        return "UTC"


@contextlib.contextmanager
def for_workflow(request: HttpRequest, trigger: Any) -> Iterator[None]:
    """Show times in the workflow's zone while a page renders, unless the viewer chose a zone."""
    if chosen_zone(request) is not None:
        yield
        return
    with timezone.override(ZoneInfo(workflow_zone(trigger))):
        yield


def rendered_in_workflow_zone(request: HttpRequest, trigger: Any, response: Any) -> Any:
    """Render a (template) response now, in the workflow's zone unless the viewer chose one."""
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        with for_workflow(request, trigger):
            response.render()
    return response


def when_html(moment: datetime | None) -> str:
    """A time in the active zone to the second with its offset, UTC on hover (a <time> element); "—" for none."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        _("UTC: %(time)s") % {"time": date_format(moment.astimezone(UTC), TIME_FORMAT)},
        date_format(local, TIME_FORMAT),
    )


@require_POST
def set_time_zone(request: HttpRequest) -> HttpResponse:
    """Keep the zone posted (`zone`; empty: the default) in the session, and go back to `next`."""
    target = request.POST.get("next", "/admin/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = "/admin/"
    name = request.POST.get("zone", "").strip()
    if not name:
        request.session.pop(SESSION_KEY, None)
        return HttpResponseRedirect(target)
    try:
        request.session[SESSION_KEY] = quartz.load_zone(name).key
    except quartz.InvalidCronExpression:
        messages.error(
            request, _("Unknown time zone %(zone)r: pick an IANA name such as Asia/Shanghai.") % {"zone": name}
        )
    return HttpResponseRedirect(target)
