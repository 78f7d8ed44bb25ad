"""The outbox: decide alerts from the event log, write each once, send each with retries and back-off.

Why it is safe (docs/alerts.md, "The outbox"):

1. The engine writes an `Event` in the transaction of every state change, on both hop stores.
   A batch's end and a core node's failure are such events, so what happened is durable the
   moment it commits; nothing is added to the hop's own queries.
2. After that commit the engine sends a wake-up (`executions.dispatch.alert_after_commit`) for
   the batch; a wake-up that is lost (a broker restart, a worker killed between the commit and
   the send) is made good by the periodic backstop, which reads the events after a stored
   cursor. The cursor only moves past events older than BATON_ALERT_SETTLE_SECONDS, so an
   event whose transaction committed late (ids are taken before commit) is still read.
3. Deciding is idempotent: one `Alert` per (batch, rule) is a unique constraint, and its
   deliveries are written in the same transaction as the alert, so two deciders (a wake-up and
   the backstop, two workers) make exactly one alert and one delivery per channel.
4. Sending claims a delivery with a compare-and-set (pending → sending, with a lease); a
   sender killed mid-send leaves it `sending` until the lease passes, then it is sent again.
   A delivery that failed waits (back-off) and is retried until BATON_ALERT_MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from access.models import AuditEntry
from alerts import channels, rules
from alerts.channels import DeliveryError, Guard
from alerts.messages import Occurrence, build
from alerts.models import Alert, Channel, Cursor, Delivery, DeliveryStatus, Rule
from executions import dispatch
from executions.models import Batch, Event, Fire, FireOutcome, NodeRun
from executions.runtime import blueprint_for
from executions.states import BATCH_FINISHED, BatchStatus
from ops import metrics
from workflows import secrets
from workflows.models import Task, Workflow

logger = logging.getLogger(__name__)
CURSOR = "events"
SCAN_LIMIT = 1000
SEND_LIMIT = 100
# How far back the deadline rules look at fires (a deadline is at most a day after its fire).
DEADLINE_LOOKBACK = timedelta(days=2)
# A batch that succeeded after its deadline is still alerted if the backstop sees it this soon.
SUCCEEDED_LATE_WINDOW = timedelta(minutes=10)
# The last successful batches a relative running-long limit is taken over, unless the rule says.
HISTORY_DEFAULT = 20


def alerts_run(*, batch_id: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Decide the alerts of one batch (a wake-up) or, as the backstop, of the events after the cursor and of the clock; send what is due."""
    now = now or timezone.now()
    decided = batch_decide(batch_id=batch_id, now=now) if batch_id else events_scan(now=now) + clock_scan(now=now)
    sent, failed = deliveries_send(now=now)
    return {"decided": decided, "sent": sent, "failed": failed}


# -- deciding ------------------------------------------------------------------------------


def events_scan(*, now: datetime) -> int:
    """Decide the batches named by batch ends and node failures after the cursor; move the cursor past settled ones."""
    cursor, _ = Cursor.objects.get_or_create(name=CURSOR)
    relevant = Q(node_key="", to_status__in=sorted(BATCH_FINISHED)) | (
        ~Q(node_key="") & Q(to_status__in=sorted(rules.NODE_FAILURES))
    )
    events = list(
        Event.objects.filter(relevant, pk__gt=cursor.event_id)
        .order_by("pk")
        .values_list("pk", "batch_id", "at")[:SCAN_LIMIT]
    )
    decided = 0
    for batch_id in dict.fromkeys(batch for _, batch, _ in events):
        decided += batch_decide(batch_id=batch_id, now=now)
    settled = now - timedelta(seconds=settings.BATON_ALERT_SETTLE_SECONDS)
    last = cursor.event_id
    for pk, _, at in events:
        if at > settled:
            break
        last = pk
    if last != cursor.event_id:
        Cursor.objects.filter(name=CURSOR, event_id__lt=last).update(event_id=last)
    return decided


def _core_node_failed(batch: Batch) -> bool:
    if batch.version_id is None:  # a standalone task's run has no core nodes
        return False
    core = blueprint_for(batch.version_id).core_keys
    failed = NodeRun.objects.filter(batch=batch, node_key__in=sorted(core), status__in=sorted(rules.NODE_FAILURES))
    return bool(core) and failed.exists()


def _previous_status(batch: Batch) -> str | None:
    owner = {"workflow_id": batch.workflow_id} if batch.workflow_id else {"task_id": batch.task_id}
    earlier = Batch.objects.filter(**owner, created_at__lt=batch.created_at, status__in=sorted(BATCH_FINISHED))
    return earlier.order_by("-created_at").values_list("status", flat=True).first()


