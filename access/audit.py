"""The audit trail's one writer: every state-changing action and every denied cross-team attempt.

Services write an action's row with `audit_record`, inside the transaction that makes the
change, so the row exists exactly when the change committed. Actions of Baton itself (the
scheduler's fires, the sweep's timeouts) are recorded in the fire log and the batch events
instead (`Actor.audited`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from access.actors import Actor
from access.models import AuditEntry
from access.scoping import has_role, team_of
from workflows.models import Team

DENIED = "denied"
DENIED_WINDOW_SECONDS = 60
logger = logging.getLogger(__name__)


@dataclass
class _Deferred:
    """The denied-attempt rows of the request being answered, written once its response has been sent."""

    method: str
    path: str
    writes: list[Callable[[], None]] = field(default_factory=list)


_deferred: ContextVar[_Deferred | None] = ContextVar("baton_deferred_audit", default=None)


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: Any = None,
    team: Team | None = None,
    object_type: str = "",
    object_id: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEntry | None:
    """Append one audit row: who did what to which object of which team, from where, through what, with a summary."""
    if not actor.audited:
        return None
    if obj is not None:
        team = team or team_of(obj)
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
    return AuditEntry.objects.create(
        actor=actor.user,
        actor_label=actor.label[:160],
        team=team,
        action=action,
        object_type=object_type[:48],
        object_id=str(object_id)[:64],
        object_repr=str(obj)[:200] if obj is not None else "",
        before=before,
        after=after,
        source_address=actor.source_address,
        via=actor.via,
    )


def audit_denied(*, actor: Actor, obj: Any = None, what: str = "", unless_role: str | None = None) -> None:
    """Record an attempt to reach another team's object (answered as if it did not exist).

    Inside a request the row is written after the response has been sent
    (`DeferredAuditMiddleware`), so a denial answers exactly as fast as an unknown id, and
    outside the transaction of the request's action, so a refused write still leaves it; and
    attempts are aggregated, one row per actor, team and minute (`_denied_write`), so a prober
    cannot grow the table faster than that. `unless_role`: not an attempt if the principal holds
    this role in the object's team.
    """
    deferred = _deferred.get()
    method, path = (deferred.method, deferred.path) if deferred is not None else ("", "")
    write = partial(_denied_write, actor=actor, obj=obj, method=method, path=path, what=what, unless_role=unless_role)
    if deferred is None:
        write()
    else:
        deferred.writes.append(write)


def _denied_write(*, actor: Actor, obj: Any, method: str, path: str, what: str, unless_role: str | None) -> None:
    """Add one denied attempt to its actor's row for the team and minute, or start that row.

    1. The row of (actor, team, minute) is found through the shared cache (its id), so adding an
       attempt is one UPDATE of its count; a stale id (another window, a deleted row) matches no
       row because the update also names the actor, team and action.
    2. Two processes that both miss the cache for the same window each start a row: the bound
       holds per process, and the count stays exact across both rows.
    """
    team = team_of(obj) if obj is not None else None
    if unless_role is not None and team is not None and has_role(actor.principal, team.pk, unless_role):
        return
    label = actor.label[:160]
    window = timezone.now().replace(second=0, microsecond=0)
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"audit-denied:{digest}:{team.pk if team else 0}:{window:%Y%m%d%H%M}"
    entry_id = cache.get(key)
    if entry_id is not None:
        added = AuditEntry.objects.filter(pk=entry_id, action=DENIED, actor_label=label, team=team).update(
            count=F("count") + 1
        )
        if added:
            return
    entry = audit_record(
        actor=actor,
        action=DENIED,
        obj=obj,
        team=team,
        after={"method": method, "path": path[:300], "what": what[:300]},
    )
    if entry is not None:
        cache.set(key, entry.pk, timeout=DENIED_WINDOW_SECONDS * 2)


class DeferredAuditMiddleware:
    """Write a request's denied-attempt audit rows after its response has been sent."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        deferred = _Deferred(method=request.method or "", path=request.path or "")
        token = _deferred.set(deferred)
        try:
            response = self.get_response(request)
        finally:
            _deferred.reset(token)
        if deferred.writes:
            # Django calls a response's closers once the server has sent it (before the request's
            # connections are closed); an error there must not be lost silently.
            response._resource_closers.append(partial(_write_pending, deferred.writes))
        return response


def _write_pending(pending: list[Callable[[], None]]) -> None:
    for write in pending:
        try:
            write()
        except Exception:
            logger.exception("could not write a denied-attempt audit row")
