"""Re-running: a new batch linked to a finished one; a resume keeps what succeeded, a re-run from a node keeps the rest.

Every recovery action has a plan (`RerunPlan`): which task nodes it runs, keeps and skips, on
which version. The allowed-actions table (`executions.actions`) says when each is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from access.actors import Actor
from access.policy import require
from baton.errors import Invalid, NotFound, TransitionNotPossible
from baton.text import translated
from executions import actions, engine
from executions.lifecycle.advance import batch_blueprint
from executions.lifecycle.start import task_run_start, workflow_batch_start
from executions.models import Batch, NodeRun
from executions.runtime import Blueprint, blueprint_for
from executions.states import TriggerKind
from workflows.graph import TASK
from workflows.models import Role, Workflow, WorkflowVersion

ORIGINAL, CURRENT = "original", "current"
VERSIONS = (ORIGINAL, CURRENT)


@dataclass(frozen=True)
class RerunPlan:
    """What a recovery action would do to the task nodes, on which version.

    `kept`: nodes that keep the result they have (`kept_states`) and do not run; `will_run`:
    nodes that run (unless what runs before them skips them); `will_skip`: nodes already
    skipped by what is kept; `running`: nodes of a running batch still running, left to finish.
    `new_batch`: the action starts a new batch (a re-run, a resume, a continuation).
    """

    kept: tuple[str, ...]
    will_run: tuple[str, ...]
    will_skip: tuple[str, ...] = ()
    running: tuple[str, ...] = ()
    kept_states: dict[str, str] = field(default_factory=dict)
    version: int | None = None
    version_choice: str = ORIGINAL
    new_batch: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as the API and the CLI's --plan print it."""
        return {
            "version": self.version,
            "version_choice": self.version_choice,
            "new_batch": self.new_batch,
            "kept": list(self.kept),
            "kept_states": self.kept_states,
            "will_run": list(self.will_run),
            "will_skip": list(self.will_skip),
            "running": list(self.running),
        }


def plan_of(
    blueprint: Blueprint,
    start: Mapping[str, str],
    *,
    version: int | None,
    choice: str,
    new_batch: bool,
    skipping: str | None = None,
) -> RerunPlan:
    """Return the plan of a batch that starts (or goes on) from `start`: the engine's first decision tells what it skips.

    `skipping` is the node the action itself skips (skipped in `start`): listed first among those skipped.
    """
    decision = engine.advance(blueprint.graph, start)
    skipped = set(decision.skip)
    tasks = list(blueprint.tasks)
    pending = [key for key in tasks if start[key] == engine.PENDING]
    kept = [key for key in tasks if start[key] in engine.FINISHED and key != skipping]
    first = (skipping,) if skipping is not None else ()
    return RerunPlan(
        kept=tuple(kept),
        will_run=tuple(key for key in pending if key not in skipped),
        will_skip=first + tuple(key for key in pending if key in skipped),
        running=tuple(key for key in tasks if start[key] in engine.ACTIVE),
        kept_states={key: start[key] for key in kept},
        version=version,
        version_choice=choice,
        new_batch=new_batch,
    )


def rerun_plan(
    *, batch: Batch, resume: bool = False, from_node: str | None = None, version: str = ORIGINAL
) -> RerunPlan:
    """Tell which task nodes a re-run (from the start, or from `from_node`) or a resume keeps, runs and skips."""
    blueprint, number = _version_blueprint(batch, version)
    # What the original's tasks did: a logic node's run is no task's result, should the version
    # run now have a task of that key (the current version may have turned a join into a task).
    states = dict(batch.node_runs.filter(node_type="task").values_list("node_key", "status"))
    if from_node is not None:
        _require_task(blueprint, from_node, version)
        start = engine.rerun_from_states(blueprint.graph, states, from_node)
    elif resume:
        start = engine.resume_states(blueprint.graph, states)
    else:
        start = engine.initial_states(blueprint.graph)
    return plan_of(blueprint, start, version=number, choice=version, new_batch=True)


def batch_rerun_refusal(
    *, batch: Batch, resume: bool = False, from_node: str | None = None, version: str = ORIGINAL
) -> str | None:
    """Say why the batch cannot be re-run (or resumed, or re-run from a node) now, or None if it can."""
    action = actions.RERUN_FROM if from_node is not None else actions.RESUME if resume else actions.RERUN
    for rule in (actions.RERUN, action):  # a running batch hears "still running" first, whatever was asked
        refused = actions.refusal(rule, batch_state_of(batch), batch=batch.pk)
        if refused is not None:
            return translated(refused, _)
    if batch.workflow_id is not None and batch.workflow.deleted_at is not None:
        return _("workflow %(name)s is deleted; it starts no new batch") % {"name": repr(batch.workflow.name)}
    if version not in VERSIONS:
        return _("version must be %(choices)s, not %(given)r") % {"choices": " or ".join(VERSIONS), "given": version}
    if version == CURRENT and batch.task_id is not None:
        return _("a task's run re-runs the task as it ran; choose the original version")
    if version == CURRENT and _current_version(batch) is None:
        return _("workflow %(name)s has no saved definition") % {"name": repr(batch.workflow.name)}
    if from_node is not None:
        blueprint, _number = _version_blueprint(batch, version)
        if from_node not in blueprint.graph.keys:
            return _("the %(version)s version has no node %(node)r") % {"version": version, "node": from_node}
        if blueprint.graph.node(from_node).type != TASK:
            return _("node %(node)r is a logic node; re-run from a task node") % {"node": from_node}
        plan = rerun_plan(batch=batch, from_node=from_node, version=version)
        if from_node in plan.will_skip:
            return _(
                "node %(node)r would be skipped: what it waits for is kept as it ended; "
                "re-run from an earlier node or resume the batch"
            ) % {"node": from_node}
    return None


