"""The runs API (start, list, read, follow and cancel runs) and the approvals inbox (list, read,
decide). Views only call operations (:mod:`orchestrator.runs`, :mod:`orchestrator.approvals`)."""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.access import require, workflows_of
from editor.api_schema import errors, query_id
from editor.authentication import via_of
from editor.errors import OperationError
from editor.models import Membership
from orchestrator import approvals, reruns, run_list, runs
from orchestrator.access import approvals_of, runs_of
from orchestrator.models import APPROVAL_STATUSES, Approval, Run
from orchestrator.outcomes import with_outcomes
from orchestrator.run_compare import compare_runs
from orchestrator.serializers import (
    ApprovalSerializer,
    DecideSerializer,
    EventSerializer,
    RerunPreviewSerializer,
    RetrySerializer,
    RunComparisonSerializer,
    RunSerializer,
    RunSummarySerializer,
    StartRunSerializer,
    StepRerunSerializer,
)
from runtime.reuse import NO_EDIT

EVENTS_PAGE = 1000
# A step's key: its node id, "<parent key>.<node>.<n>" for a delegated task, or
# "<subflow step>/<node>" for a step of a sub-flow.
STEP_PATH = r"steps/(?P<step>[A-Za-z0-9_.\-/]{1,200})"
# How ?mine= may be spelled: a boolean as OpenAPI writes it, or 1/0 as the inbox sends it.
MINE_SPELLINGS = {"", "0", "1", "false", "true"}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # Printable ASCII with at least one character that is not a space (runs._checked_key).
    {"type": "string", "maxLength": runs.MAX_KEY_CHARS, "pattern": "^[ -~]*[!-~][ -~]*$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any string of up to 200 printable characters, new for each run you mean to start. "
        "A request repeated with the same key within 24 hours (a retry after a timeout) "
        "gets the run the first one started, with `Idempotent-Replayed: true`, instead of a "
        "second run; the same key with another workflow, input or budget is refused (409)."
    ),
)


def check_uuid_param(request: Request, name: str, message: str) -> None:
    """A query parameter that is an id, if present, must be one (present and empty is not)."""
    raw = request.query_params.get(name)
    if raw is None:
        return
    try:
        uuid.UUID(raw)
    except ValueError:
        raise OperationError(message, fields={name: ["not a valid id"]}) from None


