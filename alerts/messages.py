"""The words of an alert, in the channel's language: what happened, where, when, which nodes failed and how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from alerts import rules
from alerts.channels import Message
from alerts.models import Alert
from executions.models import Batch, NodeRun
from executions.states import NodeStatus

TAIL_LINES = 5
TAIL_CHARACTERS = 600


@dataclass(frozen=True)
class Occurrence:
    """The alert a message is about, and how many alerts of its group it stands for."""

    alert: Alert
    count: int = 1
    since: datetime | None = None  # the first of the group's alerts, when it stands for several


def batch_url(batch_id: str) -> str:
    """Return the address of the batch's page (BATON_BASE_URL, then the admin's path)."""
    return settings.BATON_BASE_URL.rstrip("/") + reverse("admin:executions_batch_change", args=[batch_id])


def owner_url(alert: Alert) -> str | None:
    """Return the address of the alert's workflow (or task) page, where its fires are listed."""
    if alert.workflow_id:
        path = reverse("admin:workflows_workflow_change", args=[alert.workflow_id])
    elif alert.task_id:
        path = reverse("admin:workflows_task_change", args=[alert.task_id])
    else:
        return None
    return settings.BATON_BASE_URL.rstrip("/") + path


def tail(output: str) -> str:
    """Return the last lines of a node's output (stored masked), at most TAIL_LINES lines and TAIL_CHARACTERS."""
    lines = [line for line in output.rstrip().splitlines() if line.strip()][-TAIL_LINES:]
    text = "\n".join(lines)
    return text if len(text) <= TAIL_CHARACTERS else "…" + text[-TAIL_CHARACTERS:]


def _headline(trigger: str) -> str:
    return {
        rules.FAILED: _("failed"),
        rules.TIMED_OUT: _("timed out"),
        rules.STOPPED: _("was stopped"),
        rules.RECOVERED: _("recovered"),
        rules.CORE_NODE_FAILED: _("a core node failed"),
        rules.RUNNING_LONG: _("is running long"),
        rules.MISSED: _("missed a fire"),
        rules.SKIPPED: _("skipped a fire (overlap policy)"),
        rules.NOT_SUCCEEDED_BY: _("has not succeeded by its deadline"),
        rules.NOT_STARTED_WITHIN: _("has not started in time"),
    }.get(trigger, trigger)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _failed_nodes(batch: Batch) -> list[dict[str, str]]:
    runs = NodeRun.objects.filter(batch=batch, status__in=[NodeStatus.FAILED, NodeStatus.TIMED_OUT]).order_by("id")
    return [
        {"key": run.node_key, "status": run.status, "output_tail": tail(run.output)}
        for run in runs.only("node_key", "status", "output")[:10]
    ]


def _recovered_from(batch: Batch) -> Batch | None:
    owner = {"workflow_id": batch.workflow_id} if batch.workflow_id else {"task_id": batch.task_id}
    return (
        Batch.objects.filter(**owner, created_at__lt=batch.created_at, status__in=sorted(rules.FAILURE_RESULTS))
        .order_by("-created_at")
        .only("id", "status", "finished_at")
        .first()
    )


def build(occurrence: Occurrence, language: str) -> Message:
    """Return the message of an alert (and its group's count) written in `language` (en or zh-hans)."""
    alert = occurrence.alert
    if alert.batch_id is None:
        return _fire_message(occurrence, language)
    batch = alert.batch
    owner = batch.workflow or batch.task
    with translation.override(language):
        what = _("Workflow") if batch.workflow_id else _("Task")
        subject = _("[Baton] %(what)s %(name)s %(headline)s — batch %(batch)s") % {
            "what": what,
            "name": owner,
            "headline": _headline(alert.trigger),
            "batch": batch.pk,
        }
        duration = (batch.finished_at - batch.created_at).total_seconds() if batch.finished_at else None
        lines = [
            _("%(what)s: %(name)s") % {"what": what, "name": owner},
            _("Team: %(team)s") % {"team": alert.team},
            _("Batch: %(batch)s (%(status)s)") % {"batch": batch.pk, "status": batch.status},
            _("Trigger: %(trigger)s") % {"trigger": batch.trigger},
        ]
        if batch.scheduled_for:
            lines.append(_("Scheduled for: %(at)s") % {"at": _iso(batch.scheduled_for)})
        lines.append(_("Started: %(at)s") % {"at": _iso(batch.created_at)})
        if duration is not None:
            lines.append(_("Duration: %(seconds).1f s") % {"seconds": duration})
        elif alert.trigger == rules.RUNNING_LONG:
            running = (alert.created_at - batch.created_at).total_seconds()
            lines.append(_running_limit(alert, running))
        lines.extend(_deadline_lines(alert))
        if occurrence.count > 1:
            lines.append(
                _("%(count)d alerts like this since %(since)s; this is the latest.")
                % {"count": occurrence.count, "since": _iso(occurrence.since)}
            )
        recovered = _recovered_from(batch) if alert.trigger == rules.RECOVERED else None
        if recovered is not None:
            lines.append(
                _("Recovers from batch %(batch)s (%(status)s at %(at)s).")
                % {"batch": recovered.pk, "status": recovered.status, "at": _iso(recovered.finished_at)}
            )
        failed = _failed_nodes(batch) if alert.trigger != rules.RECOVERED else []
        if failed:
            lines.append(_("Failed nodes:"))
            for node in failed:
                lines.append(f"- {node['key']} ({node['status']})")
                lines.extend(f"    {line}" for line in node["output_tail"].splitlines())
        url = batch_url(batch.pk)
        lines.append(_("Open: %(url)s") % {"url": url})
    data: dict[str, Any] = {
        "event": alert.trigger,
        "team": str(alert.team),
        "workflow": str(batch.workflow) if batch.workflow_id else None,
        "task": str(batch.task) if batch.task_id else None,
        "batch": {
            "id": batch.pk,
            "status": batch.status,
            "trigger": batch.trigger,
            "scheduled_for": _iso(batch.scheduled_for),
            "started_at": _iso(batch.created_at),
            "finished_at": _iso(batch.finished_at),
            "duration_seconds": duration,
            "url": url,
        },
        "fire": _fire_data(alert),
        "failed_nodes": failed,
        "count": occurrence.count,
        "recovered_from": recovered.pk if recovered is not None else None,
        "language": language,
    }
    return Message(subject=subject, text="\n".join(lines), data=data)


