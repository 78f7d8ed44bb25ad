"""REST API for definitions: workflows (as SPEC §10 documents), their versions, standalone tasks.

Bodies are validated by the one parser and validator (`workflow_save_definition`, `task_save`);
serializers here only document shapes and render rows. Rows come from `access.scoping` (other
teams' rows are 404); the services check the role (403) and write the audit row, with the
request's actor.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.api import ScopedModelChoiceFilter, ScopedViewSetMixin, api_actor
from access.scoping import scoped
from workflows import kinds, secrets, triggers
from workflows.models import MisfirePolicy, OverlapPolicy, Task, Team, Workflow, WorkflowVersion
from workflows.services import (
    task_delete,
    task_document_of,
    task_save,
    version_export,
    workflow_delete,
    workflow_export,
    workflow_save_definition,
    workflow_set_enabled,
)


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(
            {"": [_("The body must be a JSON object, not %(type)s.") % {"type": type(value).__name__}]}
        )
    return value


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
        fields = [
            "id",
            "name",
            "team",
            "team_id",
            "description",
            "enabled",
            "trigger",
            "timeout_seconds",
            "overlap_policy",
            "misfire_policy",
            "version",
            "next_fire_at",
            "created_at",
            "updated_at",
        ]
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
        result = workflow_save_definition(document=document, actor=api_actor(request), create=True)
        return Response(WorkflowDetailSerializer(self._fresh(result.workflow.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        workflow = self.get_object()
        document = _object(request.data)
        if kwargs.get("partial"):
            current = workflow_export(workflow=workflow) if workflow.current_version_id else {}
            document = {**current, **document}
        workflow_save_definition(document=document, actor=api_actor(request), workflow=workflow)
        return Response(WorkflowDetailSerializer(self._fresh(workflow.pk)).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        workflow_delete(workflow=self.get_object(), actor=api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, pk: int) -> Workflow:
        return Workflow.objects.select_related("team", "current_version", "schedule").get(pk=pk)

    def _set_enabled(self, request: Request, enabled: bool) -> Response:
        workflow = self.get_object()
        workflow_set_enabled(workflow=workflow, enabled=enabled, actor=api_actor(request))
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
        fields = [
            "id",
            "name",
            "team",
            "team_id",
            "workflow",
            "kind",
            "config",
            "description",
            "timeout_seconds",
            "retries",
            "retry_interval_seconds",
            "retry_backoff",
            "queue",
            "trigger",
            "created_at",
            "updated_at",
        ]
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
        task = task_save(document=_object(request.data), actor=api_actor(request), create=True)
        return Response(TaskSerializer(self._fresh(task.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        task = self.get_object()
        document = dict(_object(request.data))
        if kwargs.get("partial"):
            current = task_document_of(task)
            if current.get("trigger", {}).get("type") == "workflow":
                current.pop("trigger")
            document = {**current, **document}
        task_save(document=document, actor=api_actor(request), task=task)
        return Response(TaskSerializer(self._fresh(task.pk)).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        task_delete(task=self.get_object(), actor=api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, pk: int) -> Task:
        return Task.objects.select_related("team", "node__workflow").get(pk=pk)
