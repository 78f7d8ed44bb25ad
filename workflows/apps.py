"""The definitions app."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowsConfig(AppConfig):
    """Teams, tasks, workflows, their versions and triggers."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "workflows"
    verbose_name = _("Definitions")
