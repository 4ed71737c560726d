"""``/api/workspaces/<id>/credentials/``: the workspace's credentials, write-only values.

Every member may list them (node settings name them); owners and editors create, change and
delete; owners, editors and runners test an LLM credential against a model (``<name>/test/``).
Answers carry the name, kind, hint and non-secret config, never the value or ciphertext.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor import credentials
from editor.access import require, workspaces_of
from editor.api_schema import errors
from editor.credential_check import check_credential
from editor.errors import Conflict, NotFound
from editor.models import Credential, CredentialKind, Workspace
from editor.strict_fields import StrictCharField, StrictRegexField, StrictSlugField
from runtime.providers.capabilities import (
    SOURCES,
    STREAM_USAGE_MODES,
    STRUCTURED_OUTPUT_MODES,
    TOOLS_MODES,
)
from runtime.providers.endpoint_check import PROBLEMS

WORKSPACE_ID = OpenApiParameter("workspace_id", int, OpenApiParameter.PATH, description="Workspace")
NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="The credential's name")

SLUG_ERRORS = {"invalid": "use only letters, digits, hyphens and underscores (e.g. openai-prod)"}
CONFIG_HELP = (
    "Not secret. openai/anthropic: optional base_url (http(s)); http_header: header (its name); "
    "http_bearer: nothing."
)


class CredentialSerializer(serializers.ModelSerializer[Credential]):
    """What anyone in the workspace may see of a credential: never its value."""

    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    hint = serializers.CharField(
        read_only=True, help_text='The value\'s last characters ("…a1b2"), empty for short values'
    )
    config = serializers.JSONField(read_only=True, help_text=CONFIG_HELP)

    class Meta:
        model = Credential
        fields = ["name", "kind", "hint", "config", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


@extend_schema_field(credentials.config_schema(None))
class ConfigField(serializers.JSONField):
    """A credential's config: an object of the settings its kind takes (see CONFIG_HELP)."""


class _WriteFields(serializers.Serializer):
    name = StrictSlugField(
        max_length=64,
        help_text="letters, digits, - and _ (how node settings name it)",
        error_messages=SLUG_ERRORS,
    )
    value = StrictCharField(
        max_length=credentials.MAX_VALUE_CHARS,
        write_only=True,
        style={"input_type": "password"},
        help_text="The secret itself. Write-only: no answer ever contains it.",
    )
    config = ConfigField(required=False, help_text=CONFIG_HELP)


class CredentialCreateSerializer(_WriteFields):
    kind = serializers.ChoiceField(choices=CredentialKind.choices)


class CredentialCreateSchema(OpenApiSerializerExtension):
    """Publishes CredentialCreateSerializer as ``_create_request_schema`` describes it."""

    target_class = CredentialCreateSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return _create_request_schema()


def _create_request_schema() -> dict[str, Any]:
    """CredentialCreateSerializer's body, one shape per kind: which config a kind takes (and
    that http_header needs its header) is part of what the API checks, so the schema says it."""
    fields = CredentialCreateSerializer().fields
    common = {
        "name": {
            "type": "string",
            "maxLength": fields["name"].max_length,
            "pattern": "^[-a-zA-Z0-9_]+$",
            "description": fields["name"].help_text,
        },
        "value": {
            "type": "string",
            "writeOnly": True,
            "maxLength": credentials.MAX_VALUE_CHARS,
            "pattern": r"\S",
            "description": fields["value"].help_text,
        },
    }
    shapes = []
    for kinds in (
        credentials.LLM_KIND_VALUES,
        ["http_bearer"],
        ["http_header"],
    ):
        required = ["name", "kind", "value"]
        if kinds == ["http_header"]:
            required.append("config")
        kind = {"type": "string", "enum": kinds}
        config = {**credentials.config_schema(kinds[0]), "description": CONFIG_HELP}
        properties = {**common, "kind": kind, "config": config}
        shapes.append({"type": "object", "properties": properties, "required": required})
    # Top-level properties and "required" keep the component (and mark the body as required).
    every_kind = {"type": "string", "enum": [str(kind) for kind in CredentialKind]}
    return {
        "type": "object",
        "properties": {**common, "kind": every_kind},
        "required": ["name", "kind", "value"],
        "oneOf": shapes,
    }


