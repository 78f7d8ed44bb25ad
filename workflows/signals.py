"""Signals the definitions app sends to the run-time app, which it must not import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction after which a workflow's queued fires may no longer start: it
# was disabled or deleted, lost its trigger, or left the `queue` overlap policy. Argument:
# `workflow`. The scheduler marks its queued fires dropped (executions.scheduler).
fire_queue_closed = Signal()
