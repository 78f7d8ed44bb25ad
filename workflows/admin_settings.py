"""The workflow page's settings as form fields: team, trigger, timeout, policies, enabled (issue 12, part 2).

The fields are a view of the definition, not a second format: `apply_settings` writes them into
the definition document, which is then saved (or dry-run) through `workflow_save_definition`,
the one validator. The JSON under "Edit as JSON" stays the same definition; the page's script
(`baton/workflow-settings.js`) keeps the two in step both ways, and the fields win on save when
they were posted (`SETTINGS_MARKER`), so a form that only posts the JSON (an older page, a test
client) still saves what it posts. A validator problem lands on the field its path names
(`trigger.expression` on the cron expression), in the active language.

`trigger_preview` is the small JSON endpoint the form's script asks, while the user types, for
the next fire times of the trigger as typed: it runs the same trigger reader the save runs
(`parse_trigger`, with `now`) and the scheduler's arithmetic (`schedule.next_fires`), and
answers with each fire written in the trigger's zone (seconds and UTC offset) and in UTC.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from baton.text import translated
from workflows import kinds, quartz, registry, triggers
from workflows.definition import (
    DEFAULT_WORKFLOW_TIMEOUT,
    MAX_TIMEOUT,
    Definition,
    DefinitionError,
    Problem,
    parse_trigger,
)
from workflows.models import MisfirePolicy, OverlapPolicy, Team
from workflows.schedule import next_fires

SETTINGS_MARKER = "settings_form"  # posted (a hidden input of the page) with the settings fields: they count
TIME_FORMAT = "Y-m-d H:i:s O"  # seconds and the UTC offset, as config/formats writes times
PREVIEW_COUNT = 5
TRIGGER_FIELDS = {  # trigger key → form field, per trigger type
    "cron": {"expression": "cron_expression", "timezone": "trigger_timezone"},
    "periodic": {"every": "every", "unit": "unit", "start": "start", "timezone": "trigger_timezone"},
    "once": {"at": "at", "timezone": "trigger_timezone"},
    "none": {},
}
TOP_FIELDS = {  # definition key → form field
    "team": "team",
    "enabled": "enabled",
    "timeout_seconds": "timeout_seconds",
    "overlap_policy": "overlap_policy",
    "misfire_policy": "misfire_policy",
    "trigger.type": "trigger_type",
}
DEFAULTED = ("enabled", "timeout_seconds", "overlap_policy", "misfire_policy")  # keys with a definition default
TRIGGER_FIELD_ORDER = ["trigger_type", "cron_expression", "every", "unit", "start", "at", "trigger_timezone"]
TRIGGER_FORM_FIELDS = set(TRIGGER_FIELD_ORDER)
SETTINGS_FIELDS = [
    "team",
    "enabled",
    "trigger_type",
    "cron_expression",
    "every",
    "unit",
    "start",
    "at",
    "trigger_timezone",
    "timeout_seconds",
    "overlap_policy",
    "misfire_policy",
]


def editing_context() -> dict[str, Any]:
    """What a task's or a workflow's change form hands its scripts."""
    return {
        "task_kinds": json.dumps(kinds.editor_configs()),  # the editor's kinds and a new task's config, in its form
        "callables": json.dumps(callable_choices()),  # the python kind's select and its arguments
        "preview_fires": PREVIEW_COUNT,  # how many next fire times the preview lists: the room the page holds
    }


def callable_choices() -> list[dict[str, Any]]:
    """Return the registered python callables with their arguments (name, default as text or None, annotation).

    `extra` says whether it takes more keyword arguments than it names (**kwargs).
    """
    choices = []
    for name in registry.names():
        try:
            parameters = inspect.signature(registry.get(name)).parameters.values()
        except (TypeError, ValueError):  # a builtin without a signature: its arguments are typed as JSON
            parameters = []
        params = [
            {
                "name": p.name,
                "default": None if p.default is inspect.Parameter.empty else repr(p.default),
                "annotation": "" if p.annotation is inspect.Parameter.empty else _annotation(p.annotation),
            }
            for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ]
        # A callable taking **kwargs accepts more arguments than it names: the form offers a table for them.
        extra = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
        choices.append({"name": name, "params": params, "extra": extra})
    return choices


def _annotation(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))


@functools.cache
def zone_names() -> list[str]:
    """Return the IANA zone names a trigger may name (what `quartz.load_zone` accepts), sorted."""
    return sorted(quartz._iana_zone_names())


@functools.cache
def _zone_options() -> str:
    return "".join(f'<option value="{zone}">' for zone in zone_names())  # names are [A-Za-z0-9_+/-]


class ZoneInput(forms.TextInput):
    """A text input with a datalist of the IANA zone names: the browser filters it as the user types."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {**(attrs or {}), "list": "baton-zone-names", "autocomplete": "off"}
        field = super().render(name, value, attrs, renderer)
        return field + mark_safe(f'<datalist id="baton-zone-names">{_zone_options()}</datalist>')  # noqa: S308


