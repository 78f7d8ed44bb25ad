"""REST API for run-time records: run once, batches (search, filters, stop, re-run, resume), node runs, cron preview.

Every action calls the same services as the admin and the CLI, with the request's actor (the
services check the operator role and audit); rows come from `access.scoping.scoped`, so
another team's batch is 404 and its id in a filter is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import django_filters
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.api import ScopedModelChoiceFilter, ScopedViewSetMixin, StrictSerializer, api_actor
from access.http import TriggerThrottle, UtcIsoDateTimeFilter
from baton.errors import BatonError
from baton.text import message_of, translated
from executions import lifecycle
from executions.models import Attempt, Batch, Event, NodeRun, batch_trigger_choices, normalize_batch_id
from executions.selectors import batches_matching, node_run_output_since
from executions.states import BatchStatus, NodeStatus
from workflows.models import Task, Workflow
from workflows.quartz import InvalidCronExpression, QuartzCron, parse_start

MAX_PREVIEW = 100
PLANNED_ACTIONS = ("rerun", "resume", "rerun_from", "mark_succeeded", "skip")
BULK_ACTIONS = ("stop", "rerun", "resume")


# --- serializers ------------------------------------------------------------------------------


class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BatchSerializer(serializers.ModelSerializer):
    workflow = serializers.SerializerMethodField()
    task = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    rerun_of = serializers.CharField(source="rerun_of_id", read_only=True, allow_null=True)
    duration_seconds = serializers.SerializerMethodField()
    context = serializers.JSONField(
        read_only=True,
        help_text='What the references read: {"params": {name: value}, "batch": {"workflow", "fire_time", '
        '"fire_date", "business_date"}}, resolved at the start; a re-run keeps it.',
    )

    class Meta:
        model = Batch
        fields = [
            "id",
            "workflow",
            "task",
            "version",
            "status",
            "trigger",
            "scheduled_for",
            "rerun_of",
            "created_by",
            "created_at",
            "finished_at",
            "deadline_at",
            "stop_requested_at",
            "stop_reason",
            "paused_at",
            "duration_seconds",
            "context",
        ]
        read_only_fields = fields

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_workflow(self, batch: Batch) -> dict[str, Any] | None:
        return {"id": batch.workflow_id, "name": batch.workflow.name} if batch.workflow_id else None

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_task(self, batch: Batch) -> dict[str, Any] | None:
        return {"id": batch.task_id, "name": batch.task.name} if batch.task_id else None

    def get_version(self, batch: Batch) -> int | None:
        return batch.version.number if batch.version_id else None

    def get_created_by(self, batch: Batch) -> str | None:
        return batch.created_by.get_username() if batch.created_by_id else None

    def get_duration_seconds(self, batch: Batch) -> float | None:
        return (batch.finished_at - batch.created_at).total_seconds() if batch.finished_at else None


class NodeRunSummarySerializer(serializers.ModelSerializer):
    batch = serializers.CharField(source="batch_id", read_only=True)

    class Meta:
        model = NodeRun
        fields = [
            "id",
            "batch",
            "node_key",
            "node_type",
            "task_name",
            "queue",
            "status",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "outputs",
            "set_by",
            "set_reason",
        ]
        read_only_fields = fields


class OutputQuerySerializer(StrictSerializer):
    offset = serializers.IntegerField(
        min_value=0, max_value=2**62, default=0, help_text="Bytes already read (the previous answer's `offset`)."
    )


class LiveOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    attempt = serializers.IntegerField(help_text="The attempt the output is of; another one starts again at 0.")
    output = serializers.CharField(help_text="The output after the offset (a cut middle is one marker line).")
    offset = serializers.IntegerField(help_text="Where the next read starts.")


class RunRequestSerializer(StrictSerializer):
    params = serializers.DictField(
        required=False,
        help_text="Values of the workflow's declared parameters (name → JSON value); the others take their defaults.",
    )


def _params_in(request: Request) -> dict[str, Any] | None:
    """Return the parameters' values a run or re-run body gives (an empty body gives none)."""
    body = RunRequestSerializer(data=request.data if request.data else {})
    body.is_valid(raise_exception=True)
    return body.validated_data.get("params")


