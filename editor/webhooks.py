"""Webhook triggers: one secret URL per workflow that starts a run with the posted JSON.

This module manages triggers (create or rotate, enable, limit, delete: the edit role; each of
these operations records its audit entry, targeting the workflow) and holds what the receiving
side needs (lookup by secret, the rate limit). The receiving view itself is orchestrator.hooks,
since starting a run is the run side's business.

The secret is shown once, in the answer that makes it; only its SHA-256 is stored, and a call is
matched by hashing what it brings, so there is no comparison of secrets to time.
"""

from __future__ import annotations

import math
import time
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.access import require, workflows_of
from editor.audit import record
from editor.authentication import digest, new_secret, via_of
from editor.errors import NotFound, OperationError
from editor.models import WebhookTrigger, Workflow
from editor.strict_fields import StrictBooleanField, StrictIntegerField

HOOK_KIND = "whk_"
MAX_RATE_PER_MINUTE = 10_000
WINDOW_SECONDS = 60


def hook_path(secret: str) -> str:
    return f"/hooks/{secret}/"


def enabled_trigger(secret: str) -> WebhookTrigger | None:
    """The enabled trigger a secret opens, or None (unknown, rotated away, or disabled)."""
    return (
        WebhookTrigger.objects.select_related(
            "workflow__current_version",
            "workflow__published_version",
            "workflow__workspace",
            "created_by",
        )
        .filter(secret_hash=digest(secret), enabled=True)
        .first()
    )


# -- rate limit ------------------------------------------------------------------------------------


class RateLimiterDown(OperationError):
    status = 503
    code = "unavailable"
    retry_after = 5  # seconds (Retry-After): Redis back from a restart, or failed over


_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    # One pooled client per URL (tests point REDIS_URL at their own database).
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _clients[url]


def take(trigger: WebhookTrigger, now: float | None = None) -> int:
    """Count one call against the trigger's limit in this minute's window.

    Returns 0 when the call may go on, else the seconds until the window resets (Retry-After).
    A fixed window: INCR a key named after the trigger and the minute, EXPIRE it with the window,
    so no key outlives its minute. Redis down means no run starts (503): without the counter
    the limit could not be kept.
    """
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"webhook-rate:{trigger.pk}:{window}"
    try:
        pipe = _redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
    except redis.RedisError:
        raise RateLimiterDown("the rate limiter is unavailable; try again shortly") from None
    if int(count) <= trigger.rate_limit_per_minute:
        return 0
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


# -- managing triggers -----------------------------------------------------------------------------


def trigger_of(workflow: Workflow, *, lock: bool = False) -> WebhookTrigger:
    """The workflow's trigger (row-locked with ``lock``); NotFound if it has none."""
    triggers = WebhookTrigger.objects.select_related("created_by")
    if lock:
        triggers = triggers.select_for_update(of=("self",))
    found = triggers.filter(workflow=workflow).first()
    if found is None:
        raise NotFound("this workflow has no webhook")
    return found


def _record(action: str, workflow: Workflow, user: Any, via: str, detail: dict[str, Any]) -> None:
    record(
        action, actor=user, workspace=workflow.workspace, target=workflow, via=via, detail=detail
    )


@transaction.atomic
def create_or_rotate_webhook(
    workflow: Workflow,
    *,
    user: Any,
    rate_limit_per_minute: int | None = None,
    via: str = "session",
) -> tuple[WebhookTrigger, str]:
    """Make the workflow's trigger, or give it a new secret (the old URL stops working at once).

    Returns the trigger and its secret, which exists only here. The new secret acts as ``user``:
    runs it starts are theirs in the audit log.
    """
    secret, prefix, hashed = new_secret(HOOK_KIND)
    # Lock the workflow, not just its trigger: with no trigger yet there is no row to lock,
    # and two first POSTs at once (a double click, a retrying script) both inserted, the
    # second failing on the one-trigger-per-workflow constraint with a 500. Queued on
    # the workflow, the second finds the first's trigger and rotates it.
    Workflow.objects.select_for_update().get(pk=workflow.pk)
    trigger = WebhookTrigger.objects.select_for_update().filter(workflow=workflow).first()
    rotated = trigger is not None
    if trigger is None:
        trigger = WebhookTrigger(workflow=workflow)
    trigger.prefix, trigger.secret_hash = prefix, hashed
    trigger.created_by = user
    if rate_limit_per_minute is not None:
        trigger.rate_limit_per_minute = rate_limit_per_minute
    trigger.save()
    action = "webhook.rotated" if rotated else "webhook.created"
    _record(action, workflow, user, via, {"prefix": prefix})
    return trigger, secret


