"""Shared API pieces: the scoped viewset base, strict serializers, the error schema, the audit endpoint."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from access.actors import API, Actor, request_actor
from access.audit import audit_denied
from access.http import UtcIsoDateTimeFilter
from access.models import AuditEntry
from access.scoping import exists_unscoped, scoped
from workflows.models import Team

ERROR_STATUSES = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "429")


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        help_text="Where the problem is, e.g. `nodes[2].task.config.script`; empty for the whole body."
    )
    message = serializers.CharField()
    nodes = serializers.ListField(child=serializers.CharField(), required=False)
    edges = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(serializers.Serializer):
    """The one error shape of every API response with a status of 400 or more."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True)


class BatonAutoSchema(AutoSchema):
    """Document the shared error responses on every operation."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in ERROR_STATUSES:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = "An error in the shared error shape."
        return responses


class StrictSerializer(serializers.Serializer):
    """A serializer that refuses fields it does not know instead of ignoring them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields), key=str)
            if unknown:
                raise ValidationError({str(name): ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def api_actor(request: Any) -> Actor:
    """Return who acts in an API request: its user or token, through the API, from its address."""
    return request_actor(request, API)


class ScopedViewSetMixin:
    """Rows come from `scoped(user, scope_model)`; another team's row is 404 and the attempt is audited."""

    scope_model: Any = None

    def get_queryset(self):
        return scoped(self.request.user, self.scope_model)

    def get_object(self):
        queryset = self.filter_queryset(self.get_queryset()) if self.action in ("list",) else self.get_queryset()
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        value = self.lookup_value(self.kwargs[lookup_url_kwarg])
        obj = queryset.filter(**{self.lookup_field: value}).first()
        if obj is None:
            foreign = exists_unscoped(self.scope_model, **{self.lookup_field: value})
            if foreign is not None:
                audit_denied(actor=api_actor(self.request), obj=foreign, what=self.action or "")
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj

    def lookup_value(self, value: str) -> Any:
        return value


# --- filters on scoped relations -------------------------------------------------------------


class ScopedChoiceField(forms.ModelChoiceField):
    """A choice among the user's rows; a foreign id is refused like an unknown one, and audited."""

    def __init__(self, *args, on_foreign=None, prepare=None, **kwargs):
        self.on_foreign = on_foreign
        self.prepare = prepare
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if self.prepare is not None and isinstance(value, str) and value:
            value = self.prepare(value)
        try:
            return super().to_python(value)
        except forms.ValidationError:
            if self.on_foreign is not None and value not in self.empty_values:
                self.on_foreign(value)
            raise


class ScopedModelChoiceFilter(django_filters.ModelChoiceFilter):
    """Filter by the id of a row of `model` that the user may see (`scoped(user, model)`)."""

    field_class = ScopedChoiceField

    def __init__(self, *args, model, prepare=None, **kwargs):
        self.scope_model = model
        kwargs["queryset"] = lambda request: (
            scoped(request.user, model) if request is not None else model.objects.none()
        )
        if prepare is not None:
            kwargs["prepare"] = prepare
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            request = self.get_request()
            self.extra["on_foreign"] = lambda value: _deny_foreign(request, self.scope_model, value, self.field_name)
        return super().field


def _deny_foreign(request: Any, model: Any, value: Any, name: str) -> None:
    """Audit a filter that named another team's row (unknown ids are just invalid)."""
    foreign = exists_unscoped(model, pk=value)
    if foreign is not None and request is not None:
        audit_denied(actor=api_actor(request), obj=foreign, what=f"filter {name}")


# --- audit ---------------------------------------------------------------------------------


class AuditEntrySerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "team",
            "action",
            "count",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "source_address",
            "via",
        ]
        read_only_fields = fields


class AuditEntryFilter(django_filters.FilterSet):
    team = ScopedModelChoiceFilter(model=Team, help_text="A team id (of your teams).")
    action = django_filters.CharFilter()
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_label")
    after = UtcIsoDateTimeFilter(field_name="at", lookup_expr="gte")
    before = UtcIsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields: list[str] = []


class AuditEntryViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The audit trail of your teams (team admins; read-only)."""

    scope_model = AuditEntry
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    ordering_fields = ["at", "id"]
    ordering = ["-at", "-id"]
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        return super().get_queryset().select_related("team")