def batch_state_of(batch: Batch) -> str:
    """Return the batch's state in the allowed-actions table (its status, or paused / stopping while it runs)."""
    return actions.batch_state(
        batch.status, paused=batch.paused_at is not None, stopping=batch.stop_requested_at is not None
    )


def batch_rerun_check(
    *, batch: Batch, resume: bool = False, from_node: str | None = None, version: str = ORIGINAL
) -> None:
    """Refuse a re-run or resume that `batch_rerun_refusal` names a reason against."""
    refusal = batch_rerun_refusal(batch=batch, resume=resume, from_node=from_node, version=version)
    if refusal is not None:
        raise TransitionNotPossible(refusal)


def batch_rerun(
    *,
    batch_id: str,
    actor: Actor,
    resume: bool = False,
    values: Mapping[str, Any] | None = None,
    values_as_text: bool = False,
    from_node: str | None = None,
    version: str = ORIGINAL,
) -> Batch:
    """Start a new batch linked to a finished one (an operator), on its version or the workflow's current one.

    It runs with the original's parameters; `values` changes some of them on a re-run (not on a
    resume or a re-run from a node: their kept nodes ran with the original's), and the audit row
    records both. A resume keeps the succeeded nodes; a re-run from `from_node` keeps every node
    but it and its descendants, with its result and outputs.
    """
    original = Batch.objects.select_related("workflow__team", "version", "task__team").filter(pk=batch_id).first()
    if original is None:
        raise NotFound(_("no batch %(batch)r") % {"batch": batch_id})
    if from_node is not None:
        doing = _("Re-running batch %(batch)s from node %(node)s") % {"batch": original.pk, "node": from_node}
    else:
        doing = (_("Resuming batch %(batch)s") if resume else _("Re-running batch %(batch)s")) % {"batch": original.pk}
    require(actor, original, Role.OPERATOR, doing)
    batch_rerun_check(batch=original, resume=resume, from_node=from_node, version=version)
    if values and (resume or from_node is not None or original.task_id is not None):
        what = (
            _("a resume (its kept nodes ran with the original's values)")
            if resume
            else _("a re-run from a node (its kept nodes ran with the original's values)")
            if from_node is not None
            else _("a task's run")
        )
        raise Invalid.at({"params": _("parameters cannot be changed on %(what)s") % {"what": what}})
    keep: dict[str, NodeRun] = {}
    if resume or from_node is not None:
        plan = rerun_plan(batch=original, resume=resume, from_node=from_node, version=version)
        keep = {r.node_key: r for r in original.node_runs.filter(node_key__in=plan.kept)}
    kind = TriggerKind.RESUME if resume else TriggerKind.RERUN
    action = "batch.rerun_from" if from_node is not None else "batch.resume" if resume else "batch.rerun"
    extra: dict[str, Any] = {"version": version}
    if from_node is not None:
        extra["from_node"] = from_node
    if original.task_id is not None:
        return task_run_start(
            task=original.task, actor=actor, trigger=kind, rerun_of=original, audit=(action, original)
        )
    return workflow_batch_start(
        workflow=original.workflow,
        actor=actor,
        trigger=kind,
        audit=(action, original),
        audit_after=extra,
        rerun_of=original,
        keep=keep,
        values=values,
        values_as_text=values_as_text,
        version=_current_version(original) if version == CURRENT else original.version,
    )


def _version_blueprint(batch: Batch, version: str) -> tuple[Blueprint, int | None]:
    """Return the blueprint a re-run on `version` (original or current) runs, and the version's number."""
    current = _current_version(batch) if version == CURRENT else None
    if current is not None:
        return blueprint_for(current.pk), current.number
    number = batch.version.number if batch.version_id is not None else None
    return batch_blueprint(batch), number


def _current_version(batch: Batch) -> WorkflowVersion | None:
    """Return the batch's workflow's current version, read now (the batch's cached workflow may be older)."""
    if batch.workflow_id is None:
        return None
    current = Workflow.objects.filter(pk=batch.workflow_id).values_list("current_version", flat=True).first()
    return WorkflowVersion.objects.filter(pk=current).first() if current is not None else None


def _require_task(blueprint: Blueprint, key: str, version: str) -> None:
    if key not in blueprint.graph.keys:
        raise Invalid.at(
            {"node": _("the %(version)s version has no node %(node)r") % {"version": version, "node": key}}
        )
