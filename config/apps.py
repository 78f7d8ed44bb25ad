"""App configurations Baton adjusts: django-celery-beat's models appear under "System"."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_celery_beat.apps import BeatConfig


class SystemBeatConfig(BeatConfig):
    """django-celery-beat, shown as the installation's "System" (its entries run Baton's own machinery)."""

    verbose_name = _("System")
