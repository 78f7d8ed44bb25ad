"""REST API for definitions: workflows (as SPEC §10 documents), their versions, standalone tasks.

Bodies are validated by the one parser and validator (`workflow_save_definition`, `task_save`);
serializers here only document shapes and render rows. Access follows SPEC §7 through
`access.scoping`: rows of other teams are 404, roles below the action's are 403.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.db.models import ProtectedError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.api import ScopedModelChoiceFilter, ScopedViewSetMixin, scoped_team
from access.audit import audit_record
from access.http import Conflict
from access.scoping import definition_tasks, kind_permission_refusal, scoped
from workflows import kinds, secrets, triggers
from workflows.models import MisfirePolicy, OverlapPolicy, Role, Task, Team, Workflow, WorkflowVersion
from workflows.services import (
    task_delete_refusal,
    task_document_of,
    task_save,
    version_export,
    workflow_delete,
    workflow_export,
    workflow_save_definition,
    workflow_set_enabled,
)


def _actor(request: Request) -> Any:
    """Return the user to record as creator in services (tokens have no user row)."""
    return request.user if getattr(request.user, "pk", None) else None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError({"": [f"The body must be a JSON object, not {type(value).__name__}."]})
    return value


def _check_kind_permissions(request: Request, team: Team, tasks: list[dict[str, Any]]) -> None:
    """Refuse new or changed tasks of a kind that needs a permission the principal lacks (shell, SPEC §2)."""
    refusal = kind_permission_refusal(request.user, team, tasks)
    if refusal is not None:
        raise PermissionDenied(refusal)


# --- serializers ------------------------------------------------------------------------------


class DefinitionDocumentSerializer(serializers.Serializer):
    """A workflow definition (SPEC §10); documented here, validated by the definition parser."""

    name = serializers.CharField(max_length=64)
    team = serializers.CharField(max_length=64, help_text="The name of one of your teams.")
    description = serializers.CharField(required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    trigger = serializers.JSONField(
        required=False, help_text='{"type": ' + "|".join(f'"{name}"' for name in triggers.TRIGGER_TYPES) + ", …}"
    )
    timeout_seconds = serializers.IntegerField(required=False, min_value=1)
    overlap_policy = serializers.ChoiceField(OverlapPolicy.choices, required=False)
    misfire_policy = serializers.ChoiceField(MisfirePolicy.choices, required=False)
    nodes = serializers.ListField(child=serializers.DictField())
    edges = serializers.ListField(child=serializers.DictField())


class WorkflowSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name", read_only=True)
    team_id = serializers.IntegerField(read_only=True)
    version = serializers.SerializerMethodField()
    next_fire_at = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = ["id", "name", "team", "team_id", "description", "enabled", "trigger", "timeout_seconds",
                  "overlap_policy", "misfire_policy", "version", "next_fire_at", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields

    def get_version(self, workflow: Workflow) -> int | None:
        return workflow.current_version.number if workflow.current_version_id else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_fire_at(self, workflow: Workflow) -> str | None:
        schedule = getattr(workflow, "schedule", None)
        return schedule.next_fire_at.isoformat() if schedule is not None and schedule.next_fire_at else None


class WorkflowDetailSerializer(WorkflowSerializer):
    definition = serializers.SerializerMethodField()

    class Meta(WorkflowSerializer.Meta):
        fields = [*WorkflowSerializer.Meta.fields, "definition"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_definition(self, workflow: Workflow) -> dict[str, Any] | None:
        return workflow_export(workflow=workflow) if workflow.current_version_id else None


class VersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = WorkflowVersion
        fields = ["number", "created_by", "created_at"]
        read_only_fields = fields


class VersionDetailSerializer(VersionSerializer):
    definition = serializers.SerializerMethodField()

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "definition"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_definition(self, version: WorkflowVersion) -> dict[str, Any]:
        return version_export(version=version)


class EnabledSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class WorkflowFilter(django_filters.FilterSet):
    team = ScopedModelChoiceFilter(model=Team, help_text="A team id (of your teams).")
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=64)
    enabled = django_filters.BooleanFilter()

    class Meta:
        model = Workflow
        fields: list[str] = []


# --- workflows --------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=DefinitionDocumentSerializer, responses={201: WorkflowDetailSerializer}),
    update=extend_schema(request=DefinitionDocumentSerializer, responses={200: WorkflowDetailSerializer}),
    partial_update=extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={200: WorkflowDetailSerializer},
        description="Merge top-level fields into the current definition and save it as a new version.",
    ),
    destroy=extend_schema(description="Disable and hide the workflow; its batches stay readable (SPEC §6)."),
)
class WorkflowViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Workflows of your teams, created and edited as SPEC §10 definitions."""

    scope_model = Workflow
    serializer_class = WorkflowSerializer
    filterset_class = WorkflowFilter
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    ordering = ["name", "id"]
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        return super().get_queryset().select_related("team", "current_version", "schedule")

    def get_serializer_class(self):
        if self.action in ("retrieve", "create", "update", "partial_update"):
            return WorkflowDetailSerializer
        return WorkflowSerializer

    def lookup_value(self, value: str) -> Any:
        return int(value)

    def create(self, request: Request, *args, **kwargs) -> Response:
        document = _object(request.data)
        team = scoped_team(request, document.get("team"), Role.EDITOR)
        if (
            isinstance(document.get("name"), str)
            and Workflow.objects.alive().filter(team=team, name=document["name"]).exists()
        ):
            raise ValidationError(
                {"name": [f"Team {team.name} already has a workflow named {document['name']!r}; PUT to it."]}
            )
        _check_kind_permissions(request, team, definition_tasks(document))
        with transaction.atomic():
            result = workflow_save_definition(document=document, user=_actor(request), create_team=False)
            audit_record(user=request.user, action="workflow.create", obj=result.workflow, request=request,
                         after={"version": result.version.number})  # fmt: skip
        return Response(WorkflowDetailSerializer(self._fresh(result.workflow.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        workflow = self.get_object()
        self.require_role(workflow, Role.EDITOR)
        document = _object(request.data)
        if kwargs.get("partial"):
            current = workflow_export(workflow=workflow) if workflow.current_version_id else {}
            document = {**current, **document}
        identity = {"name": workflow.name, "team": workflow.team.name}
        for field, value in identity.items():
            if field in document and document[field] != value:
                raise ValidationError({field: [f"{field} identifies the workflow ({value!r}); it cannot change."]})
        document = {**document, **identity}
        _check_kind_permissions(request, workflow.team, definition_tasks(document))
        before = workflow.current_version.number if workflow.current_version_id else None
        with transaction.atomic():
            result = workflow_save_definition(document=document, user=_actor(request), create_team=False)
            audit_record(user=request.user, action="workflow.update", obj=result.workflow, request=request,
                         before={"version": before}, after={"version": result.version.number, "changed": result.changed})  # fmt: skip
        return Response(WorkflowDetailSerializer(self._fresh(workflow.pk)).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        workflow = self.get_object()
        self.require_role(workflow, Role.EDITOR)
        with transaction.atomic():
            workflow_delete(workflow=workflow)
            audit_record(user=request.user, action="workflow.delete", obj=workflow, request=request,
                         before={"enabled": workflow.enabled, "deleted": False}, after={"deleted": True})  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, pk: int) -> Workflow:
        return Workflow.objects.select_related("team", "current_version", "schedule").get(pk=pk)

    def _set_enabled(self, request: Request, enabled: bool) -> Response:
        workflow = self.get_object()
        self.require_role(workflow, Role.OPERATOR)
        before = workflow.enabled
        with transaction.atomic():
            workflow_set_enabled(workflow=workflow, enabled=enabled, user=_actor(request))
            audit_record(user=request.user, action="workflow.enable" if enabled else "workflow.disable",
                         obj=workflow, request=request, before={"enabled": before}, after={"enabled": enabled})  # fmt: skip
        return Response(WorkflowSerializer(self._fresh(workflow.pk)).data)

    @extend_schema(request=None, responses={200: WorkflowSerializer})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        """Enable scheduled fires (operator)."""
        return self._set_enabled(request, True)

    @extend_schema(request=None, responses={200: WorkflowSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        """Disable scheduled fires; "run once" still works (operator)."""
        return self._set_enabled(request, False)

    @extend_schema(responses={200: VersionSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=None)
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """List the workflow's versions, newest first."""
        workflow = self.get_object()
        queryset = (
            scoped(request.user, WorkflowVersion)
            .filter(workflow=workflow)
            .select_related("created_by")
            .order_by("-number")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(VersionSerializer(page, many=True).data)

    @extend_schema(responses={200: VersionDetailSerializer}, filters=False)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>[0-9]{1,9})", filterset_class=None)
    def version(self, request: Request, pk: str | None = None, number: str = "0") -> Response:
        """Show one version's definition (secrets masked)."""
        workflow = self.get_object()
        version = scoped(request.user, WorkflowVersion).filter(workflow=workflow, number=int(number)).first()
        if version is None:
            raise Http404
        return Response(VersionDetailSerializer(version).data)


# --- tasks ------------------------------------------------------------------------------------


class TaskDocumentSerializer(serializers.Serializer):
    """A standalone task (SPEC §2/§10 task fields plus `trigger`); validated by the task parser."""

    team = serializers.CharField(max_length=64, required=False, help_text="Required on create: one of your teams.")
    name = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(kinds.kind_choices())
    config = serializers.DictField()
    description = serializers.CharField(required=False, allow_blank=True)
    timeout_seconds = serializers.IntegerField(required=False, min_value=1)
    retries = serializers.IntegerField(required=False, min_value=0)
    retry_interval_seconds = serializers.IntegerField(required=False, min_value=0)
    retry_backoff = serializers.BooleanField(required=False)
    queue = serializers.CharField(required=False, max_length=64)
    trigger = serializers.JSONField(required=False)


class TaskWorkflowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TaskSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name", read_only=True)
    team_id = serializers.IntegerField(read_only=True)
    workflow = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    trigger = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = ["id", "name", "team", "team_id", "workflow", "kind", "config", "description", "timeout_seconds",
                  "retries", "retry_interval_seconds", "retry_backoff", "queue", "trigger", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(TaskWorkflowSerializer(allow_null=True))
    def get_workflow(self, task: Task) -> dict[str, Any] | None:
        workflow = task.workflow
        return {"id": workflow.pk, "name": workflow.name} if workflow is not None else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_config(self, task: Task) -> dict[str, Any]:
        return secrets.mask(task.config)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_trigger(self, task: Task) -> dict[str, Any]:
        return task_document_of(task)["trigger"]


class TaskFilter(django_filters.FilterSet):
    team = ScopedModelChoiceFilter(model=Team, help_text="A team id (of your teams).")
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=64)
    kind = django_filters.ChoiceFilter(choices=kinds.kind_choices)
    standalone = django_filters.BooleanFilter(
        field_name="node", lookup_expr="isnull", help_text="Only tasks in no workflow."
    )

    class Meta:
        model = Task
        fields: list[str] = []


@extend_schema_view(
    create=extend_schema(request=TaskDocumentSerializer, responses={201: TaskSerializer}),
    update=extend_schema(request=TaskDocumentSerializer, responses={200: TaskSerializer}),
    partial_update=extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": True}}, responses={200: TaskSerializer}
    ),
    destroy=extend_schema(description="Delete a standalone task that has never run (409 otherwise)."),
)
class TaskViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Tasks of your teams; tasks inside a workflow are read-only here (edit the workflow)."""

    scope_model = Task
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    ordering = ["name", "id"]
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        return super().get_queryset().select_related("team", "node__workflow")

    def lookup_value(self, value: str) -> Any:
        return int(value)

    def create(self, request: Request, *args, **kwargs) -> Response:
        document = dict(_object(request.data))
        team = scoped_team(request, document.pop("team", None), Role.EDITOR)
        name = document.get("name")
        if isinstance(name, str) and Task.objects.filter(team=team, name=name).exists():
            raise ValidationError({"name": [f"Team {team.name} already has a task named {name!r}."]})
        _check_kind_permissions(request, team, [document])
        with transaction.atomic():
            task = task_save(team=team, document=document, user=_actor(request))
            audit_record(user=request.user, action="task.create", obj=task, request=request, after={"kind": task.kind})
        return Response(TaskSerializer(self._fresh(task.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        task = self.get_object()
        self.require_role(task, Role.EDITOR)
        document = dict(_object(request.data))
        if kwargs.get("partial"):
            current = task_document_of(task)
            if current.get("trigger", {}).get("type") == "workflow":
                current.pop("trigger")
            document = {**current, **document}
        if "team" in document and document.pop("team") != task.team.name:
            raise ValidationError({"team": ["A task cannot move to another team."]})
        if document.setdefault("name", task.name) != task.name:
            raise ValidationError({"name": ["The name identifies the task; it cannot change."]})
        if task.workflow is not None:
            raise Conflict(f"Task {task.name!r} belongs to workflow {task.workflow.name!r}; edit it there.")
        _check_kind_permissions(request, task.team, [document])
        with transaction.atomic():
            saved = task_save(team=task.team, document=document, user=_actor(request))
            audit_record(user=request.user, action="task.update", obj=saved, request=request,
                         before={"kind": task.kind}, after={"kind": saved.kind})  # fmt: skip
        return Response(TaskSerializer(self._fresh(task.pk)).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        task = self.get_object()
        self.require_role(task, Role.EDITOR)
        refusal = task_delete_refusal(task)
        if refusal is not None:
            raise Conflict(refusal)
        try:
            with transaction.atomic():
                audit_record(user=request.user, action="task.delete", obj=task, request=request,
                             before={"name": task.name, "kind": task.kind})  # fmt: skip
                task.delete()
        except ProtectedError as exc:
            raise Conflict(f"Task {task.name!r} is still referenced and cannot be deleted.") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, pk: int) -> Task:
        return Task.objects.select_related("team", "node__workflow").get(pk=pk)
