"""Two versions of a workflow side by side: ``GET …/versions/compare/?from=N&to=M``.

The diff itself is the engine's (:func:`runtime.graph_diff.diff_graphs`: nodes added, removed,
changed by the reuse rule's fingerprint, with a settings diff, and edges by what they connect);
this module reads the two numbers from the query, finds the versions and describes the answer
for the schema. Any member of the workflow's workspace may compare (it only reads).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema_field, inline_serializer
from rest_framework import serializers

from editor.errors import NotFound, OperationError
from editor.models import Workflow
from runtime.graph_diff import diff_graphs

# As the number in /versions/<number>/: at most nine digits, and versions start at 1.
MAX_NUMBER_DIGITS = 9
NUMBER_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**MAX_NUMBER_DIGITS - 1}

PARAMETERS = [
    OpenApiParameter(
        "from",
        NUMBER_SCHEMA,
        OpenApiParameter.QUERY,
        required=True,
        description="The version compared from (usually the older one)",
    ),
    OpenApiParameter(
        "to",
        NUMBER_SCHEMA,
        OpenApiParameter.QUERY,
        required=True,
        description="The version compared to (usually the newer one, shown on the canvas)",
    ),
]


def _number(raw: str | None) -> tuple[int | None, str | None]:
    """The version number in a query parameter, or why it is not one."""
    if raw is None or raw == "":
        return None, "a version number is needed"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_NUMBER_DIGITS or int(raw) < 1:
        return None, "a version number is a whole number from 1"
    return int(raw), None


def read_numbers(query: Any) -> tuple[int, int]:
    """``from`` and ``to`` of the query string; a 400 naming every bad one."""
    numbers: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    for name in ("from", "to"):
        number, problem = _number(query.get(name))
        if problem is not None:
            problems[name] = [problem]
        else:
            assert number is not None
            numbers[name] = number
    if problems:
        message = "; ".join(f"{name}: {found[0]}" for name, found in problems.items())
        raise OperationError(message, fields=problems)
    return numbers["from"], numbers["to"]


def compare_versions(workflow: Workflow, start: int, end: int) -> dict[str, Any]:
    """The diff from version ``start`` to version ``end`` of ``workflow``; 404 naming a version
    it does not have."""
    graphs = dict(workflow.versions.filter(number__in={start, end}).values_list("number", "graph"))
    missing = [number for number in dict.fromkeys((start, end)) if number not in graphs]
    if missing:
        listed = " or ".join(str(number) for number in missing)
        raise NotFound(
            f"this workflow has no version {listed}",
            fields={
                name: [f"this workflow has no version {number}"]
                for name, number in (("from", start), ("to", end))
                if number in missing
            },
        )
    return {"from": start, "to": end, **diff_graphs(graphs[start], graphs[end])}


# -- the answer's shape, for the schema -----------------------------------------------------------


CHANGES = ["added", "removed", "changed"]


class NodeSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField(allow_blank=True)
    label = serializers.CharField(allow_blank=True)


# Inline, not a shared enum component: another "change" field elsewhere must not collide with it.
@extend_schema_field({"type": "string", "enum": CHANGES})
class ChangeField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=CHANGES, **kwargs)


class SettingChangeSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='From the node: "type", "config.retry.max_attempts"')
    change = ChangeField(help_text="added or removed: the key is in one version only")
    before = serializers.JSONField(help_text="null when the setting was added")
    after = serializers.JSONField(help_text="null when the setting was removed")


class NodeChangeSerializer(NodeSummarySerializer):
    label_before = serializers.CharField(allow_blank=True)
    renamed = serializers.BooleanField()
    moved = serializers.BooleanField()
    settings = SettingChangeSerializer(
        many=True, help_text="Every differing leaf of type and config; empty when only moved"
    )


class NodeDiffSerializer(serializers.Serializer):
    added = NodeSummarySerializer(many=True)
    removed = NodeSummarySerializer(many=True)
    changed = NodeChangeSerializer(
        many=True, help_text="Type or settings differ (the rule time travel's reuse follows)"
    )
    moved_or_renamed = NodeChangeSerializer(many=True, help_text="Only label or position differ")
    unchanged = serializers.IntegerField()


class EdgeSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True, help_text="The edge's id in its own version")
    source = serializers.CharField()
    target = serializers.CharField()
    kind = serializers.CharField()
    source_handle = serializers.CharField()
    target_handle = serializers.CharField()


class EdgeDiffSerializer(serializers.Serializer):
    added = EdgeSerializer(many=True)
    removed = EdgeSerializer(many=True)


COMPARISON = inline_serializer(
    "VersionComparison",
    {
        "from": serializers.IntegerField(),
        "to": serializers.IntegerField(),
        "nodes": NodeDiffSerializer(),
        "edges": EdgeDiffSerializer(help_text="Matched by source, target, kind and handles"),
    },
)