def started(data: Any, status_code: int, replayed: bool) -> Response:
    """The answer to a run start, marked when it repeats an earlier one (Idempotency-Key)."""
    response = Response(data, status=status_code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class StartRunView(APIView):
    """``POST /api/workflows/<id>/runs/``: start a run of the published version (when there is
    one, else the latest), or of the version the body names."""

    @extend_schema(
        request=StartRunSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RunSummarySerializer, **errors(404, 409)},
    )
    def post(self, request: Request, workflow_id: str) -> Response:
        workflow = get_object_or_404(workflows_of(request.user), pk=workflow_id)
        require(request.user, workflow.workspace_id, "run")
        body = StartRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run, replayed = runs.start_run_once(
            workflow,
            body.validated_data["input"],
            key=request.headers.get("Idempotency-Key"),
            actor=request.user,
            via=via_of(request),
            budget=body.validated_data.get("budget"),
            use_pins=body.validated_data["use_pins"],
            version=body.validated_data["version"],
        )
        return started(RunSummarySerializer(run).data, status.HTTP_201_CREATED, replayed)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Run]):
    """Runs of the workflows in my workspaces, newest first; the list's filters are in
    :mod:`orchestrator.run_list` (workflow, outcome, who, when, trigger, search)."""

    lookup_value_regex = "[0-9a-fA-F-]{32,36}"  # anything else is simply not found

    def get_queryset(self) -> Any:
        runs = with_outcomes(runs_of(self.request.user).select_related("version"))
        workflow = self.request.query_params.get("workflow")
        if self.action == "list":
            runs = run_list.filtered(
                runs.select_related("workflow", "created_by"), self.request.query_params
            )
            if workflow:
                runs = runs.filter(workflow_id=workflow)  # list() has checked it is a uuid
        return runs.order_by("-created_at")

    def get_serializer_class(self) -> Any:
        if self.action == "list":
            return run_list.RunListSerializer
        return RunSerializer if self.action == "retrieve" else RunSummarySerializer

    @extend_schema(parameters=run_list.PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_uuid_param(request, "workflow", "workflow must be a workflow id")
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="only events with a larger seq"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": EVENTS_PAGE},
                description=f"at most this many (the default {EVENTS_PAGE})",
            ),
        ],
        responses={
            200: inline_serializer(
                "RunEvents",
                {
                    "events": EventSerializer(many=True),
                    "last_seq": serializers.IntegerField(),
                    "more": serializers.BooleanField(),
                },
            )
        },
    )
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            raise OperationError(
                "after must be a whole number", fields={"after": ["not a number"]}
            ) from None
        limit = query_id(request.query_params.get("limit", str(EVENTS_PAGE)))
        if limit is None or not 1 <= limit <= EVENTS_PAGE:
            raise OperationError(
                f"limit must be a whole number from 1 to {EVENTS_PAGE}",
                fields={"limit": [f"not a whole number from 1 to {EVENTS_PAGE}"]},
            )
        events = run.events.filter(seq__gt=after).order_by("seq")[:limit]
        data = EventSerializer(events, many=True).data
        return Response({"events": data, "last_seq": run.last_seq, "more": len(data) == limit})

    @extend_schema(
        parameters=[
            OpenApiParameter("a", OpenApiTypes.UUID, required=True, description="a run"),
            OpenApiParameter("b", OpenApiTypes.UUID, required=True, description="another run"),
        ],
        responses={200: RunComparisonSerializer, **errors(404)},
    )
    @action(detail=False, methods=["get"])
    def compare(self, request: Request) -> Response:
        """Two runs side by side, node by node: status, output, tokens, cost, duration."""
        found = []
        for name in ("a", "b"):
            if not request.query_params.get(name):
                raise OperationError(
                    "name the two runs to compare: ?a=<run id>&b=<run id>",
                    fields={name: ["required"]},
                )
            check_uuid_param(request, name, f"{name} must be a run id")
            found.append(get_object_or_404(self.get_queryset(), pk=request.query_params[name]))
        return Response(compare_runs(found[0], found[1]))

    @extend_schema(request=RetrySerializer, responses={201: RunSummarySerializer, **errors(409)})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        """Retry: a new run that reuses every step whose node, settings and input are
        unchanged, on this run's version or the workflow's current one (after a fix); the
        failed step and what follows execute (see orchestrator.reruns)."""
        return self._rerun(request, None, RetrySerializer)

    @extend_schema(request=RetrySerializer, responses={200: RerunPreviewSerializer, **errors(409)})
    @action(detail=True, methods=["post"], url_path="rerun/preview")
    def rerun_preview(self, request: Request, pk: str | None = None) -> Response:
        """What the same retry would execute and reuse, and about what it would cost."""
        return self._preview(request, None, RetrySerializer)

    @extend_schema(
        request=StepRerunSerializer, responses={201: RunSummarySerializer, **errors(409)}
    )
    @action(detail=True, methods=["post"], url_path=STEP_PATH + "/rerun")
    def step_rerun(self, request: Request, pk: str | None = None, step: str = "") -> Response:
        """Re-run from this step: it and everything after it execute, the rest is reused.
        With ``output``: the step's output is replaced by it and what follows executes."""
        return self._rerun(request, step, StepRerunSerializer)

    @extend_schema(
        request=StepRerunSerializer, responses={200: RerunPreviewSerializer, **errors(409)}
    )
    @action(detail=True, methods=["post"], url_path=STEP_PATH + "/rerun/preview")
    def step_rerun_preview(
        self, request: Request, pk: str | None = None, step: str = ""
    ) -> Response:
        """What the same re-run from this step would execute and reuse, and about what it
        would cost."""
        return self._preview(request, step, StepRerunSerializer)

    def _rerun(self, request: Request, step: str | None, shape: Any) -> Response:
        source = self.get_object()
        require(request.user, source.workspace_id, "run")
        wanted = _rerun_request(request, step, shape)
        new = reruns.rerun(source, wanted, actor=request.user, via=via_of(request))
        return Response(RunSummarySerializer(new).data, status=status.HTTP_201_CREATED)

    def _preview(self, request: Request, step: str | None, shape: Any) -> Response:
        source = self.get_object()
        return Response(reruns.preview(source, _rerun_request(request, step, shape)))

    @extend_schema(request=None, responses={202: RunSummarySerializer, **errors(409)})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        require(request.user, run.workspace_id, "run")
        runs.cancel_run(run, actor=request.user, via=via_of(request))
        run.refresh_from_db()
        return Response(RunSummarySerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _rerun_request(request: Request, step: str | None, shape: Any) -> reruns.RerunRequest:
    body = shape(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    return reruns.RerunRequest(
        step=step,
        output=data.get("output", NO_EDIT),
        version=data["version"],
    )


class ApprovalViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Approval]
):
    """Approvals in my workspaces. ``?status=pending|approved|rejected|expired`` and ``?run=<id>``
    narrow the list; ``?mine=1`` keeps only those I may decide now."""

    serializer_class = ApprovalSerializer
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self) -> Any:
        found = (
            approvals_of(self.request.user)
            .select_related("run__workflow", "run__version", "step")
            .prefetch_related("decisions__user")
        )
        if self.action == "list":
            wanted = self.request.query_params.get("status")
            if wanted:
                found = found.filter(status=wanted)  # list() has checked it
            run = self.request.query_params.get("run")
            if run:
                found = found.filter(run_id=run)  # list() has checked it is a uuid
        return found.order_by("-created_at", "-id")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        user = self.request.user
        if getattr(user, "is_authenticated", False):
            context["roles"] = dict(
                Membership.objects.filter(user=user).values_list("workspace_id", "role")
            )
            context["username"] = user.get_username()
        return context

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(APPROVAL_STATUSES)),
            OpenApiParameter(
                "mine", bool, description="only those I may decide now (`1` also means true)"
            ),
            OpenApiParameter(
                "run", OpenApiTypes.UUID, description="only the approvals of this run"
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = request.query_params.get("status")
        if wanted is not None and wanted not in APPROVAL_STATUSES:
            raise OperationError(
                f"status must be one of {', '.join(APPROVAL_STATUSES)}",
                fields={"status": ["not a status"]},
            )
        check_uuid_param(request, "run", "run must be a run id")
        mine = request.query_params.get("mine", "")
        if mine not in MINE_SPELLINGS:
            raise OperationError(
                "mine must be true or false (or 1 or 0)", fields={"mine": ["not a boolean"]}
            )
        if mine in ("1", "true"):
            context = self.get_serializer_context()
            roles, username = context.get("roles", {}), context.get("username", "")
            mine = [
                approval
                for approval in self.get_queryset().filter(status="pending")
                if approvals.can_decide(approval, username, roles.get(approval.workspace_id))
            ]
            page = self.paginate_queryset(mine)
            data = self.get_serializer(page if page is not None else mine, many=True).data
            return self.get_paginated_response(data) if page is not None else Response(data)
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DecideSerializer, responses={200: ApprovalSerializer, **errors(409)})
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        approval = self.get_object()  # 404 outside my workspaces
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approvals.decide_approval(
            approval.pk,
            request.user,
            body.validated_data["decision"],
            body.validated_data.get("comment") or "",
            body.validated_data.get("output"),
            via=via_of(request),
        )
        fresh = self.get_queryset().get(pk=approval.pk)
        return Response(self.get_serializer(fresh).data)
