"""The audit trail's one writer: every state-changing action and every denied cross-team attempt."""

from __future__ import annotations

import ipaddress
from typing import Any

from access.models import AuditEntry
from access.scoping import TokenUser, team_of
from workflows.models import Team

DENIED = "denied"


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


def audit_denied(*, user: Any, obj: Any = None, request: Any = None, via: str = "api", what: str = "") -> AuditEntry:
    """Record an attempt to reach another team's object (answered as if it did not exist)."""
    method = getattr(request, "method", "") or ""
    path = getattr(request, "path", "") or ""
    return audit_record(
        user=user,
        action=DENIED,
        obj=obj,
        after={"method": method, "path": path[:300], "what": what[:300]},
        request=request,
        via=via,
    )