def _stopped_by(batch: Batch) -> int | None:
    """Return the user whose stop ended the batch: the first `batch.stop` in the audit log (None: Baton)."""
    if batch.status != BatchStatus.STOPPED:
        return None
    entries = AuditEntry.objects.filter(action="batch.stop", object_type="batch", object_id=str(batch.pk))
    return entries.order_by("pk").values_list("actor_id", flat=True).first()


# The teams with an enabled rule, as this process last read them: (when, teams). A batch of
# another team wakes no alerts task (`executions.dispatch.alert_wanted`). A rule saved in this
# process clears it at once; another process sees a new rule within
# BATON_ALERT_RULES_CACHE_SECONDS, and until then the backstop alerts that team's batches.
_rule_teams: tuple[float, frozenset[int]] | None = None


def team_has_rules(team_id: int) -> bool:
    """Tell whether the team has an enabled alert rule (read at most every few seconds)."""
    global _rule_teams
    now = time.monotonic()
    if _rule_teams is None or now - _rule_teams[0] >= settings.BATON_ALERT_RULES_CACHE_SECONDS:
        _rule_teams = (now, frozenset(Rule.objects.filter(enabled=True).values_list("team_id", flat=True).distinct()))
    return team_id in _rule_teams[1]


def rule_teams_forget(**_: object) -> None:
    """Forget the teams with rules (a rule was saved or deleted in this process)."""
    global _rule_teams
    _rule_teams = None


def _rules_of(batch: Batch | Fire, team_id: int) -> list[Rule]:
    """Return the rules that apply to the batch's (or fire's) workflow or task: its own, else the team's defaults."""
    own = Rule.objects.filter(team_id=team_id, workflow_id=batch.workflow_id, task_id=batch.task_id)
    if batch.workflow_id is None and batch.task_id is None:
        own = Rule.objects.none()
    defaults = Rule.objects.filter(team_id=team_id, workflow__isnull=True, task__isnull=True)
    chosen = rules.rules_for(own.values_list("pk", flat=True), defaults.values_list("pk", flat=True))
    return list(Rule.objects.filter(pk__in=chosen).prefetch_related("channels").order_by("pk"))


def batch_decide(*, batch_id: str, now: datetime) -> int:
    """Write the alerts the batch sets off (once per rule) with their deliveries; return how many were new."""
    batch = Batch.objects.select_related("workflow", "task").filter(pk=batch_id).first()
    if batch is None:
        return 0
    owner = batch.workflow or batch.task
    if owner is None:
        return 0
    facts = rules.BatchFacts(
        status=batch.status,
        core_node_failed=_core_node_failed(batch),
        previous_status=_previous_status(batch) if batch.status == BatchStatus.SUCCEEDED else None,
        stopped_by=_stopped_by(batch),
    )
    created = 0
    decided = set(Alert.objects.filter(batch=batch).values_list("rule_id", flat=True))
    for rule in _rules_of(batch, owner.team_id):
        trigger = rules.trigger_of(facts, rule.facts())
        if trigger is not None and rule.pk not in decided and _alert_write(rule, trigger, now, batch=batch):
            created += 1
    return created


def fires_decide(fires: list[Fire], now: datetime) -> int:
    """Decide the alerts of fires the scheduler has just recorded (missed, skipped by the overlap policy).

    Called inside the scheduler's transaction, after the fires are inserted: the alerts and their
    deliveries commit with the fire records or not at all (unique per fire and rule), and the
    wake-up that sends them goes after the commit.
    """
    watched = [fire for fire in fires if fire.outcome in rules.FIRE_OUTCOME_TRIGGERS and fire.pk is not None]
    if not watched:
        return 0
    teams = dict(
        Workflow.objects.filter(pk__in={f.workflow_id for f in watched if f.workflow_id}).values_list("pk", "team_id")
    )
    task_teams = dict(
        Task.objects.filter(pk__in={f.task_id for f in watched if f.task_id}).values_list("pk", "team_id")
    )
    created = 0
    applying: dict[tuple[int | None, int | None], list[Rule]] = {}
    for fire in watched:
        team_id = teams.get(fire.workflow_id) if fire.workflow_id else task_teams.get(fire.task_id)
        if team_id is None:
            continue
        key = (fire.workflow_id, fire.task_id)
        if key not in applying:
            applying[key] = _rules_of(fire, team_id)
        for rule in applying[key]:
            trigger = rules.fire_trigger(fire.outcome, rule.facts())
            if trigger is not None and _alert_write(rule, trigger, now, fire=fire):
                created += 1
    if created:
        transaction.on_commit(lambda: dispatch.alert_wakeup(None))
    return created


