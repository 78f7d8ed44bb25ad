"""The audit trail's one writer: every state-changing action and every denied cross-team attempt."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from access.models import AuditEntry
from access.scoping import TokenUser, has_role, team_of
from workflows.models import Team

DENIED = "denied"
DENIED_WINDOW_SECONDS = 60
DEFERRED_ATTRIBUTE = "_baton_deferred_audit"
logger = logging.getLogger(__name__)


def source_address(request: Any) -> str | None:
    """Return the client address of a request (REMOTE_ADDR; a proxy must set it, see docs/deployment.md)."""
    if request is None:
        return None
    value = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _actor(user: Any) -> tuple[Any, str]:
    if isinstance(user, TokenUser):
        return None, f"token:{user.token.name}#{user.token.pk}"
    if user is None or not getattr(user, "is_authenticated", False):
        return None, "anonymous"
    return user, user.get_username()


def audit_record(
    *,
    user: Any,
    action: str,
    obj: Any = None,
    team: Team | None = None,
    object_type: str = "",
    object_id: str = "",
    before: Any = None,
    after: Any = None,
    request: Any = None,
    via: str = "api",
) -> AuditEntry:
    """Append one audit row: who did what to which object of which team, from where, with a summary."""
    actor, label = _actor(user)
    if obj is not None:
        team = team or team_of(obj)
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
    return AuditEntry.objects.create(
        actor=actor,
        actor_label=label[:160],
        team=team,
        action=action,
        object_type=object_type[:48],
        object_id=str(object_id)[:64],
        object_repr=str(obj)[:200] if obj is not None else "",
        before=before,
        after=after,
        source_address=source_address(request),
        via=via,
    )


def audit_denied(
    *,
    user: Any,
    obj: Any = None,
    request: Any = None,
    via: str = "api",
    what: str = "",
    unless_role: str | None = None,
) -> None:
    """Record an attempt to reach another team's object (answered as if it did not exist).

    Inside a request the row is written after the response has been sent
    (`DeferredAuditMiddleware`), so a denial answers exactly as fast as an unknown id; and
    attempts are aggregated, one row per actor, team and minute (`_denied_write`), so a prober
    cannot grow the table faster than that. `unless_role`: not an attempt if the principal holds
    this role in the object's team.
    """
    write = partial(_denied_write, user=user, obj=obj, request=request, via=via, what=what, unless_role=unless_role)
    pending = getattr(getattr(request, "_request", request), DEFERRED_ATTRIBUTE, None)
    if pending is None:
        write()
    else:
        pending.append(write)


def _denied_write(*, user: Any, obj: Any, request: Any, via: str, what: str, unless_role: str | None) -> None:
    """Add one denied attempt to its actor's row for the team and minute, or start that row.

    1. The row of (actor, team, minute) is found through the shared cache (its id), so adding an
       attempt is one UPDATE of its count; a stale id (another window, a deleted row) matches no
       row because the update also names the actor, team and action.
    2. Two processes that both miss the cache for the same window each start a row: the bound
       holds per process, and the count stays exact across both rows.
    """
    team = team_of(obj) if obj is not None else None
    if unless_role is not None and team is not None and has_role(user, team.pk, unless_role):
        return
    _actor_user, label = _actor(user)
    window = timezone.now().replace(second=0, microsecond=0)
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"audit-denied:{digest}:{team.pk if team else 0}:{window:%Y%m%d%H%M}"
    entry_id = cache.get(key)
    if entry_id is not None:
        added = AuditEntry.objects.filter(pk=entry_id, action=DENIED, actor_label=label[:160], team=team).update(
            count=F("count") + 1
        )
        if added:
            return
    method, path = getattr(request, "method", "") or "", getattr(request, "path", "") or ""
    entry = audit_record(
        user=user,
        action=DENIED,
        obj=obj,
        team=team,
        after={"method": method, "path": path[:300], "what": what[:300]},
        request=request,
        via=via,
    )
    cache.set(key, entry.pk, timeout=DENIED_WINDOW_SECONDS * 2)


class DeferredAuditMiddleware:
    """Write a request's denied-attempt audit rows after its response has been sent."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        pending: list[Callable[[], None]] = []
        setattr(request, DEFERRED_ATTRIBUTE, pending)
        response = self.get_response(request)
        if pending:
            # Django calls a response's closers once the server has sent it (before the request's
            # connections are closed); an error there must not be lost silently.
            response._resource_closers.append(partial(_write_pending, pending))
        return response


def _write_pending(pending: list[Callable[[], None]]) -> None:
    for write in pending:
        try:
            write()
        except Exception:
            logger.exception("could not write a denied-attempt audit row")
