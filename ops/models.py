"""Worker liveness: one row per Celery worker node, written by the worker itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """A Celery worker node (`worker@host`): the queues it consumes and when it last said it lives.

    The worker writes its row at start and every `BATON_WORKER_HEARTBEAT_SECONDS` from a thread of
    its main process (`ops.worker`), and marks it stopped at a clean shutdown. A database row, not
    Celery's broadcast `inspect`/`ping`, because the embedded filesystem broker has no broadcast.
    """

    name = models.CharField(_("name"), max_length=255, unique=True, help_text=_("The Celery node name."))
    hostname = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("process id"))
    queues = models.JSONField(_("queues"), default=list)
    concurrency = models.PositiveIntegerField(_("concurrency"), default=0)
    started_at = models.DateTimeField(_("started at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_alive(self, now: datetime | None = None) -> bool:
        """Say whether the worker runs: not stopped, and seen within three heartbeat intervals."""
        return self.stopped_at is None and self.last_seen_at >= alive_since(now)


def alive_since(now: datetime | None = None) -> datetime:
    """Return the oldest last-seen time of a worker that still counts as alive."""
    return (now or timezone.now()) - timedelta(seconds=3 * settings.BATON_WORKER_HEARTBEAT_SECONDS)
