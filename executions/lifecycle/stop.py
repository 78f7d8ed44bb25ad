"""Stopping: nothing starts any more, waiting runs stop, running ones are cancelled at their heartbeat."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from executions import dispatch
from executions.lifecycle.advance import batch_advance, request_stop
from executions.lifecycle.errors import TransitionNotPossible
from executions.models import Batch
from executions.states import BatchStatus
from executions.store import hop_store


def batch_stop(*, batch_id: str, reason: str = BatchStatus.STOPPED, user: Any = None) -> Batch:
    """Stop a running batch (`reason`: stopped, or timed_out for its deadline); it ends once nothing runs."""
    store = hop_store()
    now = timezone.now()
    with transaction.atomic():
        batch = store.lock_batch(batch_id)
        if batch.status != BatchStatus.RUNNING:
            raise TransitionNotPossible(f"batch {batch.pk} is {batch.status}, not running")
        if batch.stop_requested_at is None:
            request_stop(store, batch, reason, now, user)
        dispatch.after_commit(batch_advance(store, batch, now))
    return Batch.objects.get(pk=batch_id)
