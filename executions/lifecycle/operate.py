"""An operator's recovery actions on a batch: mark a node succeeded, skip a pending node, pause and continue.

Each checks the role (operator or above), refuses with the allowed-actions table's reason
(`executions.actions`, the one place that says what is allowed when), changes the batch under
its row lock and is audited with the actor and the interface (`Actor.via`) in that
transaction. The engine decides what follows (`engine.mark_succeeded_states`,
`engine.continuation_states`, `engine.pause_states`, `engine.advance` with `hold`); the moves
only an operator makes go through `transitions.operator_transition`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.actors import Actor
from access.audit import audit_record
from access.policy import require
from baton.errors import Invalid, NotFound, TransitionNotPossible
from baton.text import translated
from executions import actions, dispatch, engine
from executions.lifecycle.advance import batch_advance, batch_blueprint
from executions.lifecycle.rerun import ORIGINAL, RerunPlan, batch_state_of, plan_of
from executions.lifecycle.start import workflow_batch_start
from executions.models import Batch, Event, NodeRun
from executions.states import BatchStatus, NodeStatus, TriggerKind
from executions.store import LockedBatch, hop_store
from executions.transitions import EventLog, operator_transition
from workflows.graph import TASK
from workflows.models import Role


def _batch(batch_id: str) -> Batch:
    batch = Batch.objects.select_related("workflow__team", "version", "task__team").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(_("no batch %(batch)r") % {"batch": batch_id})
    return batch


def _locked_state(locked: LockedBatch) -> str:
    return actions.batch_state(
        locked.status, paused=locked.paused_at is not None, stopping=locked.stop_requested_at is not None
    )


def action_refusal(action: str, batch: Batch, node_key: str | None = None) -> str | None:
    """Say why `action` is not allowed on the batch (and its node `node_key`) now, or None: the table's reason."""
    node_state = None
    if node_key is not None:
        found = batch.node_runs.filter(node_key=node_key).values_list("status", "node_type").first()
        if found is None:
            return _("batch %(batch)s has no node %(node)r") % {"batch": batch.pk, "node": node_key}
        node_state, node_type = found
        if node_type != TASK:
            return _("node %(node)r is a logic node; only a task node can be marked or skipped") % {"node": node_key}
    refused = actions.refusal(action, batch_state_of(batch), batch=batch.pk, node=node_key, node_state=node_state)
    if refused is not None:
        return translated(refused, _)
    if action == actions.MARK_SUCCEEDED and batch.status != BatchStatus.RUNNING:
        if batch.task_id is not None:
            return _("a task's run has nothing after its node to continue; re-run it")
        if batch.workflow.deleted_at is not None:
            return _("workflow %(name)s is deleted; it starts no new batch") % {"name": repr(batch.workflow.name)}
    return None


def _locked_node(store: Any, action: str, batch_id: str, node_key: str) -> tuple[LockedBatch, NodeRun]:
    """Lock the batch, read the node's run, and check the action again under the lock (the table's refusal)."""
    locked = store.lock_batch(batch_id)
    run = NodeRun.objects.get(batch_id=batch_id, node_key=node_key)
    refused = actions.refusal(action, _locked_state(locked), batch=batch_id, node=node_key, node_state=run.status)
    if refused is not None:
        raise TransitionNotPossible(translated(refused, _))
    return locked, run


def _check(action: str, batch: Batch, node_key: str | None = None) -> None:
    refused = action_refusal(action, batch, node_key)
    if refused is not None:
        raise TransitionNotPossible(refused)


def _held(batch_id: str) -> frozenset[str]:
    """Return the nodes an operator skipped: a mark succeeded does not reopen them."""
    rows = NodeRun.objects.filter(batch_id=batch_id, status=NodeStatus.SKIPPED).exclude(set_by="")
    return frozenset(rows.values_list("node_key", flat=True))


def _reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise Invalid.at({"reason": _("give a reason: it is recorded with the node and in the audit trail")})
    if len(reason) > 2000:
        raise Invalid.at({"reason": _("the reason is longer than 2000 characters")})
    return reason


