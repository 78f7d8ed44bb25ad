"""URL configuration."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from access import preferences
from executions import live
from workflows import admin_settings, editor

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # The language switch (set_language keeps the choice in the language cookie) and the
    # catalogue the editor's and the batch page's scripts translate with (gettext() in JS).
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="baton_javascript_catalog"),
    # The DAG editor's and the live batch page's endpoints, before the admin's catch-all.
    path("admin/baton/workflows/validate/", admin.site.admin_view(editor.validate), name="baton_workflow_validate"),
    path("admin/baton/workflows/layout/", admin.site.admin_view(editor.auto_layout), name="baton_workflow_layout"),
    path("admin/baton/workflows/tasks/", admin.site.admin_view(editor.standalone_tasks), name="baton_standalone_tasks"),
    path(
        "admin/baton/workflows/<int:pk>/drawing/", admin.site.admin_view(editor.drawing), name="baton_workflow_drawing"
    ),
    path(
        "admin/baton/workflows/<int:pk>/diff/", admin.site.admin_view(editor.version_diff), name="baton_workflow_diff"
    ),
    path(
        "admin/baton/triggers/preview/",
        admin.site.admin_view(admin_settings.trigger_preview),
        name="baton_trigger_preview",
    ),
    path("admin/baton/time-zone/", admin.site.admin_view(preferences.set_time_zone), name="baton_set_time_zone"),
    path("admin/baton/batches/<str:pk>/state/", admin.site.admin_view(live.batch_state), name="baton_batch_state"),
    path(
        "admin/baton/batches/<str:pk>/nodes/<str:key>/",
        admin.site.admin_view(live.node_output),
        name="baton_batch_node_output",
    ),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
]

# Django's own 400 and 500 answers keep the API's JSON error shape under /api/.
handler400 = "access.http.bad_request"
handler500 = "access.http.server_error"
