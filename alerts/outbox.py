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
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from alerts import channels, rules
from alerts.channels import DeliveryError, Guard
from alerts.messages import Occurrence, build
from alerts.models import Alert, Channel, Cursor, Delivery, DeliveryStatus, Rule
from executions import dispatch
from executions.models import Batch, Event, NodeRun
from executions.runtime import blueprint_for
from executions.states import BATCH_FINISHED, BatchStatus
from workflows import secrets

logger = logging.getLogger(__name__)
CURSOR = "events"
SCAN_LIMIT = 1000
SEND_LIMIT = 100


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


def _rules_of(batch: Batch, team_id: int) -> list[Rule]:
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
    )
    created = 0
    decided = set(Alert.objects.filter(batch=batch).values_list("rule_id", flat=True))
    for rule in _rules_of(batch, owner.team_id):
        trigger = rules.trigger_of(facts, rule.facts())
        if trigger is not None and rule.pk not in decided and _alert_write(batch, rule, trigger, now):
            created += 1
    return created


def clock_scan(*, now: datetime) -> int:
    """Decide the clock's triggers (running_long) for running batches; each rule alerts a batch once."""
    created = 0
    for rule in Rule.objects.filter(enabled=True, running_longer_than__isnull=False).order_by("pk"):
        if rules.RUNNING_LONG not in rule.triggers:
            continue
        started_before = now - timedelta(seconds=rule.running_longer_than or 0)
        running = Batch.objects.filter(status=BatchStatus.RUNNING, created_at__lt=started_before)
        if rule.workflow_id or rule.task_id:
            running = running.filter(workflow_id=rule.workflow_id, task_id=rule.task_id)
        else:
            running = running.filter(Q(workflow__team_id=rule.team_id) | Q(task__team_id=rule.team_id))
        running = running.exclude(pk__in=Alert.objects.filter(rule=rule).values("batch_id"))
        for batch in running.select_related("workflow", "task")[:SCAN_LIMIT]:
            owner_team = (batch.workflow or batch.task).team_id  # type: ignore[union-attr]
            applies = rule.pk in {r.pk for r in _rules_of(batch, owner_team)}
            if applies and rules.running_long(batch.created_at, now, rule.running_longer_than):
                created += _alert_write(batch, rule, rules.RUNNING_LONG, now)
    return created


def _alert_write(batch: Batch, rule: Rule, trigger: str, now: datetime) -> bool:
    """Insert the (batch, rule) alert and its deliveries in one transaction; False if it exists already."""
    muted = rule.facts().muted(now)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                team_id=rule.team_id,
                rule=rule,
                batch=batch,
                workflow_id=batch.workflow_id,
                task_id=batch.task_id,
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
    """Select the deliveries that share a message with this alert's: same channel, rule, owner, a grouped trigger."""
    return Q(
        channel=channel,
        alert__rule_id=alert.rule_id,
        alert__workflow_id=alert.workflow_id,
        alert__task_id=alert.task_id,
        alert__trigger__in=sorted(rules.GROUPED),
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
    group = list(Delivery.objects.select_related("alert__batch", "alert__team", "channel").filter(pk__in=claimed))
    group.sort(key=lambda row: (row.alert.created_at, row.pk))
    leader, first = group[-1], group[0]
    occurrence = Occurrence(alert=leader.alert, count=len(group), since=first.alert.created_at)
    error = _deliver(leader.channel, occurrence)
    _record(group, leader, error, timezone.now())
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
