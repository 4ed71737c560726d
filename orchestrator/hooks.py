"""``POST /hooks/<secret>/``: a webhook call starts a run of its workflow's current version.

No session, no CSRF, no token: the secret in the URL is the credential. Unknown, rotated-away and
disabled secrets get the same 404. The posted JSON object (an empty body means ``{}``)
is the run input; the body size limit is the app's (MAX_REQUEST_BYTES, 413 above it). The run
acts as the user who made the webhook's current secret, and only while their role may still run.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from editor import webhooks
from editor.access import PERMISSIONS, role_in
from editor.api_schema import errors
from editor.errors import Forbidden, NotFound, OperationError
from editor.models import WebhookTrigger
from orchestrator import runs
from orchestrator.api import IDEMPOTENCY_KEY, started

NOT_FOUND = "no webhook answers at this address"


def _parsed(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        message = "the body is not valid JSON" + (
            f" ({exc})" if isinstance(exc, ValueError) else ""
        )
        raise OperationError(message, code="invalid_json") from None


class TooManyCalls(OperationError):
    status = 429
    code = "rate_limited"


class HookView(APIView):
    authentication_classes: list[Any] = []  # no session: so no CSRF either
    permission_classes = [AllowAny]

    @extend_schema(
        request={"application/json": dict},
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: inline_serializer(
                "HookStarted", {"run": serializers.UUIDField(), "url": serializers.URLField()}
            ),
            **errors(403, 404, 409, 429),
        },
        description="Start a run with the posted JSON as input (see the README, webhooks).",
    )
    def post(self, request: Request, secret: str) -> Response:
        trigger = webhooks.enabled_trigger(secret)
        if trigger is None:
            raise NotFound(NOT_FOUND)
        run_input = _parsed(request.body)
        wait = webhooks.take(trigger)
        if wait:
            limit = trigger.rate_limit_per_minute
            response = Response(
                {
                    "error": {
                        "code": TooManyCalls.code,
                        "message": f"this webhook starts at most {limit} runs a minute; "
                        f"try again in {wait} s",
                    }
                },
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
            response["Retry-After"] = str(wait)
            return response
        workflow = trigger.workflow
        actor = trigger.created_by
        if actor is None or role_in(actor, workflow.workspace_id) not in PERMISSIONS["run"]:
            raise Forbidden(
                "the member who made this webhook may no longer start runs here; "
                "someone who may edit the workflow has to rotate its secret"
            )
        # One transaction: the run, its audit entry and last_triggered_at land together (the
        # steps are sent to the workers once it commits).
        with transaction.atomic():
            run, replayed = runs.start_run_once(
                workflow,
                run_input,
                key=request.headers.get("Idempotency-Key"),
                actor=actor,
                via="webhook",
                audit={"webhook": trigger.prefix},
            )
            WebhookTrigger.objects.filter(pk=trigger.pk).update(last_triggered_at=timezone.now())
        url = reverse("run-detail", kwargs={"pk": run.pk}, request=request)
        return started({"run": str(run.pk), "url": url}, status.HTTP_202_ACCEPTED, replayed)
