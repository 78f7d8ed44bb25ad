"""The one team-scoped queryset per model, and role checks (SPEC §7).

Every list, detail, action, filter, serializer relation and admin page takes its rows from
`scoped(user, Model)`: another team's rows are not in it, so they are 404, and a foreign id
in a body or a filter does not resolve. Superusers see every team. A principal is a Django
user (roles from `Membership`) or an integration's `TokenUser` (one team, the token's role).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _

from access.models import ApiToken
from workflows import kinds, secrets
from workflows.kinds import shell
from workflows.models import Membership, Role, Task, Team

SHELL_PERMISSION = shell.PERMISSION.name  # what a token's "may define shell tasks" grants
ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class TokenUser:
    """The principal of a request authenticated by an API token: one team, one role.

    It acts with the lesser of the token's rights and its creator's current rights in the team
    (role, shell permission); `token` must come from `ApiToken.objects.with_creator_rights()`.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None  # not a row of the user table: services record no `created_by` for it
    id = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = f"token:{token.name}"
        creator = token.created_by
        creator_is_superuser = bool(creator is not None and creator.is_superuser)
        creator_role = Role.ADMIN if creator_is_superuser else token.creator_role
        self.role = min(token.role, creator_role or Role.VIEWER, key=lambda role: ROLE_RANK[role])
        self.may_define_shell = (
            token.can_define_shell and self.role != Role.VIEWER and (creator_is_superuser or bool(token.creator_shell))
        )

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Tell whether the token holds a Django permission (only the shell one exists for tokens)."""
        return perm == SHELL_PERMISSION and self.may_define_shell


def token_orphaned_because(token: ApiToken) -> str | None:
    """Say why a token no longer authenticates (its creator left the team or lost the account), or None."""
    creator = token.created_by
    if creator is None:
        return _("its creator's account was deleted")
    if not creator.is_active:
        return _("its creator's account is deactivated")
    if not creator.is_superuser and token.creator_role is None:
        return _("its creator is no longer a member of team %(team)s") % {"team": token.team}
    return None


def token_grant_problems(user: Any, team: Team, role: str, shell: bool) -> dict[str, str]:
    """Return {field: problem} for a token `user` would make: nobody hands out a right they do not hold."""
    if not has_role(user, team.pk, Role.ADMIN):
        return {"team": _("You are not an admin of team %(team)s.") % {"team": team}}
    problems: dict[str, str] = {}
    roles = team_roles(user)
    held = Role.ADMIN if roles is None else roles.get(team.pk, Role.VIEWER)
    if ROLE_RANK.get(role, ROLE_RANK[Role.ADMIN]) > ROLE_RANK[held]:
        problems["role"] = _("You cannot grant the %(role)s role: yours in team %(team)s is %(held)s.") % {
            "role": role,
            "team": team,
            "held": held,
        }
    if shell and not can_define_shell(user):
        problems["can_define_shell"] = _(
            "You cannot grant shell rights: you do not hold the permission to define shell tasks yourself."
        )
    return problems


def team_roles(user: Any) -> dict[int, str] | None:
    """Return {team id: role} for the principal; None means every team (a superuser)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return {}
    if getattr(user, "is_superuser", False):
        return None
    cached = getattr(user, "_baton_team_roles", None)
    if cached is not None:
        return cached
    if isinstance(user, TokenUser):
        roles = {user.token.team_id: user.role}
    else:
        roles = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
    user._baton_team_roles = roles
    return roles


def teams_with(user: Any, role: str = Role.VIEWER) -> set[int] | None:
    """Return the ids of the teams where the principal has at least `role`; None means all."""
    roles = team_roles(user)
    if roles is None:
        return None
    return {team for team, held in roles.items() if ROLE_RANK.get(held, -1) >= ROLE_RANK[role]}


def has_role(user: Any, team_id: int | None, role: str) -> bool:
    """Tell whether the principal has at least `role` in the team."""
    teams = teams_with(user, role)
    return teams is None or (team_id is not None and team_id in teams)


def has_permission(user: Any, permission: str) -> bool:
    """Tell whether the principal holds a Django permission such as `workflows.define_shell_task` (superusers do)."""
    return bool(getattr(user, "is_superuser", False) or (hasattr(user, "has_perm") and user.has_perm(permission)))


