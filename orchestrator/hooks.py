"""``POST /hooks/<secret>/``: a webhook call starts a run of its workflow's published version
(the latest saved version while none is published; ``Workflow.trigger_version``).

No session, no CSRF, no token: the secret in the URL is the credential. Unknown, rotated-away and
disabled secrets get the same 404. The posted JSON object (an empty body means ``{}``)
is the run input; a body sent as anything but ``Content-Type: application/json`` is refused with
415, as everywhere in the API. The body size limit is the app's (MAX_REQUEST_BYTES, 413 above
it). The run acts as the user who made the webhook's current secret, and only while their role
may still run.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.http import parse_header_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
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


def _parsed(request: Request) -> Any:
    raw = request.body
    if not raw.strip():
        return {}  # no body: whatever its Content-Type says, there is nothing to misread
    media_type, _ = parse_header_parameters(request.content_type or "")
    if media_type.lower() != "application/json":
        raise exceptions.UnsupportedMediaType(
            media_type,
            detail=f"the body is sent as {media_type or 'no media type'!r}; "
            "send JSON with Content-Type: application/json",
        )
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

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the window resets (Retry-After)


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
            # 400, 413, 415 (it takes a body) and 503 are added by editor.api_schema.
            **errors(403, 404, 409, 429),
        },
        description="Start a run with the posted JSON as input (see the README, webhooks).",
    )
    def post(self, request: Request, secret: str) -> Response:
        trigger = webhooks.enabled_trigger(secret)
        if trigger is None:
            raise NotFound(NOT_FOUND)
        run_input = _parsed(request)
        wait = webhooks.take(trigger)
        if wait:
            limit = trigger.rate_limit_per_minute
            raise TooManyCalls(
                f"this webhook starts at most {limit} runs a minute; try again in {wait} s",
                retry_after=wait,
            )
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
