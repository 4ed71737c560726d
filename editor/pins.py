"""Pinned data: outputs a workflow's nodes give in test runs from the editor instead of executing
(an expensive model call, a flaky API), as n8n users pin data while building.

Pins belong to the workflow, not to a version, and apply only to runs that ask for them
(``use_pins``: the editor's Run button); webhook and API runs execute every node unless asked.

``GET /api/workflows/<id>/pins/`` reads them; ``PUT`` replaces them all (``{"pins": {node id:
output}}``; an empty object unpins everything).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.access import require, workflows_of
from editor.audit import record
from editor.authentication import via_of
from editor.errors import OperationError
from editor.models import Workflow
from runtime.graph import MAX_NODES

# Pins are test data: a few model answers or API responses, not a data store.
MAX_PINS_BYTES = 1_000_000

PinsBody = inline_serializer(
    "Pins",
    {
        "pins": serializers.DictField(
            child=serializers.JSONField(allow_null=True),
            help_text="node id → the output it gives in test runs",
        )
    },
)


def pins_for(workflow: Workflow, node_ids: Any) -> dict[str, Any]:
    """The pins that apply to a run whose version has these nodes (a pin of a node since
    deleted, or of no node at all, is kept but does nothing)."""
    return {
        node_id: output for node_id, output in (workflow.pins or {}).items() if node_id in node_ids
    }


def set_pins(workflow: Workflow, pins: Any, *, user: Any, via: str) -> dict[str, Any]:
    if not isinstance(pins, dict):
        raise OperationError(
            "pins must be an object of node id → output", fields={"pins": ["not an object"]}
        )
    if len(pins) > MAX_NODES:
        raise OperationError(
            f"at most {MAX_NODES} nodes can be pinned", fields={"pins": ["too many"]}
        )
    size = len(json.dumps(pins, separators=(",", ":"), default=str).encode())
    if size > MAX_PINS_BYTES:
        raise OperationError(
            f"pinned data is {size} bytes; the limit is {MAX_PINS_BYTES}",
            fields={"pins": ["too large"]},
            code="too_large",
        )
    with transaction.atomic():
        Workflow.objects.filter(pk=workflow.pk).update(pins=pins)
        record(
            "workflow.pinned",
            actor=user,
            workspace=workflow.workspace,
            target=workflow,
            via=via,
            detail={"nodes": sorted(pins)},
        )
    workflow.pins = pins
    return pins


class PinsView(APIView):
    @extend_schema(responses={200: PinsBody})
    def get(self, request: Request, workflow_id: str) -> Response:
        workflow = get_object_or_404(workflows_of(request.user), pk=workflow_id)
        return Response({"pins": workflow.pins or {}})

    @extend_schema(request=PinsBody, responses={200: PinsBody})
    def put(self, request: Request, workflow_id: str) -> Response:
        workflow = get_object_or_404(workflows_of(request.user), pk=workflow_id)
        require(request.user, workflow.workspace_id, "edit")
        body = request.data if isinstance(request.data, dict) else {}
        if "pins" not in body:
            raise OperationError('send {"pins": {node id: output}}', fields={"pins": ["required"]})
        pins = set_pins(workflow, body["pins"], user=request.user, via=via_of(request))
        return Response({"pins": pins})
