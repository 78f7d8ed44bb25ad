from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    """Teams' access rules: API tokens, team-scoped querysets, role checks and the audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "access"
    verbose_name = _("access and audit")