class CredentialUpdateSerializer(_WriteFields):
    """PUT replaces the value (and config); PATCH changes any of name, value, config."""

    name = StrictSlugField(
        max_length=64,
        required=False,
        help_text="A new name (renames it)",
        error_messages=SLUG_ERRORS,
    )
    kind = serializers.ChoiceField(
        choices=CredentialKind.choices,
        required=False,
        help_text="May be sent, but must be the credential's kind: a kind never changes",
    )


def _workspace(request: Request, workspace_id: int) -> Workspace:
    try:
        return workspaces_of(request.user).get(pk=workspace_id)
    except Workspace.DoesNotExist:
        raise NotFound("no such workspace of yours") from None


def _via(request: Request) -> str:
    # Session logins leave request.auth empty; token (API) logins set it to the token.
    return "session" if request.auth is None else "token"


def _named(request: Request, workspace_id: int, name: str) -> Credential:
    workspace = _workspace(request, workspace_id)
    found = (
        workspace.credentials.select_related("created_by", "workspace").filter(name=name).first()
    )
    if found is None:
        raise NotFound(f"this workspace has no credential named {name!r}")
    return found


def _answer(credential: Credential, code: int = status.HTTP_200_OK) -> Response:
    return Response(CredentialSerializer(credential).data, status=code)


class CredentialListView(APIView):
    """The workspace's credentials (members), or a new one (owners and editors)."""

    def _queryset(self, workspace: Workspace) -> QuerySet[Credential]:
        return workspace.credentials.select_related("created_by").defer("ciphertext")

    @extend_schema(
        parameters=[WORKSPACE_ID],
        responses=CredentialSerializer(many=True),
    )
    def get(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        return Response(CredentialSerializer(self._queryset(workspace), many=True).data)

    @extend_schema(
        parameters=[WORKSPACE_ID],
        request=CredentialCreateSerializer,
        responses={201: CredentialSerializer, **errors(409)},
    )
    def post(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        require(request.user, workspace.pk, "edit")
        body = CredentialCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        credential = credentials.create_credential(
            workspace=workspace,
            user=request.user,
            name=data["name"],
            kind=data["kind"],
            value=data["value"],
            config=data.get("config"),
            via=_via(request),
        )
        return _answer(credential, status.HTTP_201_CREATED)


class CredentialDetailView(APIView):
    """One credential: look (members), replace or change (owners, editors), delete."""

    def _credential(self, request: Request, workspace_id: int, name: str) -> Credential:
        return _named(request, workspace_id, name)

    def _editable(self, request: Request, workspace_id: int, name: str) -> Credential:
        credential = self._credential(request, workspace_id, name)
        require(request.user, credential.workspace_id, "edit")
        return credential

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        responses=CredentialSerializer,
    )
    def get(self, request: Request, workspace_id: int, name: str) -> Response:
        return _answer(self._credential(request, workspace_id, name))

    def _change(self, request: Request, workspace_id: int, name: str, partial: bool) -> Response:
        credential = self._editable(request, workspace_id, name)
        body = CredentialUpdateSerializer(data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "kind" in data and data["kind"] != credential.kind:
            message = "a credential's kind cannot change; create a new credential instead"
            raise Conflict(message, fields={"kind": [message]})
        credential = credentials.update_credential(
            credential,
            user=request.user,
            name=data.get("name"),
            value=data.get("value"),
            # PUT replaces the config too: one left out goes back to none.
            config=data.get("config", None if partial else {}),
            via=_via(request),
        )
        return _answer(credential)

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        request=CredentialUpdateSerializer,
        responses={200: CredentialSerializer, **errors(409)},
        description="Replace the value (required) and config; `name` renames.",
    )
    def put(self, request: Request, workspace_id: int, name: str) -> Response:
        return self._change(request, workspace_id, name, partial=False)

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        request=CredentialUpdateSerializer,
        responses={200: CredentialSerializer, **errors(409)},
        description="Change any of name, value, config.",
    )
    def patch(self, request: Request, workspace_id: int, name: str) -> Response:
        return self._change(request, workspace_id, name, partial=True)

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        responses={204: None},
    )
    def delete(self, request: Request, workspace_id: int, name: str) -> Response:
        credential = self._editable(request, workspace_id, name)
        credentials.delete_credential(credential, user=request.user, via=_via(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- a credential's Test ---------------------------------------------------------------------------

MODEL_HELP = (
    "The model: its id in the model catalogue (the credential's kind, a slash, the server's name "
    "for it: openai/gpt-4o-mini, openai/llama3.1:8b) or the server's name alone (gpt-4o-mini, "
    "meta-llama/Llama-3.1-8B-Instruct)"
)
# A server's model name: letters, digits and . _ : @ + -, in parts joined by single slashes.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@+\-]*(?:/[A-Za-z0-9_.:@+\-]+)*$"


class CredentialTestSerializer(serializers.Serializer):
    model = StrictRegexField(
        MODEL_NAME,
        max_length=200,
        help_text=MODEL_HELP,
        error_messages={
            "invalid": "use a model id such as openai/gpt-4o-mini, or the server's name for it"
        },
    )


class CapabilitiesSerializer(serializers.Serializer):
    """What an OpenAI-compatible server does for the model, and where each answer came from:
    detected (the server showed it), catalogue (the workspace's setting) or default (a guess)."""

    structured_output = serializers.ChoiceField(choices=list(STRUCTURED_OUTPUT_MODES))
    structured_output_source = serializers.ChoiceField(choices=list(SOURCES))
    stream_usage = serializers.ChoiceField(choices=list(STREAM_USAGE_MODES))
    stream_usage_source = serializers.ChoiceField(choices=list(SOURCES))
    tools = serializers.ChoiceField(choices=list(TOOLS_MODES))
    tools_source = serializers.ChoiceField(choices=list(SOURCES))


class CredentialTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="The server answered the model with this key")
    provider = serializers.CharField(help_text="The credential's kind")
    model = serializers.CharField()
    server = serializers.CharField(help_text="The host asked (never the whole base URL)")
    message = serializers.CharField(help_text="What happened, and on a problem what to do")
    problem = serializers.ChoiceField(
        choices=list(PROBLEMS), allow_null=True, help_text="What went wrong; null when ok"
    )
    capability = serializers.CharField(
        allow_null=True,
        help_text="capability_refused: which one (structured_output, stream_usage, tools)",
    )
    capabilities = CapabilitiesSerializer(
        allow_null=True, help_text="OpenAI-compatible servers, when ok; null otherwise"
    )
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="Settings that do not fit what the server does"
    )


