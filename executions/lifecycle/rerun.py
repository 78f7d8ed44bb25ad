"""Re-running: a new batch on the same version as a finished one, linked to it; a resume keeps what succeeded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from access.actors import Actor
from access.policy import require
from baton.errors import Invalid, NotFound, TransitionNotPossible
from executions import engine
from executions.lifecycle.advance import batch_blueprint
from executions.lifecycle.start import task_run_start, workflow_batch_start
from executions.models import Batch, NodeRun
from executions.states import BATCH_RESUMABLE, BatchStatus, NodeStatus, TriggerKind
from workflows.models import Role


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run would do: nodes kept from the original, and nodes that will run."""

    kept: tuple[str, ...]
    will_run: tuple[str, ...]


def rerun_plan(*, batch: Batch, resume: bool) -> RerunPlan:
    """Tell which task nodes a re-run (or resume from failure) keeps and which it runs."""
    blueprint = batch_blueprint(batch)
    states = dict(batch.node_runs.values_list("node_key", "status"))
    start = engine.resume_states(blueprint.graph, states) if resume else {}
    kept = tuple(k for k in blueprint.tasks if start.get(k) == NodeStatus.SUCCEEDED)
    return RerunPlan(kept=kept, will_run=tuple(k for k in blueprint.tasks if k not in kept))


def batch_rerun_refusal(*, batch: Batch, resume: bool) -> str | None:
    """Say why the batch cannot be re-run (or resumed) now, or None if it can."""
    if batch.status == BatchStatus.RUNNING:
        return _("batch %(batch)s is still running; stop it or wait for it to end") % {"batch": batch.pk}
    if resume and batch.status not in BATCH_RESUMABLE:
        return _("batch %(batch)s %(status)s: only a failed, timed-out or stopped batch can be resumed; re-run it") % {
            "batch": batch.pk,
            "status": batch.status,
        }
    if batch.workflow_id is not None and batch.workflow.deleted_at is not None:
        return _("workflow %(name)s is deleted; it starts no new batch") % {"name": repr(batch.workflow.name)}
    return None


def batch_rerun_check(*, batch: Batch, resume: bool) -> None:
    """Refuse a re-run or resume that `batch_rerun_refusal` names a reason against."""
    refusal = batch_rerun_refusal(batch=batch, resume=resume)
    if refusal is not None:
        raise TransitionNotPossible(refusal)


def batch_rerun(
    *,
    batch_id: str,
    actor: Actor,
    resume: bool = False,
    values: Mapping[str, Any] | None = None,
    values_as_text: bool = False,
) -> Batch:
    """Start a new batch on the same version as a finished one, linked to it (an operator).

    It runs with the original's parameters; `values` changes some of them on a re-run (not on a
    resume: its kept nodes ran with the original's), and the audit row records both.
    """
    original = Batch.objects.select_related("workflow__team", "version", "task__team").filter(pk=batch_id).first()
    if original is None:
        raise NotFound(_("no batch %(batch)r") % {"batch": batch_id})
    doing = _("Resuming batch %(batch)s") if resume else _("Re-running batch %(batch)s")
    require(actor, original, Role.OPERATOR, doing % {"batch": original.pk})
    batch_rerun_check(batch=original, resume=resume)
    if values and (resume or original.task_id is not None):
        what = _("a resume (its kept nodes ran with the original's values)") if resume else _("a task's run")
        raise Invalid.at({"params": _("parameters cannot be changed on %(what)s") % {"what": what}})
    keep: dict[str, NodeRun] = {}
    if resume:
        kept = set(rerun_plan(batch=original, resume=True).kept)
        keep = {r.node_key: r for r in original.node_runs.filter(node_key__in=kept)}
    kind = TriggerKind.RESUME if resume else TriggerKind.RERUN
    audit = ("batch.resume" if resume else "batch.rerun", original)
    if original.task_id is not None:
        return task_run_start(task=original.task, actor=actor, trigger=kind, rerun_of=original, audit=audit)
    return workflow_batch_start(
        workflow=original.workflow,
        actor=actor,
        trigger=kind,
        audit=audit,
        rerun_of=original,
        keep=keep,
        values=values,
        values_as_text=values_as_text,
    )