class TriggerFieldsForm(forms.Form):
    """A trigger as fields: its type, then the fields of that type; the workflow's and the standalone task's."""

    trigger_type = forms.ChoiceField(
        label=capfirst(gettext_lazy("trigger")),
        choices=[
            ("none", gettext_lazy("Manual")),
            ("cron", "Cron"),
            ("periodic", gettext_lazy("Every fixed period")),
            ("once", gettext_lazy("Once, at a time")),
        ],
    )
    cron_expression = forms.CharField(
        label=gettext_lazy("Cron expression"),
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"size": 40, "spellcheck": "false", "style": "font-family: monospace"}),
        help_text=gettext_lazy(
            "Quartz: second minute hour day-of-month month day-of-week [year], e.g. 0 0 2 ? * MON-FRI."
        ),
    )
    every = forms.IntegerField(label=gettext_lazy("Every"), required=False, min_value=1)
    unit = forms.ChoiceField(
        label=gettext_lazy("Unit"),
        required=False,
        choices=[
            ("seconds", gettext_lazy("seconds")),
            ("minutes", gettext_lazy("minutes")),
            ("hours", gettext_lazy("hours")),
            ("days", gettext_lazy("days")),
        ],
    )
    start = forms.CharField(
        label=gettext_lazy("Anchor"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "2026-01-01T00:00:00", "size": 24}),
        help_text=gettext_lazy("The first fire; later ones follow it by whole periods (wall time in the zone)."),
    )
    at = forms.CharField(
        label=gettext_lazy("At"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "2032-01-01T02:00:00", "size": 24}),
        help_text=gettext_lazy("Wall time in the zone."),
    )
    trigger_timezone = forms.CharField(
        label=gettext_lazy("Time zone"),
        required=False,
        initial="UTC",
        widget=ZoneInput(attrs={"size": 32}),
        help_text=gettext_lazy("An IANA name; type to search, e.g. Asia/Shanghai."),
    )


class WorkflowSettingsForm(TriggerFieldsForm):
    """The settings of a definition as fields; `DefinitionForm` mixes them in and applies them to the document."""

    team = forms.ModelChoiceField(
        label=capfirst(gettext_lazy("team")),
        queryset=Team.objects.none(),
        to_field_name="name",
        required=False,
        help_text=gettext_lazy("A team where you may edit. Teams are created on the team page."),
    )
    enabled = forms.BooleanField(label=capfirst(gettext_lazy("enabled")), required=False)
    timeout_seconds = forms.IntegerField(
        label=capfirst(gettext_lazy("timeout")),
        min_value=1,
        max_value=MAX_TIMEOUT,
        initial=DEFAULT_WORKFLOW_TIMEOUT,
        help_text=gettext_lazy("In seconds: a batch still running after this long is stopped."),
    )
    overlap_policy = forms.ChoiceField(
        label=capfirst(gettext_lazy("overlap policy")),
        choices=OverlapPolicy.choices,
        help_text=gettext_lazy("What a scheduled fire does while an earlier batch still runs."),
    )
    misfire_policy = forms.ChoiceField(
        label=capfirst(gettext_lazy("misfire policy")),
        choices=MisfirePolicy.choices,
        help_text=gettext_lazy("What happens to fires missed while no scheduler ran."),
    )


def settings_initial(document: Any) -> dict[str, Any]:
    """Return the settings fields' values read from a definition document (what it lacks keeps the defaults)."""
    if not isinstance(document, dict):
        return {}
    defaults = Definition(name="", team="", nodes=(), edges=())  # what a document without the key means
    initial: dict[str, Any] = {key: getattr(defaults, key) for key in DEFAULTED}
    for key in ("team", *DEFAULTED):
        if key in document:
            initial[key] = document[key]
    trigger = document.get("trigger") if isinstance(document.get("trigger"), dict) else {"type": "none"}
    kind = trigger.get("type", "none")
    initial["trigger_type"] = kind
    for key, field in TRIGGER_FIELDS.get(kind, {}).items():
        if key in trigger:
            initial[field] = trigger[key]
    return initial


