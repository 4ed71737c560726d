"""Personal API tokens: many named tokens per user, each shown once, stored only as a hash.

``Authorization: Token <secret>`` (editor.authentication) acts as the token's user, with that
user's roles. Issuing and deleting a token record their audit entry, without a workspace: a
token is the person's, not a workspace's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.audit import record
from editor.authentication import TOKEN_KIND, new_secret, via_of
from editor.errors import Forbidden, NotFound
from editor.models import ApiToken
from editor.strict_fields import StrictCharField, StrictIntegerField

MAX_TOKENS_PER_USER = 50


@transaction.atomic
def issue_token(
    user: Any, name: str, expires_at: Any = None, *, via: str = "session"
) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns it and its secret (the only time the secret exists)."""
    secret, prefix, hashed = new_secret(TOKEN_KIND)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, secret_hash=hashed, expires_at=expires_at
    )
    record(
        "token.created",
        actor=user,
        workspace=None,
        target=token,
        via=via,
        detail={"prefix": token.prefix, "expires_at": str(expires_at or "")},
    )
    return token, secret


@transaction.atomic
def delete_token(token: ApiToken, *, user: Any, via: str = "session") -> None:
    """Delete a token as ``user`` (its owner); scripts using it get 401 from then on."""
    record(
        "token.deleted",
        actor=user,
        workspace=None,
        target=token,
        via=via,
        detail={"prefix": token.prefix},
    )
    token.delete()


# -- API -------------------------------------------------------------------------------------------


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    expired = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "expired"]

    def get_expired(self, token: ApiToken) -> bool:
        return token.expires_at is not None and token.expires_at <= timezone.now()


class NewTokenSerializer(TokenSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; store it now")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "secret"]


class TokenCreateSerializer(serializers.Serializer[Any]):
    name = StrictCharField(max_length=100)
    expires_in_days = StrictIntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        default=None,
        help_text="Days until the token stops working; none means it never expires",
    )


def _session_only(request: Request) -> None:
    # A leaked token must not be able to mint itself a successor that outlives its revocation.
    if via_of(request) == "token":
        raise Forbidden("API tokens are managed from a signed-in browser session, not with a token")


class TokenListView(APIView):
    """Your personal API tokens (never their secrets)."""

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = ApiToken.objects.filter(user=request.user)
        return Response(TokenSerializer(tokens, many=True).data)

    @extend_schema(request=TokenCreateSerializer, responses={201: NewTokenSerializer})
    def post(self, request: Request) -> Response:
        """Make a token; the answer holds its secret, which is never shown again."""
        _session_only(request)
        body = TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        days = body.validated_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        with transaction.atomic():
            if ApiToken.objects.filter(user=request.user).count() >= MAX_TOKENS_PER_USER:
                raise serializers.ValidationError(
                    {"name": [f"you have {MAX_TOKENS_PER_USER} tokens; delete one first"]}
                )
            token, secret = issue_token(
                request.user, body.validated_data["name"], expires_at, via=via_of(request)
            )
        data = dict(NewTokenSerializer(token).data)
        data["secret"] = secret
        return Response(data, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        """Delete one of your tokens; scripts using it get 401 from now on."""
        with transaction.atomic():
            token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
            if token is None:
                raise NotFound("you have no such token")
            delete_token(token, user=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
