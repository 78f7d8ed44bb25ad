from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Alerts")

    def ready(self) -> None:
        from alerts.outbox import batches_forget_on_signal, fires_decide_on_signal
        from executions.signals import batches_deleting, fires_recorded

        fires_recorded.connect(fires_decide_on_signal, dispatch_uid="alerts.fires_decide")
        batches_deleting.connect(batches_forget_on_signal, dispatch_uid="alerts.batches_forget")
