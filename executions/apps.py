"""The run-time app."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExecutionsConfig(AppConfig):
    """Batches, node runs, the engine and the Celery tasks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "executions"
    verbose_name = _("Executions")

    def ready(self) -> None:
        """Register the built-in python callables; drop queued fires when a workflow's queue closes."""
        from executions import builtins  # noqa: F401
        from executions.scheduler import queued_fires_drop
        from workflows.signals import fire_queue_closed

        fire_queue_closed.connect(queued_fires_drop, dispatch_uid="executions.queued_fires_drop")
