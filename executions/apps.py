"""The run-time app."""

from __future__ import annotations

from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    """Batches, node runs, the engine and the Celery tasks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "executions"
    verbose_name = "Executions"

    def ready(self) -> None:
        """Register the built-in python callables."""
        from executions import builtins  # noqa: F401