def fires_decide_on_signal(*, fires: list[Fire], now: datetime, **_: object) -> None:
    """Receive `executions.signals.fires_recorded` (inside the scheduler's transaction)."""
    fires_decide(fires, now)


def batches_forget_on_signal(sender: Any, batch_ids: list[str], **kwargs: Any) -> None:
    """Receive `executions.signals.batches_deleting` (inside retention's transaction).

    The alerts about those batches go with them (their deliveries too); an alert about a fire
    keeps the fire and only loses its batch.
    """
    Alert.objects.filter(batch_id__in=batch_ids, fire__isnull=False).update(batch=None)
    Alert.objects.filter(batch_id__in=batch_ids).delete()


def clock_scan(*, now: datetime) -> int:
    """Decide the clock's triggers: running_long for running batches, the deadlines for recent fires."""
    created = 0
    for rule in Rule.objects.filter(enabled=True).order_by("pk"):
        triggers = set(rule.triggers) & rules.CLOCK_TRIGGERS
        if rules.RUNNING_LONG in triggers:
            created += _running_long_scan(rule, now)
        if rules.NOT_SUCCEEDED_BY in triggers or rules.NOT_STARTED_WITHIN in triggers:
            created += _deadline_scan(rule, now)
    return created


def _owned(rows: Any, rule: Rule) -> Any:
    """Narrow batches or fires to those of the rule's workflow or task, or (a default) of its team's."""
    if rule.workflow_id or rule.task_id:
        return rows.filter(workflow_id=rule.workflow_id, task_id=rule.task_id)
    return rows.filter(Q(workflow__team_id=rule.team_id) | Q(task__team_id=rule.team_id))


def _applies(rule: Rule, row: Batch | Fire) -> bool:
    owner = row.workflow or row.task
    return owner is not None and rule.pk in {r.pk for r in _rules_of(row, owner.team_id)}


def _history(row: Batch, count: int) -> list[float]:
    """Return the durations (seconds) of the owner's last `count` successful batches."""
    owner = {"workflow_id": row.workflow_id} if row.workflow_id else {"task_id": row.task_id}
    done = Batch.objects.filter(**owner, status=BatchStatus.SUCCEEDED, finished_at__isnull=False)
    spans = done.order_by("-finished_at").values_list("created_at", "finished_at")[:count]
    return [(finished - created).total_seconds() for created, finished in spans]


def _running_long_scan(rule: Rule, now: datetime) -> int:
    """Alert each running batch past the rule's limit: fixed seconds, or k × p95 of its owner's history."""
    created = 0
    running = Batch.objects.filter(status=BatchStatus.RUNNING)
    if rule.running_longer_than is not None:
        running = running.filter(created_at__lt=now - timedelta(seconds=rule.running_longer_than))
    alerted = Alert.objects.filter(rule=rule, batch__isnull=False).values("batch_id")
    running = _owned(running, rule).exclude(pk__in=alerted)
    for batch in running.select_related("workflow", "task")[:SCAN_LIMIT]:
        limit: float | None = rule.running_longer_than
        if limit is None and rule.running_long_factor is not None:
            history = _history(batch, rule.running_long_history or HISTORY_DEFAULT)
            limit = rules.relative_limit(history, rule.running_long_factor)
        if _applies(rule, batch) and rules.running_long(batch.created_at, now, limit):
            created += _alert_write(rule, rules.RUNNING_LONG, now, batch=batch)
    return created


def _zone(fire: Fire) -> str:
    owner = fire.workflow or fire.task
    trigger = owner.trigger if owner is not None and isinstance(owner.trigger, dict) else {}
    return trigger.get("timezone") or "UTC"