def action_plan(action: str, batch: Batch, node_key: str) -> RerunPlan:
    """Tell what marking `node_key` succeeded, or skipping it, would do (the caller checked it is allowed)."""
    blueprint = batch_blueprint(batch)
    states = dict(batch.node_runs.values_list("node_key", "status"))
    number = batch.version.number if batch.version_id is not None else None
    if action == actions.SKIP:
        start = {**states, node_key: engine.SKIPPED}
        return plan_of(blueprint, start, version=number, choice=ORIGINAL, new_batch=False, skipping=node_key)
    if batch.status == BatchStatus.RUNNING:
        start = {**states, **engine.mark_succeeded_states(blueprint.graph, states, node_key, _held(batch.pk))}
        return plan_of(blueprint, start, version=number, choice=ORIGINAL, new_batch=False)
    start = engine.continuation_states(blueprint.graph, states, node_key, _held(batch.pk))
    return plan_of(blueprint, start, version=number, choice=ORIGINAL, new_batch=True)


def node_mark_succeeded(*, batch_id: str, node_key: str, actor: Actor, reason: str) -> Batch:
    """Mark a failed, timed-out or stopped task node succeeded (an operator, with a reason); return the batch that goes on.

    In a running (or paused) batch the node's success edges fire from now on and the batch goes
    on. In an ended batch a new batch continues it (a resume): every other node keeps its result,
    this one is kept as succeeded. The node keeps its attempts and output; `set_by` says who.
    """
    subject = _batch(batch_id)
    require(
        actor,
        subject,
        Role.OPERATOR,
        _("Marking node %(node)s of batch %(batch)s succeeded") % {"node": node_key, "batch": subject.pk},
    )
    reason = _reason(reason, required=True)
    _check(actions.MARK_SUCCEEDED, subject, node_key)
    who = actor.label
    if subject.status != BatchStatus.RUNNING:
        return _continue_ended(subject, node_key, actor, reason)
    store = hop_store()
    now = timezone.now()
    with transaction.atomic():
        locked, run = _locked_node(store, actions.MARK_SUCCEEDED, subject.pk, node_key)
        blueprint = batch_blueprint(subject)
        rows = store.node_rows(subject.pk)
        states = {row.node_key: row.status for row in rows}
        changes = engine.mark_succeeded_states(blueprint.graph, states, node_key, _held(subject.pk))
        events = EventLog()
        message = f"marked succeeded by {who}: {reason}"
        operator_transition(
            subject.pk,
            [(run.pk, node_key)],
            current=run.status,
            to=NodeStatus.SUCCEEDED,
            now=now,
            message=message,
            events=events,
            set_by=who,
            set_reason=reason,
        )
        reopened = [(row.pk, row.node_key) for row in rows if changes.get(row.node_key) == NodeStatus.PENDING]
        operator_transition(
            subject.pk,
            reopened,
            current=NodeStatus.SKIPPED,
            to=NodeStatus.PENDING,
            now=now,
            message=f"reopened: {node_key} marked succeeded",
            events=events,
            finished_at=None,
        )
        events.flush()
        dispatch.after_commit(batch_advance(store, locked, now, blueprint=blueprint))
        audit_record(
            actor=actor,
            action="node.mark_succeeded",
            obj=subject,
            before={"node": node_key, "status": run.status},
            after={"node": node_key, "status": NodeStatus.SUCCEEDED, "reason": reason},
        )
    return Batch.objects.get(pk=subject.pk)


def _continue_ended(original: Batch, node_key: str, actor: Actor, reason: str) -> Batch:
    """Start the batch that continues an ended one with `node_key` kept as succeeded (by hand)."""
    plan = action_plan(actions.MARK_SUCCEEDED, original, node_key)
    keep = {run.node_key: run for run in original.node_runs.filter(node_key__in=plan.kept)}
    for key, run in keep.items():
        run.status = plan.kept_states[key]
    marked = keep[node_key]
    marked.set_by, marked.set_reason = actor.label, reason
    return workflow_batch_start(
        workflow=original.workflow,
        actor=actor,
        trigger=TriggerKind.RESUME,
        audit=("node.mark_succeeded", original),
        audit_after={"node": node_key, "status": NodeStatus.SUCCEEDED, "reason": reason, "from": original.pk},
        rerun_of=original,
        keep=keep,
        version=original.version,
    )


