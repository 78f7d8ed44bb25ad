from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Alerts")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from alerts.models import Rule
        from alerts.outbox import batches_forget_on_signal, fires_decide_on_signal, rule_teams_forget, team_has_rules
        from executions import dispatch
        from executions.signals import batches_deleting, fires_recorded

        fires_recorded.connect(fires_decide_on_signal, dispatch_uid="alerts.fires_decide")
        batches_deleting.connect(batches_forget_on_signal, dispatch_uid="alerts.batches_forget")
        # A batch's end wakes the alerts task only if its team has a rule.
        dispatch.alert_wanted = team_has_rules
        post_save.connect(rule_teams_forget, sender=Rule, dispatch_uid="alerts.rule_teams_saved")
        post_delete.connect(rule_teams_forget, sender=Rule, dispatch_uid="alerts.rule_teams_deleted")