def _deadline_scan(rule: Rule, now: datetime) -> int:
    """Alert each recent fire whose batch missed the rule's deadline (not succeeded by HH:MM, not started within N min).

    Only deadlines that passed after the rule was made count: a new rule does not alert history.
    """
    created = 0
    fires = Fire.objects.filter(scheduled_for__gte=now - DEADLINE_LOOKBACK, scheduled_for__lte=now)
    fires = _owned(fires.exclude(outcome=FireOutcome.DROPPED), rule)
    # A started fire without its batch lost it to retention (`executions.retention`): not news.
    fires = fires.exclude(outcome__in=[FireOutcome.STARTED, FireOutcome.STARTED_LATE], batch__isnull=True)
    fires = fires.exclude(pk__in=Alert.objects.filter(rule=rule, fire__isnull=False).values("fire_id"))
    if rules.NOT_STARTED_WITHIN in rule.triggers and rule.start_within is not None:
        within = timedelta(minutes=rule.start_within)
        late = Q(batch__isnull=True) | Q(batch__created_at__gt=F("scheduled_for") + within)
        fires = fires.filter(late, scheduled_for__lt=now - within)
    else:  # a batch that succeeded long ago is on time; one that succeeded late is seen while recent
        fires = fires.filter(
            Q(batch__isnull=True)
            | ~Q(batch__status=BatchStatus.SUCCEEDED)
            | Q(batch__finished_at__gt=now - SUCCEEDED_LATE_WINDOW)
        )
    for fire in fires.select_related("workflow", "task", "batch").order_by("-scheduled_for")[:SCAN_LIMIT]:
        batch = fire.batch
        if rules.NOT_STARTED_WITHIN in rule.triggers and rule.start_within is not None:
            trigger = rules.NOT_STARTED_WITHIN
            due = fire.scheduled_for + timedelta(minutes=rule.start_within)
            started = batch.created_at if batch is not None else None
            late = rules.not_started_within(fire.scheduled_for, started, rule.start_within, now)
        elif rules.NOT_SUCCEEDED_BY in rule.triggers and rule.deadline is not None:
            trigger = rules.NOT_SUCCEEDED_BY
            due = rules.deadline_of(fire.scheduled_for, rule.deadline, _zone(fire))
            status, finished = (batch.status, batch.finished_at) if batch is not None else (None, None)
            late = rules.not_succeeded_by(due, now, status, finished)
        else:
            continue
        if late and due >= rule.created_at and _applies(rule, fire):
            created += _alert_write(rule, trigger, now, fire=fire, batch=batch)
    return created


def _alert_write(
    rule: Rule, trigger: str, now: datetime, *, batch: Batch | None = None, fire: Fire | None = None
) -> bool:
    """Insert the (batch or fire, rule) alert and its deliveries in one transaction; False if it exists already."""
    muted = rule.facts().muted(now)
    about: Batch | Fire = fire if fire is not None else batch  # type: ignore[assignment]
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                team_id=rule.team_id,
                rule=rule,
                batch=batch,
                fire=fire,
                workflow_id=about.workflow_id,
                task_id=about.task_id,
                trigger=trigger,
                muted=muted,
                created_at=now,
            )
            if not muted:
                window = timedelta(seconds=settings.BATON_ALERT_GROUP_SECONDS)
                Delivery.objects.bulk_create(
                    Delivery(alert=alert, channel=channel, due_at=_due(alert, channel, window, now))
                    for channel in rule.channels.all()
                    if channel.enabled
                )
    except IntegrityError:
        return False  # another decider wrote it first: the constraint keeps one
    return True


def _group(alert: Alert, channel: Channel) -> Q:
    """Select the deliveries that share a message with this alert's: same channel, rule, owner, trigger group."""
    return Q(
        channel=channel,
        alert__rule_id=alert.rule_id,
        alert__workflow_id=alert.workflow_id,
        alert__task_id=alert.task_id,
        alert__trigger__in=rules.grouped_with(alert.trigger),
    )


def _due(alert: Alert, channel: Channel, window: timedelta, now: datetime) -> datetime:
    if alert.trigger not in rules.GROUPED:
        return now
    last = Delivery.objects.filter(_group(alert, channel), status=DeliveryStatus.SENT, sent_with__isnull=True)
    return rules.group_due(last.aggregate(at=Max("sent_at"))["at"], window, now)


# -- sending -------------------------------------------------------------------------------


def deliveries_send(*, now: datetime) -> tuple[int, int]:
    """Send the due deliveries (and those whose sender died mid-send); return (sent, failed attempts)."""
    due = Delivery.objects.filter(
        Q(status=DeliveryStatus.PENDING, due_at__lte=now) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    )
    sent = failed = 0
    for pk in due.order_by("due_at", "pk").values_list("pk", flat=True)[:SEND_LIMIT]:
        result = delivery_send(delivery_id=pk, now=now)
        sent += result is True
        failed += result is False
    return sent, failed