@transaction.atomic
def change_webhook(
    workflow: Workflow, values: dict[str, Any], *, user: Any, via: str = "session"
) -> WebhookTrigger:
    """Set the trigger's settings (``enabled``, ``rate_limit_per_minute``); the audit entry holds
    the ones that differ, and there is none when nothing does."""
    trigger = trigger_of(workflow, lock=True)
    changes = {name: value for name, value in values.items() if getattr(trigger, name) != value}
    for name, value in values.items():
        setattr(trigger, name, value)
    trigger.save()
    if changes:
        _record("webhook.changed", workflow, user, via, changes)
    return trigger


@transaction.atomic
def delete_webhook(workflow: Workflow, *, user: Any, via: str = "session") -> None:
    trigger = trigger_of(workflow, lock=True)
    _record("webhook.deleted", workflow, user, via, {"prefix": trigger.prefix})
    trigger.delete()


# -- management API --------------------------------------------------------------------------------


class WebhookSerializer(serializers.ModelSerializer[WebhookTrigger]):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    enabled = StrictBooleanField(required=False)
    rate_limit_per_minute = StrictIntegerField(
        min_value=1, max_value=MAX_RATE_PER_MINUTE, required=False
    )

    class Meta:
        model = WebhookTrigger
        fields = [
            "enabled",
            "prefix",
            "rate_limit_per_minute",
            "created_by",
            "created_at",
            "last_triggered_at",
        ]
        read_only_fields = ["prefix", "created_by", "created_at", "last_triggered_at"]


class NewWebhookSerializer(WebhookSerializer):
    url = serializers.CharField(read_only=True, help_text="The secret URL; shown once")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "url"]


class WebhookCreateSerializer(serializers.Serializer[Any]):
    rate_limit_per_minute = StrictIntegerField(
        min_value=1, max_value=MAX_RATE_PER_MINUTE, required=False
    )


class WebhookView(APIView):
    """``/api/workflows/<id>/webhook/``: the workflow's webhook trigger.

    Any member may look (never at the secret); changing it takes the edit role. POST makes the
    trigger, or rotates its secret if there is one (the old URL stops working at once).
    """

    def _workflow(self, request: Request, workflow_id: Any) -> Workflow:
        return get_object_or_404(workflows_of(request.user), pk=workflow_id)

    def _editable(self, request: Request, workflow_id: Any) -> Workflow:
        workflow = self._workflow(request, workflow_id)
        require(request.user, workflow.workspace_id, "edit")
        return workflow

    @extend_schema(responses={200: WebhookSerializer})
    def get(self, request: Request, workflow_id: Any) -> Response:
        trigger = trigger_of(self._workflow(request, workflow_id))
        return Response(WebhookSerializer(trigger).data)

    @extend_schema(request=WebhookCreateSerializer, responses={201: NewWebhookSerializer})
    def post(self, request: Request, workflow_id: Any) -> Response:
        workflow = self._editable(request, workflow_id)
        body = WebhookCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        trigger, secret = create_or_rotate_webhook(
            workflow,
            user=request.user,
            rate_limit_per_minute=body.validated_data.get("rate_limit_per_minute"),
            via=via_of(request),
        )
        answer = dict(NewWebhookSerializer(trigger).data)
        answer["url"] = request.build_absolute_uri(hook_path(secret))
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookSerializer, responses={200: WebhookSerializer})
    def patch(self, request: Request, workflow_id: Any) -> Response:
        workflow = self._editable(request, workflow_id)
        body = WebhookSerializer(trigger_of(workflow), data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        trigger = change_webhook(
            workflow, body.validated_data, user=request.user, via=via_of(request)
        )
        return Response(WebhookSerializer(trigger).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, workflow_id: Any) -> Response:
        workflow = self._editable(request, workflow_id)
        delete_webhook(workflow, user=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