def can_define_shell(user: Any) -> bool:
    """Tell whether the principal may create or change `shell` tasks (a separate permission, SPEC §2)."""
    return has_permission(user, SHELL_PERMISSION)


def kind_permission_refusal(user: Any, team: Team, tasks: list[Any]) -> str | None:
    """Say which permission the principal lacks to create or change one of the task objects, or None.

    A kind may declare a permission it needs on top of the editor role (`workflows.kinds`; shell
    does). A task submitted unchanged (same kind, same masked config) needs none, so an editor
    without it can still edit the rest of a workflow that holds such tasks. A kind no module
    declares is left to the validator, which refuses it by name.
    """
    for task in tasks:
        kind = kinds.find(task.get("kind")) if isinstance(task, dict) else None
        if kind is None or kind.permission is None or has_permission(user, kind.permission.name):
            continue
        existing = (
            Task.objects.filter(team=team, name=task.get("name")).first() if isinstance(task.get("name"), str) else None
        )
        unchanged = (
            existing is not None
            and existing.kind == kind.name
            and secrets.mask(existing.config) == task.get("config", {})
        )
        if not unchanged:
            return _("Defining %(kind)s tasks needs the %(permission)s permission.") % {
                "kind": kind.name,
                "permission": kind.permission.name,
            }
    return None


def definition_tasks(document: Any) -> list[Any]:
    """Return the inline task objects of a definition document (what a save writes)."""
    nodes = document.get("nodes") if isinstance(document, dict) else None
    if not isinstance(nodes, list):
        return []
    return [n["task"] for n in nodes if isinstance(n, dict) and isinstance(n.get("task"), dict)]


# A model is team-scoped when it declares how its rows reach their team: `team_paths`, lookups
# to a Team (several are ORed; `pk` means the row is the team), `team_view_role`, the least role
# that sees its rows, and `team_scope_hidden`, rows no scoped view shows. The models say it
# (`workflows.models`, `executions.models`, `access.models`); this module only reads it.
TEAM_ITSELF = "pk"


def is_scoped(model: type[Model]) -> bool:
    """Tell whether the model declares its path to its team (and so has a scoped queryset)."""
    return bool(getattr(model, "team_paths", None))


def _base(model: type[Model]) -> QuerySet:
    hidden = getattr(model, "team_scope_hidden", None)
    rows = model._default_manager.all()
    return rows if hidden is None else rows.exclude(hidden)


def _team_condition(model: type[Model], teams: set[int]) -> Q:
    condition = Q()
    for path in model.team_paths:  # type: ignore[attr-defined]
        condition |= Q(**{f"{path}__in": teams})
    return condition


def scoped(user: Any, model: type[Model], role: str | None = None) -> QuerySet:
    """Return the rows of `model` the principal may see (at least `role` in their team)."""
    if not is_scoped(model):
        raise LookupError(f"{model.__name__} has no team scope")
    return within_scope(user, _base(model), role)


def within_scope(user: Any, queryset: QuerySet, role: str | None = None) -> QuerySet:
    """Narrow a queryset of a scoped model (an admin's, with its joins) to the rows the principal may see.

    A model with one path (a column such as the team stored on a batch) is filtered on it
    directly, which an index serves; several paths are ORed in a subquery of ids.
    """
    model = queryset.model
    teams = teams_with(user, role or getattr(model, "team_view_role", Role.VIEWER))
    if teams is None:
        return queryset
    if not teams:
        return queryset.none()
    condition = _team_condition(model, teams)
    if len(model.team_paths) > 1:  # type: ignore[attr-defined]
        # An OR across two joins can repeat a row; the ids are unique, so keep one of each.
        return queryset.filter(pk__in=model._default_manager.filter(condition).values("pk"))
    return queryset.filter(condition)


def team_of(obj: Any) -> Team | None:
    """Return the team a scoped row belongs to, following the first of its model's team paths that leads to one."""
    for path in getattr(type(obj), "team_paths", ()):
        if path == TEAM_ITSELF:
            return obj
        related = obj
        for attribute in path.split("__"):
            related = getattr(related, attribute, None)
            if related is None:
                break
        if related is not None:
            return related
    return None


def exists_unscoped(model: type[Model], **lookup: Any) -> Model | None:
    """Return the row the lookup names whatever its team (to record a denied attempt), or None."""
    try:
        return _base(model).filter(**lookup).first()
    except (ValueError, TypeError, OverflowError, ValidationError):
        return None
