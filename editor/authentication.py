"""``Authorization: Token <secret>``: the personal API tokens (editor.tokens) as DRF auth.

Replaces DRF's single authtoken with the same header, so scripts keep working. A bad, expired or
deleted token answers 401 with ``WWW-Authenticate: Token``. The token acts as its user, with the
user's roles; ``request.auth`` is the ApiToken (the audit log reads "via token" from it).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from editor.models import ApiToken

# Every secret we hand out (tokens, invitation links, webhook URLs) is random, recognisable by a
# short prefix, and kept only as its SHA-256.
# Stored to let a person recognise a token in the list ("fbt_3kQ9xZ…"), too short to guess from.
PREFIX_CHARS = 12
TOKEN_KIND = "fbt_"


def digest(secret: str) -> str:
    """The SHA-256 (hex) a secret is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret(kind: str) -> tuple[str, str, str]:
    """A fresh secret as ``(secret, prefix, hash)``; ``kind`` (e.g. "fbt_") says what it opens."""
    secret = kind + secrets.token_urlsafe(32)  # 256 bits of randomness
    return secret, secret[:PREFIX_CHARS], digest(secret)


def via_of(request: Any) -> str:
    """How the request's user came in, for the audit log."""
    return "token" if isinstance(getattr(request, "auth", None), ApiToken) else "session"


KEYWORD = "Token"
# last_used_at is for people ("used 3 minutes ago"), not accounting: one write a minute at most,
# so a busy script does not turn every request into an UPDATE.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def authenticate_secret(secret: str) -> tuple[Any, ApiToken]:
    """The user a token's secret acts as, and the token; AuthenticationFailed for a secret that
    is unknown, expired, or whose user is inactive. The API and the MCP endpoint
    (orchestrator.mcp_endpoint, which also takes ``Bearer``) both come through here."""
    # Looked up by hash: the comparison happens inside the index on a value the caller cannot
    # steer byte by byte, so timing reveals nothing about stored secrets.
    token = ApiToken.objects.select_related("user").filter(secret_hash=digest(secret)).first()
    if token is None or not token.user.is_active:
        raise exceptions.AuthenticationFailed("Invalid token.")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise exceptions.AuthenticationFailed("This token has expired; make a new one.")
    _touch(token, now)
    return token.user, token


def _touch(token: ApiToken, now: Any) -> None:
    stale = now - LAST_USED_GRANULARITY
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    # Conditional, so concurrent requests of one script write once between them.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)
    ).update(last_used_at=now)
    token.last_used_at = now


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # another scheme, or none: let the session try
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: expected 'Token <secret>' with no spaces in the secret."
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token: not ASCII.") from None
        return authenticate_secret(secret)

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Names the token scheme in the OpenAPI schema (drf-spectacular finds it by subclassing)."""

    target_class = "editor.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return dict(
            build_bearer_security_scheme_object(header_name="Authorization", token_prefix=KEYWORD)
        )
