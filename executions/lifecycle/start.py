"""Starting: a batch with its node runs and events, built in memory and inserted in one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.actors import Actor
from access.audit import audit_record
from access.policy import require
from baton.errors import NotRunnable
from executions import dispatch, engine
from executions.models import Batch, Event, NodeRun, new_batch_id
from executions.runtime import Blueprint, blueprint_for, blueprint_of
from executions.states import BatchStatus, NodeStatus, TriggerKind
from executions.store import hop_store
from executions.transitions import moved_at
from ops import metrics
from workflows import graph, params
from workflows.definition import task_document
from workflows.models import Role, Task, Workflow, WorkflowVersion
from workflows.services import task_spec_of


def batch_start(
    *,
    workflow: Workflow,
    actor: Actor,
    trigger: str = TriggerKind.MANUAL,
    scheduled_for: datetime | None = None,
    values: Mapping[str, Any] | None = None,
    values_as_text: bool = False,
) -> Batch:
    """Start a batch of the workflow's current version (an operator; the scheduler for queued fires).

    `values` are the parameters' values (JSON, or text such as the CLI's `--param` with
    `values_as_text`); without them a scheduled fire takes its trigger's and any other start the
    defaults. Values that do not fit the declarations are refused (`params.ParamsProblem`).
    """
    require(actor, workflow, Role.OPERATOR, _("Running %(name)s") % {"name": workflow.name})
    return workflow_batch_start(
        workflow=workflow,
        actor=actor,
        trigger=trigger,
        scheduled_for=scheduled_for,
        audit=("workflow.run", workflow),
        values=values,
        values_as_text=values_as_text,
    )


def workflow_batch_start(
    *,
    workflow: Workflow,
    actor: Actor,
    trigger: str,
    audit: tuple[str, Any],
    scheduled_for: datetime | None = None,
    rerun_of: Batch | None = None,
    keep: dict[str, NodeRun] | None = None,
    values: Mapping[str, Any] | None = None,
    values_as_text: bool = False,
    version: WorkflowVersion | None = None,
    audit_after: Mapping[str, Any] | None = None,
) -> Batch:
    """Start a batch of the workflow's current version (or of `rerun_of`'s) for an actor whose role the caller checked.

    `audit` is the (action, object) the audit row records, `audit_after` more of what it says.
    A re-run takes `rerun_of`'s context unchanged, except for the parameters given in `values`
    (the re-run form's edits); it runs `version` when given (the current one, by choice).
    """
    if version is None:
        version = rerun_of.version if rerun_of else workflow.current_version
    if version is None:
        raise NotRunnable(_("workflow %(name)s has no saved definition") % {"name": repr(workflow.name)})
    if workflow.deleted_at is not None:  # SPEC §6: a deleted workflow starts nothing new, re-runs included
        raise NotRunnable(_("workflow %(name)s is deleted; it starts no new batch") % {"name": repr(workflow.name)})
    batch = Batch(workflow=workflow, version=version)
    blueprint = blueprint_for(version.pk)
    if rerun_of is not None:
        batch.context = rerun_of.context
        if values:
            before = (rerun_of.context or {}).get("params") or {}
            edited = params.resolve(blueprint.params, {**before, **values}, as_text=values_as_text)
            batch.context = {**(rerun_of.context or {}), "params": edited}
    else:
        batch.context = batch_context(batch, blueprint, scheduled_for, values=values, as_text=values_as_text)
    return _start(
        batch,
        blueprint,
        trigger=trigger,
        actor=actor,
        audit=audit,
        scheduled_for=scheduled_for,
        rerun_of=rerun_of,
        keep=keep,
        audit_after=audit_after,
    )


def task_run_start(
    *,
    task: Task,
    actor: Actor,
    trigger: str = TriggerKind.MANUAL,
    scheduled_for: datetime | None = None,
    rerun_of: Batch | None = None,
    audit: tuple[str, Any] | None = None,
) -> Batch:
    """Run a standalone task once (an operator), as a batch of one node on a snapshot of the task.

    A re-run (`rerun_of`) runs the original's snapshot and records `audit`, the re-run's (action, object).
    """
    require(actor, task, Role.OPERATOR, _("Running %(name)s") % {"name": task.name})
    if rerun_of is not None:
        snapshot = rerun_of.snapshot
    else:
        if task.workflow is not None:
            raise NotRunnable(
                _("task %(task)s belongs to workflow %(workflow)s; run the workflow")
                % {"task": repr(task.name), "workflow": repr(task.workflow.name)}
            )
        snapshot = task_run_definition(task)
    batch = Batch(task=task, snapshot=snapshot)
    batch.context = (
        rerun_of.context if rerun_of is not None else batch_context(batch, blueprint_of(snapshot), scheduled_for)
    )
    return _start(
        batch,
        blueprint_of(snapshot),
        trigger=trigger,
        actor=actor,
        audit=audit or ("task.run", task),
        scheduled_for=scheduled_for,
        rerun_of=rerun_of,
        keep=None,
    )


def task_run_definition(task: Task) -> dict[str, Any]:
    """Return the one-node definition a standalone task's run executes."""
    return {
        "timeout_seconds": settings.BATON_DEFAULT_WORKFLOW_TIMEOUT,
        "nodes": [{"key": task.name, "type": graph.TASK, "task": task_document(task_spec_of(task))}],
        "edges": [{"from": graph.START, "to": task.name}],
    }


def batch_context(
    batch: Batch,
    blueprint: Blueprint,
    scheduled_for: datetime | None,
    *,
    values: Mapping[str, Any] | None = None,
    as_text: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Resolve what a new batch's references read: its parameters' values and its built-in values.

    A fire of a trigger takes the trigger's fixed values (checked when the definition was saved);
    a start by hand takes `values`; every parameter left out takes its default. The fire time is
    the scheduled instant, or the start for a batch started by hand.
    """
    given = values if values is not None else (blueprint.trigger.get("params") or {} if scheduled_for else {})
    resolved = params.resolve(blueprint.params, given, as_text=as_text)
    owner = batch.workflow if batch.workflow_id else batch.task
    fire_time = scheduled_for or now or timezone.now()
    zone = blueprint.trigger.get("timezone") or "UTC"
    return {"params": resolved, "batch": params.builtins(workflow=owner.name, fire_time=fire_time, timezone=zone)}


@dataclass
class NewBatch:
    """A batch built in memory with its node runs and events, ready to insert."""

    batch: Batch
    runs: list[NodeRun]
    events: list[Event]
    prepared_at: datetime | None = None  # the `now` it was built with

    @property
    def queued(self) -> list[NodeRun]:
        return [run for run in self.runs if run.status == NodeStatus.QUEUED]

    def restamp(self, now: datetime) -> None:
        """Move the times it was built with to `now`, the moment it is inserted.

        The scheduler builds a batch ahead of its fire time; what it records (created, queued,
        events, deadline) must say when it really started. Kept runs' own times stay.
        """
        then, self.prepared_at = self.prepared_at, now
        if then is None or then == now:
            return
        batch = self.batch
        batch.created_at = now
        if batch.deadline_at is not None:
            batch.deadline_at += now - then
        if batch.finished_at == then:
            batch.finished_at = now
        for run in self.runs:
            if run.queued_at == then:
                run.queued_at = now
            if run.finished_at == then:
                run.finished_at = now
        for event in self.events:
            if event.at == then:
                event.at = now


def _start(
    batch: Batch,
    blueprint: Blueprint,
    *,
    trigger: str,
    actor: Actor,
    audit: tuple[str, Any],
    scheduled_for: datetime | None,
    rerun_of: Batch | None,
    keep: dict[str, NodeRun] | None,
    audit_after: Mapping[str, Any] | None = None,
) -> Batch:
    """Insert the batch, its node runs (the ready ones queued), its events and the audit row in one transaction."""
    new = batch_prepare(
        batch,
        blueprint,
        trigger=trigger,
        created_by=actor.user,
        scheduled_for=scheduled_for,
        rerun_of=rerun_of,
        keep=keep or {},
        now=timezone.now(),
    )
    action, subject = audit
    with transaction.atomic():
        batches_insert([new])
        after: dict[str, Any] = {"batch": new.batch.pk, **(audit_after or {})}
        if (new.batch.context or {}).get("params"):  # the values it runs with, in the trail
            after["params"] = new.batch.context["params"]
        before = (rerun_of.context or {}).get("params") if rerun_of is not None else None
        if before is not None and before != after.get("params"):  # edited in the re-run form
            after["params_before"] = before
        audit_record(actor=actor, action=action, obj=subject, after=after)
    return new.batch


def batch_prepare(
    batch: Batch,
    blueprint: Blueprint,
    *,
    trigger: str,
    created_by: Any = None,
    scheduled_for: datetime | None = None,
    rerun_of: Batch | None = None,
    keep: dict[str, NodeRun] | None = None,
    now: datetime,
) -> NewBatch:
    """Build a batch in memory: every node run (those in `keep` kept as they ended), the engine's first decision.

    `created_by` is the user row who started it (None for the scheduler, a token, the machine).
    """
    keep = keep or {}
    if not batch.context:  # the scheduler's fires: the trigger's values, the defaults, the fire time
        batch.context = batch_context(batch, blueprint, scheduled_for, now=now)
    batch.trigger, batch.scheduled_for, batch.rerun_of = trigger, scheduled_for, rerun_of
    batch.created_by = created_by
    # The team it runs under, stored on its rows for the team-scoped lists (an owner never changes team).
    batch.team_id = batch.workflow.team_id if batch.workflow_id else batch.task.team_id
    batch.created_at, batch.deadline_at = now, now + timedelta(seconds=blueprint.timeout_seconds)
    events = [Event(batch=batch, to_status=BatchStatus.RUNNING, at=now, message=f"started ({trigger})")]
    runs: dict[str, NodeRun] = {}
    for node in blueprint.graph.nodes:
        task = blueprint.tasks.get(node.key)
        run = NodeRun(
            batch=batch,
            team_id=batch.team_id,
            node_key=node.key,
            node_type=node.type,
            task_name=task["name"] if task else "",
            queue=task["queue"] if task else "",
        )
        kept = keep.get(node.key)
        if kept is not None:
            run.status, run.attempts, run.output = kept.status, kept.attempts, kept.output
            run.set_by, run.set_reason = kept.set_by, kept.set_reason
            run.outputs = kept.outputs  # a resumed batch sees the values the original's nodes published
            run.detail = {**kept.detail, "kept_from": kept.batch_id}
            run.started_at, run.finished_at = kept.started_at, kept.finished_at
        message = f"kept from {kept.batch_id}" if kept else ""
        events.append(
            Event(batch=batch, node_run=run, node_key=node.key, to_status=run.status, at=now, message=message)
        )
        runs[node.key] = run
    decision = engine.advance(blueprint.graph, {key: run.status for key, run in runs.items()})
    for to, keys in decision.moves():
        for key in keys:
            runs[key].status = to
            setattr(runs[key], moved_at(to), now)
            events.append(
                Event(
                    batch=batch, node_run=runs[key], node_key=key, from_status=NodeStatus.PENDING, to_status=to, at=now
                )
            )
    if decision.result is not None:
        batch.status, batch.finished_at = decision.result, now
        events.append(Event(batch=batch, from_status=BatchStatus.RUNNING, to_status=decision.result, at=now))
    return NewBatch(batch, list(runs.values()), events, prepared_at=now)


def batches_insert(new: list[NewBatch]) -> list[NewBatch]:
    """Insert prepared batches (a few statements for any number) and send their ready runs after commit.

    The caller holds a transaction. A random id that collides (about once in 10^12) is drawn
    again; a scheduled fire that is already taken raises IntegrityError, which the scheduler
    reads as "another scheduler started this fire". Of several, those are left out of the
    returned list of what was inserted.
    """
    try:
        with transaction.atomic():
            _insert_rows(new)
    except IntegrityError:
        if len(new) == 1:
            one = new[0]
            if one.batch.scheduled_for is not None and _fire_taken(one.batch):
                raise
            one.batch.pk = new_batch_id()
            return batches_insert([one])
        inserted = []
        for one in new:  # find the culprit: insert one by one
            with contextlib.suppress(IntegrityError):
                inserted += batches_insert([one])
        return inserted
    dispatch.after_commit((run.pk, run.queue) for one in new for run in one.queued)
    metrics.batches_started_after_commit(one.batch for one in new)
    return new


def _insert_rows(new: list[NewBatch]) -> None:
    """Insert the batches, then their node runs, then their events: three statements for any number."""
    store = hop_store()
    now = timezone.now()  # the moment of the insert: what created_at, the events and queued_at say
    batches, runs, events = [], [], []
    for one in new:
        one.restamp(now)
        batches.append(one.batch)
        for run in one.runs:  # re-attach, in case the batch's id was drawn again (or a retry)
            run.batch_id, run.pk = one.batch.pk, None
            runs.append(run)
        for event in one.events:
            event.batch_id = one.batch.pk
            events.append(event)
    store.insert(Batch, batches, now)
    store.insert(NodeRun, runs, now)
    for event in events:
        if event.node_run is not None:
            event.node_run = event.node_run  # picks up the id the insert just set
    store.insert(Event, events, now)


def _fire_taken(batch: Batch) -> bool:
    owner = {"workflow_id": batch.workflow_id} if batch.workflow_id else {"task_id": batch.task_id}
    return Batch.objects.filter(scheduled_for=batch.scheduled_for, **owner).exists()
