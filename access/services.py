"""Access actions: issuing API tokens (every place a token is made goes through here)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from access.audit import audit_record
from access.authentication import token_generate
from access.models import ApiToken, token_hash
from access.scoping import token_grant_problems


def token_issue(*, user: Any, token: ApiToken, request: Any = None, via: str = "admin") -> str:
    """Save a new token bounded by its creator's rights in its team; return its secret (shown once)."""
    problems = token_grant_problems(user, token.team, token.role, token.can_define_shell)
    if problems:
        raise ValidationError({field: [message] for field, message in problems.items()})
    raw = token_generate()
    token.key_hash, token.prefix, token.created_by = token_hash(raw), raw[:12], user
    with transaction.atomic():
        token.save()
        audit_record(
            user=user,
            action="token.create",
            obj=token,
            request=request,
            via=via,
            after={"name": token.name, "role": token.role, "can_define_shell": token.can_define_shell},
        )
    return raw
