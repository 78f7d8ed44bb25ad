"""Alerts in the API: channels (with `test`), rules, and the read-only alerts and delivery log; team-scoped."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access.api import ScopedModelChoiceFilter, ScopedViewSetMixin, api_actor
from alerts.models import Alert, Channel, Delivery, DeliveryStatus, Rule
from alerts.services import channel_delete, channel_save, channel_test, rule_delete, rule_save
from baton.errors import Invalid
from workflows import secrets


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid.at({"": "expected a JSON object"})
    return dict(value)


class ChannelSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="name", read_only=True)
    config = serializers.SerializerMethodField(help_text='Kind-specific; secrets shown as {"secret": "***"}.')

    class Meta:
        model = Channel
        fields = ["id", "team", "name", "kind", "config", "language", "enabled", "created_at", "updated_at"]
        read_only_fields = fields

    def get_config(self, channel: Channel) -> dict[str, Any]:
        return secrets.mask(channel.config)


class ChannelViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Where a team's alerts go. Writing needs the editor role; `test` sends a test message (operator)."""

    scope_model = Channel
    serializer_class = ChannelSerializer
    lookup_value_regex = "[0-9]{1,18}"
    ordering = ["id"]

    def get_queryset(self):
        return super().get_queryset().select_related("team")

    def create(self, request: Request, *args, **kwargs) -> Response:
        channel = channel_save(document=_object(request.data), actor=api_actor(request))
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        channel = channel_save(document=_object(request.data), actor=api_actor(request), channel=self.get_object())
        return Response(ChannelSerializer(channel).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        channel_delete(channel=self.get_object(), actor=api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ChannelTest", {"ok": serializers.BooleanField(), "error": serializers.CharField()}
        ),
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a test message through the channel now; answer whether it was delivered, and why not."""
        error = channel_test(channel=self.get_object(), actor=api_actor(request))
        return Response({"ok": error is None, "error": error})


class RuleSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="name", read_only=True)
    workflow = serializers.SlugRelatedField(slug_field="name", read_only=True)
    task = serializers.SlugRelatedField(slug_field="name", read_only=True)
    channels = serializers.SlugRelatedField(slug_field="name", read_only=True, many=True)
    owner = serializers.SlugRelatedField(
        source="created_by",
        slug_field="username",
        read_only=True,
        help_text="The user who made the rule: the stopped trigger ignores their own stops.",
    )
    deadline = serializers.TimeField(format="%H:%M", read_only=True, allow_null=True)

    class Meta:
        model = Rule
        fields = [
            "id",
            "team",
            "workflow",
            "task",
            "triggers",
            "channels",
            "running_longer_than",
            "running_long_factor",
            "running_long_history",
            "deadline",
            "start_within",
            "owner",
            "enabled",
            "muted_from",
            "muted_until",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RuleViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """What to tell which channels, per workflow or standalone task; neither is the team's default."""

    scope_model = Rule
    serializer_class = RuleSerializer
    lookup_value_regex = "[0-9]{1,18}"
    ordering = ["id"]

    def get_queryset(self):
        return super().get_queryset().select_related("team", "workflow", "task").prefetch_related("channels")

    def create(self, request: Request, *args, **kwargs) -> Response:
        rule = rule_save(document=_object(request.data), actor=api_actor(request))
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        rule = rule_save(document=_object(request.data), actor=api_actor(request), rule=self.get_object())
        return Response(RuleSerializer(rule).data)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        rule_delete(rule=self.get_object(), actor=api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliverySerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="name", read_only=True)
    batch = serializers.CharField(source="alert.batch_id", read_only=True, allow_null=True)
    fire = serializers.IntegerField(source="alert.fire_id", read_only=True, allow_null=True)
    trigger = serializers.CharField(source="alert.trigger", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "batch",
            "fire",
            "trigger",
            "channel",
            "status",
            "due_at",
            "attempts",
            "sent_at",
            "sent_with",
            "grouped",
            "last_error",
            "log",
        ]
        read_only_fields = fields


class DeliveryFilter(django_filters.FilterSet):
    channel = ScopedModelChoiceFilter(model=Channel, help_text="A channel id (of your teams).")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    batch = django_filters.CharFilter(field_name="alert__batch_id")

    class Meta:
        model = Delivery
        fields: list[str] = []


class DeliveryViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The delivery log: each alert to each channel, its attempts and each failure's reason (read-only)."""

    scope_model = Delivery
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    lookup_value_regex = "[0-9]{1,18}"
    ordering_fields = ["due_at", "id"]
    ordering = ["-due_at", "-id"]

    def get_queryset(self):
        return super().get_queryset().select_related("channel", "alert")


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "batch", "fire", "rule", "trigger", "muted", "created_at"]
        read_only_fields = fields


class AlertViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts decided: one per batch and rule, or per scheduled fire and rule (read-only)."""

    scope_model = Alert
    serializer_class = AlertSerializer
    lookup_value_regex = "[0-9]{1,18}"
    ordering = ["-created_at", "-id"]