class BatchDetailSerializer(BatchSerializer):
    node_runs = NodeRunSummarySerializer(many=True, read_only=True)

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "node_runs"]
        read_only_fields = fields


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "status", "worker", "started_at", "finished_at", "output", "detail"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "node_key", "from_status", "to_status", "message", "at"]
        read_only_fields = fields


class NodeRunDetailSerializer(NodeRunSummarySerializer):
    attempt_list = AttemptSerializer(source="attempt_set", many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)

    class Meta(NodeRunSummarySerializer.Meta):
        fields = [
            *NodeRunSummarySerializer.Meta.fields,
            "worker",
            "heartbeat_at",
            "retry_at",
            "output",
            "detail",
            "attempt_list",
            "events",
        ]
        read_only_fields = fields


class RerunPlanSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=PLANNED_ACTIONS, help_text="The recovery action planned.")
    node = serializers.CharField(allow_null=True, help_text="The node it acts on, if any.")
    allowed = serializers.BooleanField(help_text="Whether the action is allowed now (see `refusal`).")
    refusal = serializers.CharField(allow_null=True, help_text="Why it is not allowed now, or null.")
    version = serializers.IntegerField(allow_null=True, help_text="The workflow version it runs on.")
    version_choice = serializers.ChoiceField(choices=lifecycle.VERSIONS, help_text="original or current.")
    new_batch = serializers.BooleanField(help_text="Whether it starts a new batch (else the batch goes on).")
    kept = serializers.ListField(child=serializers.CharField(), help_text="Task nodes that keep their result.")
    kept_states = serializers.DictField(child=serializers.CharField(), help_text="The result each kept node keeps.")
    will_run = serializers.ListField(
        child=serializers.CharField(), help_text="Task nodes that will run (unless what runs first skips them)."
    )
    will_skip = serializers.ListField(child=serializers.CharField(), help_text="Task nodes that will be skipped.")
    running = serializers.ListField(
        child=serializers.CharField(), help_text="Task nodes still running, left to finish."
    )


class RerunRequestSerializer(StrictSerializer):
    params = serializers.DictField(required=False, help_text="Changed parameter values (a re-run from the start only).")
    from_node = serializers.CharField(required=False, help_text="Re-run this node and its descendants; keep the rest.")
    version = serializers.ChoiceField(
        choices=lifecycle.VERSIONS,
        default=lifecycle.ORIGINAL,
        help_text="The batch's version (default) or the current one.",
    )


class ResumeRequestSerializer(StrictSerializer):
    params = serializers.DictField(
        required=False, help_text="Refused: a resume keeps the original's values (its kept nodes ran with them)."
    )
    version = serializers.ChoiceField(
        choices=lifecycle.VERSIONS,
        default=lifecycle.ORIGINAL,
        help_text="The batch's version (default) or the current one.",
    )


class NodeActionSerializer(StrictSerializer):
    node = serializers.CharField(help_text="The node's key.")
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Why (required to mark a node succeeded)."
    )


class BulkRequestSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    batches = serializers.ListField(child=serializers.CharField(max_length=20), min_length=1, max_length=100)


class BulkResultSerializer(serializers.Serializer):
    batch = serializers.CharField()
    ok = serializers.BooleanField()
    new_batch = serializers.CharField(allow_null=True, help_text="The batch a re-run or resume started.")
    status = serializers.CharField(allow_null=True, help_text="The batch's status after the action.")
    error = serializers.CharField(allow_null=True, help_text="Why it was refused, or null.")


class BulkAnswerSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    results = BulkResultSerializer(many=True, help_text="What became of each batch, in the order given.")


# --- filters ----------------------------------------------------------------------------------


