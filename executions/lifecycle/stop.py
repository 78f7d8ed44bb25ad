"""Stopping: nothing starts any more, waiting runs stop, running ones are cancelled at their heartbeat."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.actors import Actor
from access.audit import audit_record
from access.policy import require
from baton.errors import NotFound, TransitionNotPossible
from baton.text import translated
from executions import actions, dispatch
from executions.lifecycle.advance import batch_advance, request_stop
from executions.models import Batch
from executions.states import BatchStatus
from executions.store import hop_store
from workflows.models import Role


def batch_stop(*, batch_id: str, actor: Actor, reason: str = BatchStatus.STOPPED) -> Batch:
    """Stop a running batch (an operator; the sweep with `reason` timed_out at its deadline); it ends once nothing runs."""
    subject = Batch.objects.select_related("workflow__team", "task__team").filter(pk=batch_id).first()
    if subject is None:
        raise NotFound(_("no batch %(batch)r") % {"batch": batch_id})
    require(actor, subject, Role.OPERATOR, _("Stopping batch %(batch)s") % {"batch": batch_id})
    store = hop_store()
    now = timezone.now()
    with transaction.atomic():
        batch = store.lock_batch(batch_id)
        state = actions.batch_state(
            batch.status, paused=batch.paused_at is not None, stopping=batch.stop_requested_at is not None
        )
        refused = actions.refusal(actions.STOP, state, batch=batch.pk)
        if refused is not None:
            raise TransitionNotPossible(translated(refused, _))
        if batch.stop_requested_at is None:
            request_stop(store, batch, reason, now, actor.user)
        dispatch.after_commit(batch_advance(store, batch, now))
        audit_record(
            actor=actor,
            action="batch.stop",
            obj=subject,
            before={"status": BatchStatus.RUNNING},
            after={"status": batch.status, "stop_requested": True},
        )
    return Batch.objects.get(pk=batch_id)
