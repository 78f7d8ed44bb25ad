"""The one place that says who may act: `require(actor, obj, role)`, and the names a write may use.

Services call these before they change anything; the interfaces call `allows` only to decide
which buttons to show. A refusal is `baton.errors.PermissionDenied` (the API answers 403, the
admin shows the message, the CLI exits 1); its message names the role and the team.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from access.actors import Actor
from access.audit import audit_denied
from access.scoping import has_role, kind_permission_refusal, scoped, team_of
from baton.errors import PermissionDenied
from workflows.definition import DefinitionError, Problem
from workflows.models import Team


def refusal(actor: Actor, obj: Any, role: str, doing: str | None = None) -> str | None:
    """Say why the actor may not act on the object with `role` (the role it needs in which team), or None."""
    if actor.principal is None:
        return None
    team = team_of(obj)
    if has_role(actor.principal, team.pk if team else None, role):
        return None
    if doing:
        return _("%(action)s needs the %(role)s role in team %(team)s.") % {"action": doing, "role": role, "team": team}
    return _("This needs the %(role)s role in team %(team)s.") % {"role": role, "team": team}


def allows(actor: Actor, obj: Any, role: str) -> bool:
    """Tell whether the actor holds `role` in the object's team (to show a button; services `require`)."""
    return refusal(actor, obj, role) is None


def require(actor: Actor, obj: Any, role: str, doing: str | None = None) -> None:
    """Refuse (PermissionDenied) an actor without `role` in the object's team; `doing` names the action."""
    message = refusal(actor, obj, role, doing)
    if message is not None:
        raise PermissionDenied(message)


def require_kind_permissions(actor: Actor, team: Team, tasks: list[Any]) -> None:
    """Refuse new or changed tasks of a kind whose permission the actor lacks (shell, SPEC §2)."""
    if actor.principal is None:
        return
    message = kind_permission_refusal(actor.principal, team, tasks)
    if message is not None:
        raise PermissionDenied(message)


def team_named(
    actor: Actor, name: Any, role: str, *, doing: str | None = None, field: str = "team", create: bool = False
) -> Team:
    """Return the team a request names, where the actor must hold `role` (`doing` names the action).

    A team the actor cannot see is answered as an unknown one (and the attempt is audited as
    denied). With `create`, an unrestricted actor (a superuser, the machine's operator) naming a
    missing team gets it unsaved, for the caller to create inside its own transaction.
    """
    if not isinstance(name, str) or not name:
        raise DefinitionError([Problem(field, _("a team name is required"))])
    visible = Team.objects.all() if actor.principal is None else scoped(actor.principal, Team)
    team = visible.filter(name=name).first()
    if team is not None:
        require(actor, team, role, doing)
        return team
    foreign = Team.objects.filter(name=name).first()
    if foreign is not None:
        audit_denied(actor=actor, obj=foreign, what=f"{field} in body")
    elif create and actor.unrestricted:
        return Team(name=name)
    raise DefinitionError([Problem(field, _("no team named %(name)r") % {"name": name})])