class BatchFilter(django_filters.FilterSet):
    id = django_filters.CharFilter(method="filter_id", max_length=20, help_text="Part of a batch id, typed loosely.")
    # distinct=False: a filter on the batch's own column repeats no row, and SELECT DISTINCT over every
    # column sorted all the matching batches (0.4 s for `?status=failed` among a million).
    status = django_filters.MultipleChoiceFilter(choices=BatchStatus.choices, distinct=False)
    trigger = django_filters.MultipleChoiceFilter(
        choices=batch_trigger_choices, distinct=False, help_text="What started the batch."
    )
    workflow = ScopedModelChoiceFilter(model=Workflow, help_text="A workflow id (of your teams).")
    task = ScopedModelChoiceFilter(model=Task, help_text="A standalone task id (of your teams).")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    finished_after = UtcIsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = UtcIsoDateTimeFilter(field_name="finished_at", lookup_expr="lt")

    class Meta:
        model = Batch
        fields: list[str] = []

    def filter_id(self, queryset, name, value):
        return batches_matching(value, queryset)


class NodeRunFilter(django_filters.FilterSet):
    batch = ScopedModelChoiceFilter(model=Batch, prepare=normalize_batch_id, help_text="A batch id (of your teams).")
    status = django_filters.MultipleChoiceFilter(choices=NodeStatus.choices, distinct=False)

    class Meta:
        model = NodeRun
        fields: list[str] = []


# --- views ------------------------------------------------------------------------------------


def _batch_queryset(queryset):
    return queryset.select_related("workflow", "task", "version", "created_by")


class BatchViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Batches of your teams' workflows (and standalone tasks), newest first."""

    scope_model = Batch
    serializer_class = BatchSerializer
    filterset_class = BatchFilter
    ordering_fields = ["created_at", "finished_at", "status", "id"]
    ordering = ["-created_at", "id"]
    lookup_value_regex = "[0-9A-Za-z-]{1,20}"
    throttle_scope = "trigger"  # used by the actions that carry TriggerThrottle (stop, rerun, resume)

    def get_queryset(self):
        queryset = _batch_queryset(super().get_queryset())
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("node_runs")
        return queryset

    def get_serializer_class(self):
        detailed = ("retrieve", "stop", "rerun", "resume", "pause", "go_on", "mark_succeeded", "skip")
        return BatchDetailSerializer if self.action in detailed else BatchSerializer

    def lookup_value(self, value: str) -> Any:
        return normalize_batch_id(value)

    def _detail(self, pk: str) -> dict[str, Any]:
        batch = _batch_queryset(Batch.objects).prefetch_related("node_runs").get(pk=pk)
        return BatchDetailSerializer(batch).data

    @extend_schema(request=None, responses={200: BatchDetailSerializer}, filters=False)
    @action(detail=True, methods=["post"], throttle_classes=[TriggerThrottle], filterset_class=None)
    def stop(self, request: Request, pk: str | None = None) -> Response:
        """Stop a running batch (operator); 409 when it is no longer running."""
        batch = self.get_object()
        lifecycle.batch_stop(batch_id=batch.pk, actor=api_actor(request))
        return Response(self._detail(batch.pk))

    @extend_schema(request=RerunRequestSerializer, responses={201: BatchDetailSerializer}, filters=False)
    @action(detail=True, methods=["post"], throttle_classes=[TriggerThrottle], filterset_class=None)
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        """Re-run a finished batch as a new linked batch (operator): from the start, or from `from_node` keeping the rest."""
        batch = self.get_object()
        body = RerunRequestSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        new = lifecycle.batch_rerun(
            batch_id=batch.pk,
            actor=api_actor(request),
            values=body.validated_data.get("params"),
            from_node=body.validated_data.get("from_node"),
            version=body.validated_data["version"],
        )
        return Response(self._detail(new.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=ResumeRequestSerializer, responses={201: BatchDetailSerializer}, filters=False)
    @action(detail=True, methods=["post"], throttle_classes=[TriggerThrottle], filterset_class=None)
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Resume a finished batch from failure: keep its succeeded nodes, run the rest (operator)."""
        batch = self.get_object()
        body = ResumeRequestSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        new = lifecycle.batch_rerun(
            batch_id=batch.pk,
            actor=api_actor(request),
            resume=True,
            values=body.validated_data.get("params"),
            version=body.validated_data["version"],
        )
        return Response(self._detail(new.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: BatchDetailSerializer}, filters=False)
    @action(detail=True, methods=["post"], throttle_classes=[TriggerThrottle], filterset_class=None)
    def pause(self, request: Request, pk: str | None = None) -> Response:
        """Pause a running batch (operator): no node starts until it continues; running nodes finish."""
        batch = self.get_object()
        lifecycle.batch_pause(batch_id=batch.pk, actor=api_actor(request))
        return Response(self._detail(batch.pk))

    @extend_schema(request=None, responses={200: BatchDetailSerializer}, filters=False)
    @action(
        detail=True,
        methods=["post"],
        url_path="continue",
        url_name="continue",
        throttle_classes=[TriggerThrottle],
        filterset_class=None,
    )
    def go_on(self, request: Request, pk: str | None = None) -> Response:
        """Continue a paused batch (operator): what became ready while paused starts now."""
        batch = self.get_object()
        lifecycle.batch_continue(batch_id=batch.pk, actor=api_actor(request))
        return Response(self._detail(batch.pk))

    @extend_schema(request=NodeActionSerializer, responses={200: BatchDetailSerializer}, filters=False)
    @action(
        detail=True,
        methods=["post"],
        url_path="mark-succeeded",
        throttle_classes=[TriggerThrottle],
        filterset_class=None,
    )
    def mark_succeeded(self, request: Request, pk: str | None = None) -> Response:
        """Mark a failed, timed-out or stopped node succeeded, with a reason (operator).

        A running batch goes on (200, the batch); an ended one is continued by a new batch (201, the new batch).
        """
        batch = self.get_object()
        body = NodeActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        after = lifecycle.node_mark_succeeded(
            batch_id=batch.pk,
            node_key=body.validated_data["node"],
            actor=api_actor(request),
            reason=body.validated_data["reason"],
        )
        code = status.HTTP_201_CREATED if after.pk != batch.pk else status.HTTP_200_OK
        return Response(self._detail(after.pk), status=code)

    @extend_schema(request=NodeActionSerializer, responses={200: BatchDetailSerializer}, filters=False)
    @action(detail=True, methods=["post"], throttle_classes=[TriggerThrottle], filterset_class=None)
    def skip(self, request: Request, pk: str | None = None) -> Response:
        """Skip a pending node of a running or paused batch for this run (operator); its downstream follows the edges."""
        batch = self.get_object()
        body = NodeActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lifecycle.node_skip(
            batch_id=batch.pk,
            node_key=body.validated_data["node"],
            actor=api_actor(request),
            reason=body.validated_data["reason"],
        )
        return Response(self._detail(batch.pk))

    @extend_schema(request=BulkRequestSerializer, responses={200: BulkAnswerSerializer}, filters=False)
    @action(detail=False, methods=["post"], throttle_classes=[TriggerThrottle], filterset_class=None)
    def bulk(self, request: Request) -> Response:
        """Stop, re-run or resume several batches (operator on each): one result per batch, each audited on its own."""
        body = BulkRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        queryset = self.get_queryset()
        results = []
        for given in body.validated_data["batches"]:
            results.append(_bulk_one(queryset, given, body.validated_data["action"], api_actor(request)))
        return Response({"action": body.validated_data["action"], "results": results})

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, enum=PLANNED_ACTIONS, description="The action to plan (default rerun)."),
            OpenApiParameter("resume", bool, description="Plan a resume from failure (the same as action=resume)."),
            OpenApiParameter("node", str, description="The node of rerun_from, mark_succeeded or skip."),
            OpenApiParameter("version", str, enum=lifecycle.VERSIONS, description="original (default) or current."),
        ],
        responses={200: RerunPlanSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="rerun-plan", filterset_class=None)
    def rerun_plan(self, request: Request, pk: str | None = None) -> Response:
        """Tell what a recovery action would do: which task nodes run, are kept and are skipped, on which version."""
        batch = self.get_object()
        query = request.query_params
        resume = serializers.BooleanField().to_internal_value(query.get("resume", "false"))
        planned = query.get("action") or ("resume" if resume else "rerun")
        if planned not in PLANNED_ACTIONS:
            raise ValidationError(
                {"action": [_("choose one of %(choices)s") % {"choices": ", ".join(PLANNED_ACTIONS)}]}
            )
        node = query.get("node") or None
        version = query.get("version") or lifecycle.ORIGINAL
        if version not in lifecycle.VERSIONS:
            raise ValidationError({"version": [_("choose original or current")]})
        if planned in ("rerun_from", "mark_succeeded", "skip") and node is None:
            raise ValidationError({"node": [_("name the node the action is for")]})
        plan = None
        if planned in ("mark_succeeded", "skip") and node is not None:
            refusal = lifecycle.action_refusal(planned, batch, node)
            if refusal is None:
                plan = lifecycle.action_plan(planned, batch, node)
        else:
            resume, from_node = planned == "resume", node if planned == "rerun_from" else None
            refusal = lifecycle.batch_rerun_refusal(batch=batch, resume=resume, from_node=from_node, version=version)
            if refusal is None or from_node is None:
                plan = lifecycle.rerun_plan(batch=batch, resume=resume, from_node=from_node, version=version)
        answer: dict[str, Any] = {"action": planned, "node": node, "allowed": refusal is None, "refusal": refusal}
        if plan is None:
            answer |= {
                "version": None,
                "version_choice": version,
                "new_batch": planned in ("rerun", "resume", "rerun_from"),
                "kept": [],
                "kept_states": {},
                "will_run": [],
                "will_skip": [],
                "running": [],
            }
        else:
            answer |= plan.as_dict()
        return Response(answer)


def _bulk_one(queryset: Any, given: str, what: str, actor: Any) -> dict[str, Any]:
    """Apply one bulk action to one batch; say what became of it (a refusal is this batch's error, not the request's)."""
    result: dict[str, Any] = {"batch": given, "ok": False, "new_batch": None, "status": None, "error": None}
    batch = queryset.filter(pk=normalize_batch_id(given)).first()
    if batch is None:
        result["error"] = _("no batch %(batch)r") % {"batch": given}
        return result
    result["batch"] = batch.pk
    try:
        if what == "stop":
            after = lifecycle.batch_stop(batch_id=batch.pk, actor=actor)
        else:
            after = lifecycle.batch_rerun(batch_id=batch.pk, actor=actor, resume=what == "resume")
            result["new_batch"] = after.pk
    except BatonError as exc:
        result["error"] = translated(message_of(exc), _)
        result["status"] = batch.status
        return result
    result["ok"], result["status"] = True, after.status
    return result


class NodeRunViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Node runs of your teams' batches; the detail has the output, attempts and events."""

    scope_model = NodeRun
    serializer_class = NodeRunSummarySerializer
    filterset_class = NodeRunFilter
    ordering_fields = ["id", "started_at", "finished_at"]
    ordering = ["id"]
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("attempt_set", "events")
        return queryset

    def get_serializer_class(self):
        if self.action == "output":
            return LiveOutputSerializer
        return NodeRunDetailSerializer if self.action == "retrieve" else NodeRunSummarySerializer

    def lookup_value(self, value: str) -> Any:
        return int(value)

    @extend_schema(parameters=[OutputQuerySerializer], responses={200: LiveOutputSerializer})
    @action(detail=True, methods=["get"], url_path="output", filterset_class=None)
    def output(self, request: Request, pk: str | None = None) -> Response:
        """The output after `offset`, also while the task runs (written about once a second): poll to follow it."""
        query = OutputQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return Response(node_run_output_since(self.get_object(), query.validated_data["offset"]))


class WorkflowRunViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """Run once: start a batch of the workflow's current version now (operator; SPEC §6)."""

    scope_model = Workflow
    serializer_class = BatchDetailSerializer
    throttle_classes = [TriggerThrottle]
    throttle_scope = "trigger"
    lookup_value_regex = "[0-9]{1,18}"

    def lookup_value(self, value: str) -> Any:
        return int(value)

    @extend_schema(
        request=RunRequestSerializer, responses={201: BatchDetailSerializer}, operation_id="workflows_run_create"
    )
    def run(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        values = _params_in(request)
        batch = lifecycle.batch_start(workflow=workflow, actor=api_actor(request), values=values)
        batch = _batch_queryset(Batch.objects).prefetch_related("node_runs").get(pk=batch.pk)
        return Response(BatchDetailSerializer(batch).data, status=status.HTTP_201_CREATED)


class TaskRunViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """A standalone task's "run once" (operator) and its runs: batches of one node (SPEC §5)."""

    scope_model = Task
    serializer_class = BatchSerializer
    throttle_scope = "trigger"
    lookup_value_regex = "[0-9]{1,18}"

    def lookup_value(self, value: str) -> Any:
        return int(value)

    def get_throttles(self):
        return [TriggerThrottle()] if self.action == "run" else super().get_throttles()

    @extend_schema(request=None, responses={201: BatchDetailSerializer}, operation_id="tasks_run_create")
    def run(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        batch = lifecycle.task_run_start(task=task, actor=api_actor(request))
        batch = _batch_queryset(Batch.objects).prefetch_related("node_runs").get(pk=batch.pk)
        return Response(BatchDetailSerializer(batch).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: BatchSerializer(many=True)}, operation_id="tasks_runs_list")
    def runs(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        page = self.paginate_queryset(_batch_queryset(Batch.objects.filter(task=task)).order_by("-created_at"))
        return self.get_paginated_response(BatchSerializer(page, many=True).data)


class CronPreviewQuerySerializer(StrictSerializer):
    expression = serializers.CharField(max_length=200, help_text="A Quartz cron expression (6 or 7 fields).")
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="An IANA time zone.")
    after = serializers.CharField(
        required=False,
        max_length=64,
        help_text="ISO-8601 exclusive start (default now); naive means wall time in the zone.",
    )
    count = serializers.IntegerField(min_value=1, max_value=MAX_PREVIEW, default=5)


class CronPreviewSerializer(serializers.Serializer):
    expression = serializers.CharField()
    timezone = serializers.CharField()
    after = serializers.DateTimeField()
    fire_times = serializers.ListField(child=serializers.DateTimeField())


def _parse_after(text: str | None, zone: ZoneInfo) -> datetime:
    if not text:
        return timezone.now().astimezone(zone)
    try:
        return parse_start(text, zone)
    except ValueError as exc:
        raise ValidationError({"after": [translated(message_of(exc), _)]}) from exc


class CronPreviewView(APIView):
    """The next fire times of a Quartz cron expression, evaluated like Quartz 2.x in the given zone (SPEC §5)."""

    @extend_schema(parameters=[CronPreviewQuerySerializer], responses={200: CronPreviewSerializer})
    def get(self, request: Request) -> Response:
        query = CronPreviewQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        try:
            cron = QuartzCron(data["expression"], data["timezone"])
        except InvalidCronExpression as exc:
            field = "timezone" if "time zone" in str(exc).lower() else "expression"
            raise ValidationError({field: [translated(exc.message, _)]}) from exc
        after = _parse_after(data.get("after"), cron.zone)
        try:
            times = cron.next_fire_times(after, data["count"])
        except (OverflowError, ValueError) as exc:
            message = _("cannot compute fire times after %(after)s: %(reason)s")
            raise ValidationError(
                {"after": [message % {"after": after.isoformat(), "reason": translated(message_of(exc), _)}]}
            ) from exc
        return Response(
            {
                "expression": data["expression"],
                "timezone": data["timezone"],
                "after": after.isoformat(),
                "fire_times": [t.isoformat() for t in times],
            }
        )
