"""JSON endpoints and pages behind the admin's visual DAG editor (wired in `config/urls.py`).

The editor edits the definition held in the workflow form's `definition` textarea; saving
stays the admin form's POST through `workflow_save_definition`. These views only help it:

* `validate` runs the save service dry (`workflow_save_definition(dry_run=True)`): the same
  parser, validator, role and database checks as the save, in a transaction that is always
  rolled back; it returns every problem with the nodes and edges to highlight;
* `layout` returns a layered left-to-right layout (`workflows.layout`) for auto-layout;
* `standalone_tasks` lists the team's standalone tasks that can be imported as nodes;
* `drawing` returns a version's masked definition with positions, for read-only drawings;
* `version_diff` renders what changed between two versions.

Rows are fetched through the registered ModelAdmin's queryset, so its team scoping applies.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from access.admin import admin_actor
from baton.errors import BatonError
from baton.text import translated
from workflows import layout
from workflows.definition import MAX_TEXT_BYTES, DefinitionError, Problem, check_document, load_text
from workflows.diff import definition_diff
from workflows.models import Task, Workflow
from workflows.services import version_export, workflow_save_definition

MAX_BODY = MAX_TEXT_BYTES  # a definition posted as text takes as much as an imported file
MAX_ROW_ID = 2**63 - 1  # a bigint primary key
MAX_VERSION_NUMBER = 2**31 - 1  # a version's number column


def _model_admin(model: type) -> admin.ModelAdmin:
    return admin.site._registry[model]


def _workflow(request: HttpRequest, pk: int) -> Workflow:
    model_admin = _model_admin(Workflow)
    workflow = get_object_or_404(model_admin.get_queryset(request).select_related("team", "current_version"), pk=pk)
    if not model_admin.has_view_or_change_permission(request, workflow):
        raise PermissionDenied
    return workflow


def _body(request: HttpRequest) -> dict[str, Any]:
    """Return the JSON object posted, or raise ValueError saying why it cannot be read."""
    if len(request.body) > MAX_BODY:
        raise ValueError(_("the definition is too large"))
    try:
        body = json.loads(request.body or b"{}")
    except RecursionError as exc:
        raise ValueError(_("the body is nested too deeply")) from exc
    except ValueError as exc:  # not JSON, not UTF-8, or an integer past Python's 4300-digit limit
        raise ValueError(_("the body is not valid JSON: %(reason)s") % {"reason": str(exc)[:200]}) from exc
    if not isinstance(body, dict):
        raise ValueError(_("the body must be a JSON object"))
    return body


def _positive_int(raw: Any, largest: int) -> int | None:
    """Return an id or number given as an integer or a string of digits, if it lies in 1..largest; else None."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= len(str(largest)):
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= largest:
        return raw
    return None


def _rejected(problem: Problem) -> JsonResponse:
    """Answer a request the editor cannot read (400), in the validate endpoint's shape."""
    return JsonResponse({"ok": False, "problems": [_problem(problem)]}, status=400)


def _problem(problem: Problem) -> dict[str, Any]:
    message = translated(problem.message, _)
    return {
        "path": problem.path,
        "message": message,
        "text": f"{problem.path}: {message}" if problem.path else message,
        "nodes": list(problem.nodes),
        "edges": [list(edge) for edge in problem.edges],
    }