def _running_limit(alert: Alert, running: float) -> str:
    rule = alert.rule
    if rule.running_longer_than is None and rule.running_long_factor is not None:
        return _("Running for %(seconds).0f s (the rule's limit is %(factor)g × the p95 of recent successes).") % {
            "seconds": running,
            "factor": rule.running_long_factor,
        }
    return _("Running for %(seconds).0f s (the rule's limit is %(limit)d s).") % {
        "seconds": running,
        "limit": rule.running_longer_than or 0,
    }


def _deadline_lines(alert: Alert) -> list[str]:
    """Say what a deadline rule expected (the rule's own words), for the deadline triggers."""
    rule = alert.rule
    if alert.trigger == rules.NOT_SUCCEEDED_BY and rule.deadline is not None:
        return [_("Expected to succeed by %(time)s (the trigger's time zone).") % {"time": f"{rule.deadline:%H:%M}"}]
    if alert.trigger == rules.NOT_STARTED_WITHIN and rule.start_within is not None:
        return [_("Expected to start within %(minutes)d min of its fire time.") % {"minutes": rule.start_within}]
    return []


def _fire_data(alert: Alert) -> dict[str, Any] | None:
    fire = alert.fire
    if fire is None:
        return None
    return {
        "scheduled_for": _iso(fire.scheduled_for),
        "outcome": fire.outcome,
        "missed_count": fire.missed_count,
        "missed_until": _iso(fire.missed_until),
    }


def _fire_message(occurrence: Occurrence, language: str) -> Message:
    """Return the message of an alert about a fire that has no batch (missed, skipped, not started)."""
    alert = occurrence.alert
    fire = alert.fire
    owner = alert.workflow or alert.task
    with translation.override(language):
        what = _("Workflow") if alert.workflow_id else _("Task")
        at = _iso(fire.scheduled_for) if fire is not None else None
        subject = _("[Baton] %(what)s %(name)s %(headline)s — fire %(at)s") % {
            "what": what,
            "name": owner,
            "headline": _headline(alert.trigger),
            "at": at,
        }
        lines = [
            _("%(what)s: %(name)s") % {"what": what, "name": owner},
            _("Team: %(team)s") % {"team": alert.team},
            _("Scheduled for: %(at)s") % {"at": at},
        ]
        if fire is not None:
            outcome = {
                "missed": _("missed (the misfire policy did not run it)"),
                "skipped_overlap": _("skipped: the previous batch was still running (overlap policy)"),
                "skipped_backlog": _("skipped: too many fires already waiting (overlap policy queue)"),
                "queued": _("waiting for the running batch to end (overlap policy queue)"),
                "dropped": _("dropped"),
            }.get(fire.outcome, fire.outcome)
            lines.append(_("Fire: %(outcome)s") % {"outcome": outcome})
            if fire.missed_count > 1:
                lines.append(
                    _("%(count)d fires missed, up to %(until)s.")
                    % {"count": fire.missed_count, "until": _iso(fire.missed_until)}
                )
        lines.extend(_deadline_lines(alert))
        if occurrence.count > 1:
            lines.append(
                _("%(count)d alerts like this since %(since)s; this is the latest.")
                % {"count": occurrence.count, "since": _iso(occurrence.since)}
            )
        url = owner_url(alert)
        if url:
            lines.append(_("Open: %(url)s") % {"url": url})
    data: dict[str, Any] = {
        "event": alert.trigger,
        "team": str(alert.team),
        "workflow": str(alert.workflow) if alert.workflow_id else None,
        "task": str(alert.task) if alert.task_id else None,
        "url": url,
        "batch": None,
        "fire": _fire_data(alert),
        "failed_nodes": [],
        "count": occurrence.count,
        "recovered_from": None,
        "language": language,
    }
    return Message(subject=subject, text="\n".join(lines), data=data)


def channel_test_message(channel_name: str, team: str, language: str) -> Message:
    """Return the message of a channel's "send a test message" action."""
    with translation.override(language):
        subject = _("[Baton] Test message for channel %(name)s") % {"name": channel_name}
        text = _("If you read this, Baton's alerts reach channel %(name)s of team %(team)s.") % {
            "name": channel_name,
            "team": team,
        }
    return Message(subject=subject, text=text, data={"event": "test", "team": team, "language": language})