def trigger_from_fields(cleaned: dict[str, Any], *, keep: Any = None) -> dict[str, Any]:
    """Return the trigger the fields describe; `keep` (the document's trigger) lends its batch `params`."""
    kind = cleaned.get("trigger_type") or "none"
    trigger: dict[str, Any] = {"type": kind}
    for key, field in TRIGGER_FIELDS.get(kind, {}).items():
        value = cleaned.get(field)
        if key == "timezone":
            value = value or "UTC"
        if value not in (None, ""):
            trigger[key] = value
    if isinstance(keep, dict) and "params" in keep and triggers.find(kind) and triggers.TRIGGER_TYPES[kind].fires:
        trigger["params"] = keep["params"]
    return trigger


def apply_settings(document: Any, cleaned: dict[str, Any], *, changed: Iterable[str] | None = None) -> Any:
    """Return the document with the settings fields written into it (a document that is no object as it is).

    With `changed` (the fields the user changed from what the page showed), only those are
    written: a setting edited in the JSON alone (a page without its script) keeps the JSON's value.
    """
    if not isinstance(document, dict):
        return document
    edited = set(SETTINGS_FIELDS if changed is None else changed)
    applied = dict(document)
    for key in DEFAULTED:
        if key in edited and cleaned.get(key) is not None:
            applied[key] = cleaned[key]
    if "team" in edited and cleaned.get("team") is not None:
        applied["team"] = cleaned["team"].name
    if edited & TRIGGER_FORM_FIELDS:
        applied["trigger"] = trigger_from_fields(cleaned, keep=document.get("trigger"))
    return applied


def settings_field_of(path: str, kind: str) -> str | None:
    """Return the settings field a validator problem's path names, or None."""
    if path in TOP_FIELDS:
        return TOP_FIELDS[path]
    if path.startswith("trigger."):
        key = path.removeprefix("trigger.").split(".", 1)[0]
        return TRIGGER_FIELDS.get(kind, {}).get(key)
    return None


def problems_to_fields(form: forms.Form, problems: Iterable[Problem], *, rest: str) -> None:
    """Put each problem on the settings field its path names, the others on the `rest` field (translated)."""
    kind = form.cleaned_data.get("trigger_type") or "none"
    for problem in problems:
        field = settings_field_of(problem.path, kind)
        message = translated(problem.message, _)
        if field is not None and field in form.fields:
            if field not in form.errors:
                form.add_error(field, message)
        else:
            form.add_error(rest, f"{problem.path}: {message}" if problem.path else message)


def _fire(moment: datetime, zone: ZoneInfo) -> dict[str, str]:
    local = moment.astimezone(zone)
    return {
        "iso": local.isoformat(),
        "text": date_format(local, TIME_FORMAT),
        "utc": date_format(moment.astimezone(UTC), TIME_FORMAT),
    }


@require_GET
def trigger_preview(request: HttpRequest) -> JsonResponse:
    """Return the next fire times of the trigger in the query (type and its fields), or its problems by field.

    `?type=cron&expression=0 0 2 ? * *&timezone=Asia/Shanghai` → `{"ok": true, "zone": …, "offset": "+0800",
    "fires": [{"iso", "text", "utc"}, …]}`; a trigger the validator refuses → `{"ok": false, "problems":
    [{"field", "message"}]}` (the field named as the form names it).
    """
    query = request.GET
    kind = query.get("type", "none")
    raw: dict[str, Any] = {"type": kind}
    for key in TRIGGER_FIELDS.get(kind, {}):
        value = query.get(key, "")
        if key == "every":
            raw[key] = int(value) if value.isascii() and value.isdigit() and len(value) < 12 else value
        elif value != "" or key != "timezone":
            raw[key] = value
    now = timezone.now()
    try:
        trigger = parse_trigger(raw, now=now)
    except DefinitionError as exc:
        problems = [
            {"field": settings_field_of(p.path, kind) or "", "message": translated(p.message, _)} for p in exc.problems
        ]
        return JsonResponse({"ok": False, "problems": problems})
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    fires = next_fires(trigger, now, PREVIEW_COUNT)
    return JsonResponse(
        {
            "ok": True,
            "zone": zone.key,
            "offset": date_format(now.astimezone(zone), "O"),
            "fires": [_fire(moment, zone) for moment in fires],
        }
    )
