"""Access actions: API tokens and team members (every interface that makes or changes one goes through here)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.actors import Actor
from access.audit import audit_record
from access.models import ApiToken, token_generate, token_hash
from access.policy import require
from access.scoping import token_grant_problems
from baton.errors import Invalid, PermissionDenied
from workflows.models import Membership, Role, Team


def token_issue(*, actor: Actor, token: ApiToken) -> str:
    """Save a new token bounded by its creator's rights in its team; return its secret (shown once)."""
    if actor.user is None:
        raise PermissionDenied(_("A token acts within its creator's rights, so a user must make it."))
    problems = token_grant_problems(actor.user, token.team, token.role, token.can_define_shell)
    if problems:
        raise Invalid.at(problems)
    raw = token_generate()
    token.key_hash, token.prefix, token.created_by = token_hash(raw), raw[:12], actor.user
    with transaction.atomic():
        token.save()
        audit_record(
            actor=actor,
            action="token.create",
            obj=token,
            after={"name": token.name, "role": token.role, "can_define_shell": token.can_define_shell},
        )
    return raw


def token_revoke(*, actor: Actor, token: ApiToken) -> bool:
    """Revoke a token (a team admin); tell whether it was still live. Revoked tokens stay, for the audit trail."""
    require(actor, token, Role.ADMIN, _("Revoking token %(name)s") % {"name": token.name})
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            audit_record(
                actor=actor, action="token.revoke", obj=token, before={"revoked": False}, after={"revoked": True}
            )
    return bool(revoked)


def _members_action(team: Team) -> str:
    return _("Managing the members of team %(team)s") % {"team": team}


def _audit_membership(actor: Actor, action: str, membership: Membership, before: Any, after: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        team=membership.team,
        object_type="membership",
        object_id=str(membership.pk),
        before=before,
        after=after,
    )


def membership_add(*, actor: Actor, team: Team, user: Any, role: str) -> Membership:
    """Make a user a member of the team with a role (a team admin)."""
    require(actor, team, Role.ADMIN, _members_action(team))
    with transaction.atomic():
        membership = Membership.objects.create(team=team, user=user, role=role)
        _audit_membership(actor, "membership.add", membership, None, {"user": str(user), "role": role})
    return membership


def membership_change(*, actor: Actor, membership: Membership, role: str) -> Membership:
    """Change a member's role (a team admin); the member stays (remove and add to change who)."""
    require(actor, membership.team, Role.ADMIN, _members_action(membership.team))
    with transaction.atomic():
        current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if current.role != role:
            Membership.objects.filter(pk=current.pk).update(role=role)
            user = str(current.user)
            _audit_membership(
                actor, "membership.change", current, {"user": user, "role": current.role}, {"user": user, "role": role}
            )
    membership.role = role
    return membership


def membership_remove(*, actor: Actor, membership: Membership) -> None:
    """Remove a member from the team (a team admin)."""
    require(actor, membership.team, Role.ADMIN, _members_action(membership.team))
    with transaction.atomic():
        before = {"user": str(membership.user), "role": membership.role}
        pk = membership.pk
        membership.delete()
        membership.pk = pk  # the audit row names the membership that was removed
        _audit_membership(actor, "membership.remove", membership, before, None)
