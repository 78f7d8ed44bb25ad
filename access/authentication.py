"""API token authentication for integrations (`Authorization: Bearer baton_…`)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from access.models import ApiToken, token_hash
from access.scoping import TokenUser, token_orphaned_because

KEYWORDS = ("bearer", "token")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenAuthentication(authentication.BaseAuthentication):
    """Authenticate an integration by a team-scoped token whose SHA-256 is stored."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode("latin-1") not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header: expected 'Bearer <token>'."))
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        token = ApiToken.objects.with_creator_rights().filter(key_hash=token_hash(raw), revoked_at__isnull=True).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        orphaned = token_orphaned_because(token)
        if orphaned is not None:
            raise exceptions.AuthenticationFailed(
                _("This token no longer works: %(reason)s. A team admin must create a new one.") % {"reason": orphaned}
            )
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return TokenUser(token), token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Document the token scheme in the OpenAPI schema."""

    target_class = "access.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A team-scoped API token created in the admin."}