class CredentialTestView(APIView):
    """Ask a model through the credential: does the key reach a server that answers it, and
    what can that server do (structured output, streamed usage, tools)?"""

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        request=CredentialTestSerializer,
        responses={200: CredentialTestResultSerializer, **errors(409)},
        description=(
            "Owners, editors and runners (whose runs use the key). A few tiny calls to the "
            "credential's server, through the outbound guard, with the workspace catalogue's "
            "capability settings for the model. The answer is 200 whether or not the server "
            "worked: `ok`, and on a problem its code and a message saying what to do. Only "
            "openai and anthropic credentials can be tested (409 for others)."
        ),
    )
    def post(self, request: Request, workspace_id: int, name: str) -> Response:
        credential = _named(request, workspace_id, name)
        require(request.user, credential.workspace_id, "run")
        body = CredentialTestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if credential.kind not in credentials.LLM_KINDS:
            raise Conflict(
                f"a {credential.kind} credential is for the http_request node and has no model "
                "to ask; only openai and anthropic credentials can be tested"
            )
        # The catalogue's id for it: "gpt-4o-mini" and "openai/gpt-4o-mini" are one model to an
        # openai credential; "meta-llama/Llama-3.1-8B" is a name some servers give theirs.
        name = body.validated_data["model"].removeprefix(f"{credential.kind}/")
        model = f"{credential.kind}/{name}"
        result = check_credential(credential, model, user=request.user, via=_via(request))
        return Response(result.to_dict())