def _claim(pks: list[int], now: datetime) -> list[int]:
    """Move each due delivery to `sending` with a lease (compare-and-set); return those this sender got."""
    lease = now + timedelta(seconds=settings.BATON_ALERT_LEASE_SECONDS)
    claimable = Q(status=DeliveryStatus.PENDING, due_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, lease_until__lt=now
    )
    mine = []
    for pk in pks:
        moved = Delivery.objects.filter(claimable, pk=pk).update(
            status=DeliveryStatus.SENDING, lease_until=lease, attempts=F("attempts") + 1
        )
        if moved:
            mine.append(pk)
    return mine


def delivery_send(*, delivery_id: int, now: datetime) -> bool | None:
    """Send one delivery, with the due ones of its group in the same message; None if another sender had it."""
    delivery = Delivery.objects.select_related("alert", "channel").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    members = [delivery_id]
    if delivery.alert.trigger in rules.GROUPED:
        members = list(
            Delivery.objects.filter(
                _group(delivery.alert, delivery.channel), status=DeliveryStatus.PENDING, due_at__lte=now
            ).values_list("pk", flat=True)
        )
        members = sorted({*members, delivery_id})
    claimed = _claim(members, now)
    if not claimed:
        return None
    group = list(
        Delivery.objects.select_related("alert__batch", "alert__fire", "alert__team", "channel").filter(pk__in=claimed)
    )
    group.sort(key=lambda row: (row.alert.created_at, row.pk))
    leader, first = group[-1], group[0]
    occurrence = Occurrence(alert=leader.alert, count=len(group), since=first.alert.created_at)
    error = _deliver(leader.channel, occurrence)
    _record(group, leader, error, timezone.now())
    metrics.record_alert_send(leader.channel.kind, error is None)
    return error is None


def _deliver(channel: Channel, occurrence: Occurrence) -> str | None:
    """Send the message through the channel's kind; return the failure's reason (masked), or None."""
    kind = channels.find(channel.kind)
    if kind is None:
        return f"no channel kind named {channel.kind!r}"
    plain: list[str] = []
    try:
        config, plain = secrets.unseal(channel.config)
        message = build(occurrence, channel.language)
        kind.send(config, message, guard())
    except (DeliveryError, ValueError) as exc:
        return _masked(str(exc), plain)
    except Exception as exc:  # a library's bug must not leave the delivery `sending` for ever
        logger.exception("alert delivery through channel %s failed", channel.pk)
        return _masked(f"unexpected error: {type(exc).__name__}: {exc}", plain)
    return None


def _masked(text: str, plain: list[str]) -> str:
    for value in sorted(plain, key=len, reverse=True):
        if value:
            text = text.replace(value, secrets.MASK)
    return text[:1000]


def guard() -> Guard:
    """Return the SSRF guard with this installation's allow-list and the send timeout."""
    return Guard(settings.BATON_HTTP_ALLOWED_NETWORKS, settings.BATON_ALERT_TIMEOUT_SECONDS)


def _record(group: list[Delivery], leader: Delivery, error: str | None, now: datetime) -> None:
    """Mark the claimed deliveries sent, or back to pending after a back-off (failed after the last attempt)."""
    entry = {"at": now.isoformat(timespec="seconds"), "ok": error is None, "grouped": len(group)}
    if error is not None:
        entry["error"] = error
    retry_at = None
    for row in group:
        log = [*row.log, {**entry, "attempt": row.attempts}][-20:]
        fields = {"log": log, "lease_until": None}
        if error is None:
            fields |= {"status": DeliveryStatus.SENT, "sent_at": now, "grouped": len(group), "last_error": ""}
            fields["sent_with"] = None if row.pk == leader.pk else leader
        elif row.attempts >= settings.BATON_ALERT_MAX_ATTEMPTS:
            fields |= {"status": DeliveryStatus.FAILED, "last_error": error}
        else:
            delay = rules.retry_delay(row.attempts, settings.BATON_ALERT_RETRY_SECONDS, 3600)
            row_due = now + timedelta(seconds=delay)
            retry_at = min(retry_at, row_due) if retry_at else row_due
            fields |= {"status": DeliveryStatus.PENDING, "due_at": row_due, "last_error": error}
        Delivery.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING).update(**fields)
    if retry_at is not None:  # a hint, a little after the retry is due: the backstop sends it anyway
        countdown = (retry_at - now).total_seconds() + 0.5
        transaction.on_commit(lambda: dispatch.alert_wakeup(None, countdown=countdown))
