"""JSON endpoints and pages behind the admin's visual DAG editor (wired in `config/urls.py`).

The editor edits the definition held in the workflow form's `definition` textarea; saving
stays the admin form's POST through `workflow_save_definition`. These views only help it:

* `validate` runs the same parser and validator dry, then the service's database checks
  inside a transaction that is always rolled back, and returns every problem with the nodes
  and edges to highlight;
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
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from workflows import layout
from workflows.definition import DefinitionError, Problem, load_text
from workflows.diff import definition_diff
from workflows.models import Role, Task, Team, Workflow
from workflows.services import definition_parse, version_export, workflow_save_definition

MAX_BODY = 512 * 1024


def _model_admin(model: type) -> admin.ModelAdmin:
    return admin.site._registry[model]


def _workflow(request: HttpRequest, pk: int) -> Workflow:
    model_admin = _model_admin(Workflow)
    workflow = get_object_or_404(model_admin.get_queryset(request).select_related("team", "current_version"), pk=pk)
    if not model_admin.has_view_or_change_permission(request, workflow):
        raise PermissionDenied
    return workflow


def _may_edit_team(request: HttpRequest, name: str) -> bool:
    if request.user.is_superuser:
        return True
    from access.scoping import has_role

    team = Team.objects.filter(name=name).first()
    return team is not None and has_role(request.user, team.pk, Role.EDITOR)


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        raise ValueError("the definition is too large")
    body = json.loads(request.body or b"{}")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "path": problem.path,
        "message": problem.message,
        "text": str(problem),
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
        document = body.get("definition")
        if isinstance(document, str):
            document = load_text(document)
    except DefinitionError as exc:
        return JsonResponse({"ok": False, "problems": [_problem(p) for p in exc.problems]})
    except ValueError as exc:
        return JsonResponse({"ok": False, "problems": [_problem(Problem("", str(exc)))]})
    problems: list[Problem] = []
    pk = body.get("workflow")
    if pk and isinstance(document, dict):
        workflow = _workflow(request, int(pk))
        identity = (document.get("name"), document.get("team"))
        if identity != (workflow.name, workflow.team.name):
            problems.append(
                Problem("name", "name and team identify the workflow: to rename or move it, import a new one")
            )
    team = document.get("team") if isinstance(document, dict) else None
    if isinstance(team, str) and not _may_edit_team(request, team):
        problems.append(Problem("team", f"you are not an editor of team {team!r}"))
        try:  # the shape and topology checks only: no look at another team's rows
            definition_parse(document)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    else:
        try:
            with transaction.atomic():
                workflow_save_definition(document=document, user=request.user)
                transaction.set_rollback(True)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    return JsonResponse({"ok": not problems, "problems": [_problem(p) for p in problems]})


@require_POST
def auto_layout(request: HttpRequest) -> JsonResponse:
    """Return a layered left-to-right position for START and every node of the posted definition."""
    try:
        document = _body(request).get("definition")
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    if not isinstance(document, dict):
        return HttpResponseBadRequest("definition must be an object")
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
def drawing(request: HttpRequest, pk: int) -> JsonResponse:
    """Return a version's masked definition (`?version=N`, default the current one) and its positions."""
    workflow = _workflow(request, pk)
    versions = workflow.versions.all()
    if request.GET.get("version"):
        version = get_object_or_404(versions, number=request.GET["version"])
    else:
        version = workflow.current_version
    if version is None:
        raise Http404("the workflow has no saved definition")
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
        raise Http404("the workflow has no versions")
    numbers = [v.number for v in versions]
    new_number = _number(request.GET.get("b"), numbers[0])
    old_number = _number(request.GET.get("a"), new_number - 1 if new_number - 1 in numbers else new_number)
    by_number = {v.number: v for v in versions}
    if old_number not in by_number or new_number not in by_number:
        raise Http404("no such version")
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
