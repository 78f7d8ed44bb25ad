"""The one way a status changes: compare-and-set, with an event row in the same transaction.

`UPDATE … WHERE pk = … AND status = <expected>` touches 0 rows when another worker got there
first; that is not an error, the caller simply lost the race. Only local columns are filtered
so PostgreSQL re-checks the guard on the row version it waits for (EvalPlanQual).

These are the ORM's statements (`executions.store.orm`); the PostgreSQL store writes the same
guards in its SQL and checks each against the same map (`check_transition`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from executions.models import Batch, Event, NodeRun
from executions.states import BATCH_TRANSITIONS, NODE_TRANSITIONS, OPERATOR_TRANSITIONS, NodeStatus


class InvalidTransition(Exception):
    """A transition the state diagram does not allow (a programming error)."""


class EventLog(list):
    """Events of one transaction, written with one INSERT when flushed (fewer round trips)."""

    def flush(self) -> None:
        """Insert the collected events; call it before the transaction commits."""
        if self:
            Event.objects.bulk_create(self)
            self.clear()


def check_transition(table: Mapping[str, frozenset[str]], current: str, to: str) -> None:
    """Raise InvalidTransition unless `table` (NODE_TRANSITIONS or BATCH_TRANSITIONS) allows current → to."""
    if to not in table.get(current, ()):
        raise InvalidTransition(f"{current} → {to} is not allowed")


def moved_at(to: str) -> str:
    """Name the time field a node run's move to `to` stamps: when it was queued, or when it ended."""
    return "queued_at" if to == NodeStatus.QUEUED else "finished_at"


def _record(events: EventLog | None, new: list[Event]) -> None:
    if events is None:
        Event.objects.bulk_create(new)
    else:
        events.extend(new)


def node_transition(
    run: NodeRun,
    *,
    to: str,
    now: datetime,
    message: str = "",
    events: EventLog | None = None,
    unchanged: Mapping[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move one node run from its known status to `to`; False if it was no longer in it.

    `unchanged` names other fields the row must still hold (a finish guards on the attempt
    number too). With `events`, the event row joins the log the caller flushes before its commit.
    """
    check_transition(NODE_TRANSITIONS, run.status, to)
    guard = {"pk": run.pk, "status": run.status, **(unchanged or {})}
    changed = NodeRun.objects.filter(**guard).update(status=to, **fields)
    if changed:
        event = Event(
            batch_id=run.batch_id,
            node_run_id=run.pk,
            node_key=run.node_key,
            from_status=run.status,
            to_status=to,
            message=message,
            at=now,
        )
        _record(events, [event])
        run.status = to
        for name, value in fields.items():
            setattr(run, name, value)
    return bool(changed)


def operator_transition(
    batch_id: str,
    runs: Iterable[tuple[int, str]],
    *,
    current: str,
    to: str,
    now: datetime,
    message: str,
    events: EventLog,
    **fields: Any,
) -> list[int]:
    """Move node runs of one locked batch by an operator's action (`OPERATOR_TRANSITIONS`); return the ids moved."""
    check_transition(OPERATOR_TRANSITIONS, current, to)
    runs = list(runs)
    ids = [pk for pk, _ in runs]
    moved = set(NodeRun.objects.filter(pk__in=ids, status=current).values_list("pk", flat=True))
    NodeRun.objects.filter(pk__in=moved, status=current).update(status=to, **fields)
    events.extend(
        Event(
            batch_id=batch_id, node_run_id=pk, node_key=key, from_status=current, to_status=to, message=message, at=now
        )
        for pk, key in runs
        if pk in moved
    )
    return [pk for pk, _ in runs if pk in moved]


def nodes_transition(
    batch_id: str,
    runs: Iterable[tuple[int, str]],
    *,
    current: str,
    to: str,
    now: datetime,
    message: str = "",
    events: EventLog | None = None,
    **fields: Any,
) -> list[int]:
    """Move several node runs of one batch from `current` to `to`; return the ids moved.

    The caller holds the batch row lock, so no other advance can race; rows a worker moved
    meanwhile are re-read and left out of the event log.
    """
    check_transition(NODE_TRANSITIONS, current, to)
    runs = list(runs)
    if not runs:
        return []
    ids = [pk for pk, _ in runs]
    changed = NodeRun.objects.filter(pk__in=ids, status=current).update(status=to, **fields)
    if changed != len(ids):
        moved = set(NodeRun.objects.filter(pk__in=ids, status=to).values_list("pk", flat=True))
        runs = [(pk, key) for pk, key in runs if pk in moved]
    new = [
        Event(
            batch_id=batch_id, node_run_id=pk, node_key=key, from_status=current, to_status=to, message=message, at=now
        )
        for pk, key in runs
    ]
    _record(events, new)
    return [pk for pk, _ in runs]


def batch_transition(
    batch_id: str,
    *,
    current: str,
    to: str,
    now: datetime,
    message: str = "",
    events: EventLog | None = None,
    **fields: Any,
) -> bool:
    """Move a batch from `current` to `to`; False if it was no longer in it."""
    check_transition(BATCH_TRANSITIONS, current, to)
    changed = Batch.objects.filter(pk=batch_id, status=current).update(status=to, **fields)
    if changed:
        _record(events, [Event(batch_id=batch_id, from_status=current, to_status=to, message=message, at=now)])
    return bool(changed)