def node_skip(*, batch_id: str, node_key: str, actor: Actor, reason: str = "") -> Batch:
    """Skip a pending task node of a running (or paused) batch for this run (an operator); its downstream follows §4."""
    subject = _batch(batch_id)
    require(
        actor,
        subject,
        Role.OPERATOR,
        _("Skipping node %(node)s of batch %(batch)s") % {"node": node_key, "batch": subject.pk},
    )
    reason = _reason(reason, required=False)
    _check(actions.SKIP, subject, node_key)
    store = hop_store()
    now = timezone.now()
    with transaction.atomic():
        locked, run = _locked_node(store, actions.SKIP, subject.pk, node_key)
        events = EventLog()
        suffix = f": {reason}" if reason else ""
        operator_transition(
            subject.pk,
            [(run.pk, node_key)],
            current=NodeStatus.PENDING,
            to=NodeStatus.SKIPPED,
            now=now,
            message=f"skipped by {actor.label}{suffix}",
            events=events,
            set_by=actor.label,
            set_reason=reason,
            finished_at=now,
        )
        events.flush()
        dispatch.after_commit(batch_advance(store, locked, now))
        audit_record(
            actor=actor,
            action="node.skip",
            obj=subject,
            before={"node": node_key, "status": NodeStatus.PENDING},
            after={"node": node_key, "status": NodeStatus.SKIPPED, "reason": reason},
        )
    return Batch.objects.get(pk=subject.pk)


def batch_pause(*, batch_id: str, actor: Actor) -> Batch:
    """Pause a running batch (an operator): no node starts until it continues; running nodes finish.

    Queued nodes not yet started go back to pending (a worker's claim no longer finds them
    queued). The batch stays running: it counts for overlap, and its timeout keeps counting.
    """
    return _set_pause(batch_id, actor, pause=True)


def batch_continue(*, batch_id: str, actor: Actor) -> Batch:
    """Continue a paused batch (an operator): what became ready while it was paused is queued now."""
    return _set_pause(batch_id, actor, pause=False)


def _set_pause(batch_id: str, actor: Actor, *, pause: bool) -> Batch:
    subject = _batch(batch_id)
    doing = _("Pausing batch %(batch)s") if pause else _("Continuing batch %(batch)s")
    require(actor, subject, Role.OPERATOR, doing % {"batch": subject.pk})
    action = actions.PAUSE if pause else actions.CONTINUE
    _check(action, subject)
    store = hop_store()
    now = timezone.now()
    with transaction.atomic():
        locked = store.lock_batch(subject.pk)
        refused = actions.refusal(action, _locked_state(locked), batch=subject.pk)
        if refused is not None:
            raise TransitionNotPossible(translated(refused, _))
        Batch.objects.filter(pk=subject.pk).update(paused_at=now if pause else None)
        events = EventLog()
        what = "paused" if pause else "continued"
        events.append(
            Event(
                batch_id=subject.pk,
                from_status=BatchStatus.RUNNING,
                to_status=BatchStatus.RUNNING,
                at=now,
                message=f"{what} by {actor.label}",
            )
        )
        after: dict[str, Any] = {"paused": pause}
        if pause:
            rows = store.node_rows(subject.pk)
            back = engine.pause_states({row.node_key: row.status for row in rows})
            held = operator_transition(
                subject.pk,
                [(row.pk, row.node_key) for row in rows if row.node_key in back],
                current=NodeStatus.QUEUED,
                to=NodeStatus.PENDING,
                now=now,
                message="held: the batch is paused",
                events=events,
                queued_at=None,
            )
            after["held"] = len(held)
            events.flush()
        else:
            events.flush()
            locked.paused_at = None
            dispatch.after_commit(batch_advance(store, locked, now))
        audit_record(
            actor=actor, action="batch.pause" if pause else "batch.continue", obj=subject, before={}, after=after
        )
    return Batch.objects.get(pk=subject.pk)