@require_POST
def validate(request: HttpRequest) -> JsonResponse:
    """Return every problem of the posted definition; nothing is saved.

    Body: `{"definition": <document or its text>, "workflow": <id of the edited workflow or null>}`.
    """
    model_admin = _model_admin(Workflow)
    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied
    try:
        body = _body(request)
    except ValueError as exc:
        return _rejected(Problem("", str(exc)))
    pk = _positive_int(body.get("workflow"), MAX_ROW_ID)
    if body.get("workflow") not in (None, "") and pk is None:
        return _rejected(Problem("workflow", _("must be the id of the edited workflow, or null")))
    try:
        document = body.get("definition")
        if isinstance(document, str):
            document = load_text(document)
        else:
            check_document(document)
    except DefinitionError as exc:
        return JsonResponse({"ok": False, "problems": [_problem(p) for p in exc.problems]})
    edited = _workflow(request, pk) if pk else None
    problems: list[Problem] = []
    try:
        workflow_save_definition(
            document=document, actor=admin_actor(request), workflow=edited, create=edited is None, dry_run=True
        )
    except DefinitionError as exc:
        problems.extend(exc.problems)
    except BatonError as exc:  # the role in the team, a kind's permission (shell)
        problems.append(Problem("", exc.message))
    return JsonResponse({"ok": not problems, "problems": [_problem(p) for p in problems]})


@require_POST
def auto_layout(request: HttpRequest) -> JsonResponse:
    """Return a layered left-to-right position for START and every node of the posted definition."""
    try:
        document = _body(request).get("definition")
        check_document(document)
    except ValueError as exc:  # DefinitionError is one
        return HttpResponseBadRequest(translated(exc.message if isinstance(exc, BatonError) else str(exc), _))
    if not isinstance(document, dict):
        return HttpResponseBadRequest(_("definition must be an object"))
    positions = layout.layout_document(document)
    return JsonResponse({"positions": {key: {"x": x, "y": y} for key, (x, y) in positions.items()}})


@require_GET
def standalone_tasks(request: HttpRequest) -> JsonResponse:
    """List the standalone tasks of a team (`?team=NAME`) that a node can import by name."""
    model_admin = _model_admin(Task)
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    tasks = (
        model_admin.get_queryset(request)
        .filter(team__name=request.GET.get("team", ""), node__isnull=True)
        .order_by("name")
        .values("name", "kind", "description")
    )
    return JsonResponse({"tasks": list(tasks)})


@require_GET
def drawing(request: HttpRequest, pk: int) -> HttpResponse:
    """Return a version's masked definition (`?version=N`, default the current one) and its positions."""
    workflow = _workflow(request, pk)
    if request.GET.get("version"):
        number = _positive_int(request.GET["version"], MAX_VERSION_NUMBER)
        if number is None:
            return HttpResponseBadRequest(_("version must be a version number"))
        version = get_object_or_404(workflow.versions.all(), number=number)
    else:
        version = workflow.current_version
    if version is None:
        raise Http404(_("the workflow has no saved definition"))
    document = version_export(version=version, workflow=workflow)
    return JsonResponse(
        {
            "version": version.number,
            "definition": document,
            "positions": {k: {"x": x, "y": y} for k, (x, y) in layout.positions_for(document).items()},
        }
    )


@require_GET
def version_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """Show what changed between two versions (`?a=N&b=M`; default: the current one and the one before)."""
    workflow = _workflow(request, pk)
    versions = list(workflow.versions.order_by("-number"))
    if not versions:
        raise Http404(_("the workflow has no versions"))
    numbers = [v.number for v in versions]
    new_number = _number(request.GET.get("b"), numbers[0])
    old_number = _number(request.GET.get("a"), new_number - 1 if new_number - 1 in numbers else new_number)
    by_number = {v.number: v for v in versions}
    if old_number not in by_number or new_number not in by_number:
        raise Http404(_("no such version"))
    old, new = by_number[old_number], by_number[new_number]
    diff = definition_diff(version_export(version=old), version_export(version=new))
    context = {
        **admin.site.each_context(request),
        "title": f"{workflow.name}: v{old.number} → v{new.number}",
        "opts": Workflow._meta,
        "workflow": workflow,
        "old": old,
        "new": new,
        "numbers": numbers,
        "diff": diff,
        "lines": diff.lines(),
    }
    return TemplateResponse(request, "admin/workflows/workflow/version_diff.html", context)


def _number(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default
