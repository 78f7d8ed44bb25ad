"""The REST API's wiring: the `/api/v1/` router, the OpenAPI schema and the self-hosted docs."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from access.api import AuditEntryViewSet
from access.http import SelfHostedDocsMixin, json_not_found
from alerts.api import AlertViewSet, ChannelViewSet, DeliveryViewSet, RuleViewSet
from executions.api import BatchViewSet, CronPreviewView, NodeRunViewSet, TaskRunViewSet, WorkflowRunViewSet
from workflows.api import TaskViewSet, WorkflowViewSet


class RedocView(SelfHostedDocsMixin, SpectacularRedocView):
    """Redoc with local assets only (the stock template preloads web fonts from a CDN)."""

    template_name = "access/redoc.html"


class SwaggerView(SelfHostedDocsMixin, SpectacularSwaggerSplitView):
    """Swagger UI with local assets only; its start-up script is a URL of its own (no inline script)."""


class Router(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False


router = Router(trailing_slash=True)
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("tasks", TaskViewSet, basename="task")
router.register("batches", BatchViewSet, basename="batch")
router.register("node-runs", NodeRunViewSet, basename="node-run")
router.register("audit", AuditEntryViewSet, basename="audit-entry")
router.register("alert-channels", ChannelViewSet, basename="alert-channel")
router.register("alert-rules", RuleViewSet, basename="alert-rule")
router.register("alerts", AlertViewSet, basename="alert")
router.register("alert-deliveries", DeliveryViewSet, basename="alert-delivery")

v1 = [
    path("workflows/<int:pk>/run/", WorkflowRunViewSet.as_view({"post": "run"}), name="workflow-run"),
    re_path(r"^tasks/(?P<pk>[0-9]{1,18})/run/$", TaskRunViewSet.as_view({"post": "run"}), name="task-run"),
    re_path(r"^tasks/(?P<pk>[0-9]{1,18})/runs/$", TaskRunViewSet.as_view({"get": "runs"}), name="task-runs"),
    path("cron-preview/", CronPreviewView.as_view(), name="cron-preview"),
    *router.urls,
]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    re_path(r"^", json_not_found),  # any other /api/ URL: a 404 in the API's error shape
]
