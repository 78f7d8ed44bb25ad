"""JSON endpoints behind the live batch page (wired in `config/urls.py`).

The batch page polls `batch_state` about once a second while the batch runs and redraws the
DAG coloured by node state, the timeline and the stop / re-run / resume buttons; when the batch
ends it reloads once, so every field and table on it shows the final state. Clicking a node
fetches its output and attempts from `node_output`. Rows come through the registered
`BatchAdmin`'s queryset, so its team scoping applies.

Who may operate: the operator role (or higher) in the batch's team (SPEC §7), through
`access.policy.allows`; `batch_actions` is the one place that says which buttons show.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from access.actors import ADMIN, Actor, request_actor
from access.policy import allows
from executions import actions
from executions.lifecycle import batch_rerun_refusal, batch_state_of
from executions.models import Batch, NodeRun
from executions.states import NODE_FINISHED, BatchStatus, NodeStatus
from workflows import layout, secrets
from workflows.models import Role


def _batch(request: HttpRequest, pk: str) -> Batch:
    model_admin = admin.site._registry[Batch]
    batch = get_object_or_404(
        model_admin.get_queryset(request).select_related("workflow__team", "version", "task__team"), pk=pk
    )
    if not model_admin.has_view_permission(request, batch):
        raise PermissionDenied
    return batch


def batch_actions(actor: Actor, batch: Batch) -> dict[str, bool]:
    """Tell which buttons the actor may press on this batch now: the allowed-actions table (`executions.actions`)."""
    operate = allows(actor, batch, Role.OPERATOR)
    state = batch_state_of(batch)
    node_actions = (actions.MARK_SUCCEEDED, actions.SKIP, actions.RERUN_FROM)
    return {
        "stop": operate and actions.allowed(actions.STOP, state),
        "pause": operate and actions.allowed(actions.PAUSE, state),
        "continue": operate and actions.allowed(actions.CONTINUE, state),
        "rerun": operate and batch_rerun_refusal(batch=batch, resume=False) is None,
        "resume": operate and batch_rerun_refusal(batch=batch, resume=True) is None,
        # A node action on an ended batch starts a new batch: not for a deleted workflow's.
        "recover": operate
        and any(actions.allowed(action, state) for action in node_actions)
        and (batch.status == BatchStatus.RUNNING or batch_rerun_refusal(batch=batch) is None),
    }


def outcome_text(detail: Any) -> str:
    """Say how a task attempt ended beyond its status: kept, its exit status or signal, its error."""
    if not isinstance(detail, dict):
        return ""
    if detail.get("kept_from"):
        return _("kept from batch %(batch)s") % {"batch": detail["kept_from"]}
    error = str(detail.get("error") or "")
    code, signal = detail.get("exit_code"), detail.get("signal")
    if signal:
        ended = _("killed by signal %(signal)s") % {"signal": signal}
    elif code is not None:
        ended = _("exit status %(code)s") % {"code": code}
    else:
        return error
    if not error or error in (f"exited with status {code}", f"killed by signal {signal}"):  # the shell runner's words
        return ended
    return f"{error} ({ended})"


def batch_definition(batch: Batch) -> dict[str, Any]:
    """Return the definition the batch runs (its version's, or a task run's snapshot), secrets masked."""
    if batch.version is not None:
        return secrets.mask(batch.version.definition)
    return secrets.mask(batch.snapshot or {"nodes": [], "edges": []})


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _run(run: NodeRun) -> dict[str, Any]:
    return {
        "status": run.status,
        "type": run.node_type,
        "task": run.task_name,
        "attempts": run.attempts,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "has_output": bool(run.output),
        "kept_from": run.detail.get("kept_from") if isinstance(run.detail, dict) else None,
        "outcome": outcome_text(run.detail) if run.status in NODE_FINISHED else "",
        "tail": last_lines(run.output) if run.status in (NodeStatus.FAILED, NodeStatus.TIMED_OUT) else "",
        "set_by": run.set_by,
        "set_reason": run.set_reason,
    }


def last_lines(output: str, lines: int = 10, limit: int = 2000) -> str:
    """Return the end of a failed run's output for the page's failure box: its last lines, at most `limit` characters."""
    tail = "\n".join(output.rstrip("\n").split("\n")[-lines:])
    return tail[-limit:]


@require_GET
def batch_state(request: HttpRequest, pk: str) -> JsonResponse:
    """Return the batch's status, its drawing (`?drawing=1`) and every node run's state and timings."""
    batch = _batch(request, pk)
    runs = {run.node_key: _run(run) for run in batch.node_runs.order_by("id")}
    running = batch.status == BatchStatus.RUNNING
    body: dict[str, Any] = {
        "batch": {
            "id": batch.pk,
            "status": batch.status,
            "running": running,
            "stop_requested": batch.stop_requested_at is not None,
            "paused": batch.paused_at is not None and running,
            "created_at": _iso(batch.created_at),
            "finished_at": _iso(batch.finished_at),
        },
        "now": timezone.now().isoformat(),
        "runs": runs,
        "actions": batch_actions(request_actor(request, ADMIN), batch),
    }
    if request.GET.get("drawing"):
        document = batch_definition(batch)
        body["definition"] = {"nodes": document.get("nodes", []), "edges": document.get("edges", [])}
        body["positions"] = {k: {"x": x, "y": y} for k, (x, y) in layout.positions_for(document).items()}
    return JsonResponse(body)


@require_GET
def node_output(request: HttpRequest, pk: str, key: str) -> JsonResponse:
    """Return one node run's output and its attempts (secrets are masked when captured)."""
    batch = _batch(request, pk)
    run = batch.node_runs.filter(node_key=key).first()
    if run is None:
        raise Http404(_("no such node in this batch"))
    attempts = [
        {
            "number": a.number,
            "status": a.status,
            "started_at": _iso(a.started_at),
            "finished_at": _iso(a.finished_at),
            "output": a.output,
            "outcome": outcome_text(a.detail),
        }
        for a in run.attempt_set.order_by("number")
    ]
    return JsonResponse(
        {
            "key": key,
            **_run(run),
            "output": run.output,
            "outputs": run.outputs,
            "detail": run.detail,
            "attempt_list": attempts,
        }
    )
