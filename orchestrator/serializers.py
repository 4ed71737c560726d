"""Run, step and event shapes of the REST API (the canvas and scripts read these)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from editor.strict_fields import (
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from orchestrator.models import Event, Run, Step
from orchestrator.outcomes import OUTCOMES, outcome_of
from orchestrator.spending import totals
from orchestrator.tracing import trace_id_of


class BudgetSerializer(serializers.Serializer[Any]):
    """Limits for one run. Past 80% of a limit tiered nodes use the cheap tier; past it the run
    stops with ``budget_exceeded``."""

    max_tokens = StrictIntegerField(required=False, min_value=1, allow_null=True)
    max_cost = StrictFloatField(required=False, min_value=0, allow_null=True)
    downgrade_at = StrictFloatField(required=False, min_value=0, max_value=1)


@extend_schema_field({"type": "object", "additionalProperties": True})
class RunInputField(serializers.JSONField):
    """The run input: a JSON object of fields (``orchestrator.runs.start_run`` refuses others)."""


MAX_VERSION_NUMBER = 999_999_999  # as the versions' URLs take them (nine digits)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": ["published", "latest"]},
            {"type": "integer", "minimum": 1, "maximum": MAX_VERSION_NUMBER},
        ],
        "description": (
            '"published": the published version (409 if none is); "latest": the latest saved '
            "version, as the editor's Run; a number: that version (404 if there is none). "
            "Left out: the published version when there is one, else the latest"
        ),
    }
)
class RunVersionField(serializers.Field):
    """Which version a run start runs (``orchestrator.runs.start_run``'s ``version``)."""

    default_error_messages = {
        "invalid": 'send "published", "latest" or a version number',
    }

    def to_internal_value(self, data: Any) -> str | int:
        if data in ("published", "latest"):
            return str(data)
        number = isinstance(data, int) and not isinstance(data, bool)
        if number and 1 <= data <= MAX_VERSION_NUMBER:
            return int(data)
        self.fail("invalid")
        raise AssertionError  # fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


class StartRunSerializer(serializers.Serializer[Any]):
    input = RunInputField(required=False, default=dict)
    version = RunVersionField(required=False, default=None)
    budget = BudgetSerializer(required=False, allow_null=True)
    use_pins = StrictBooleanField(
        required=False,
        default=False,
        help_text="pinned nodes give their pinned output instead of executing (a test run)",
    )


class StepSerializer(serializers.ModelSerializer[Step]):
    id = serializers.CharField(source="key")
    node = serializers.CharField(source="node_id")
    type = serializers.CharField(source="node_type")
    parent = serializers.SerializerMethodField()
    duration_ms = serializers.FloatField(read_only=True, allow_null=True)
    subtree = serializers.SerializerMethodField(
        help_text="tokens and cost of this step and everything it delegated, at any depth"
    )
    flow = serializers.SerializerMethodField(
        help_text="a subflow step running its flow as steps, or a workflow tool call (type "
        "workflow_tool, a child of the step that called it): {workflow, name, number}, and "
        "for a call tool_call, the id of the step's tool call it is"
    )
    in_flow = serializers.SerializerMethodField(
        help_text="the subflow step or workflow tool call whose flow this step belongs to (a "
        "workflow tool call's own: the step that called it; null: the run's own flow)"
    )
    tool_calls = serializers.SerializerMethodField(
        help_text="the step's tool calls as its step.tool_call events last said them (running, "
        "succeeded or failed), in the order they were made, over all its attempts"
    )

    retries = serializers.SerializerMethodField(
        help_text="the attempts of the step that failed and were tried again, as its "
        "step.retrying events said them: {attempt, error, delay (s), ts}, oldest first"
    )

    class Meta:
        model = Step
        fields = [
            "id",
            "node",
            "type",
            "status",
            "parent",
            "input",
            "output",
            "branch",
            "error",
            "attempt",
            "round",
            "request",
            "model",
            "tokens_in",
            "tokens_out",
            "cost",
            "subtree",
            "by_model",
            "started_at",
            "finished_at",
            "duration_ms",
            "reused_from",
            "flow",
            "in_flow",
            "tool_calls",
            "retries",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_tool_calls(self, step: Step) -> list[dict[str, Any]]:
        calls: dict[str, list[dict[str, Any]]] = self.context.get("tool_calls", {})
        return calls.get(step.key, [])

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_retries(self, step: Step) -> list[dict[str, Any]]:
        retries: dict[str, list[dict[str, Any]]] = self.context.get("retries", {})
        return retries.get(step.key, [])

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_flow(self, step: Step) -> dict[str, Any] | None:
        if not step.flow:
            return None
        shown = {name: step.flow.get(name) for name in ("workflow", "name", "number")}
        if "tool_call" in step.flow:  # a workflow tool call: which call of its calling step
            shown["tool_call"] = step.flow["tool_call"]
        return shown

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_in_flow(self, step: Step) -> str | None:
        if step.in_flow_id is None:
            return None
        keys: dict[int, str] = self.context.get("step_keys", {})
        return keys.get(step.in_flow_id) or Step.objects.values_list("key", flat=True).get(
            pk=step.in_flow_id
        )

    def get_subtree(self, step: Step) -> dict[str, Any]:
        totals: dict[int, dict[str, Any]] = self.context.get("subtrees", {})
        return totals.get(step.pk) or {
            "tokens_in": step.tokens_in,
            "tokens_out": step.tokens_out,
            "cost": step.cost,
        }

    def get_parent(self, step: Step) -> str | None:
        keys: dict[int, str] = self.context.get("step_keys", {})
        if step.parent_id is None:
            return None
        return keys.get(step.parent_id) or Step.objects.values_list("key", flat=True).get(
            pk=step.parent_id
        )


class RunSourceSerializer(serializers.Serializer[Run]):
    """Where a run made by time travel came from (null for a run started afresh)."""

    run = serializers.UUIDField(allow_null=True, help_text="null once the source run is deleted")
    step = serializers.CharField(allow_null=True, help_text="the step it re-runs from")
    mode = serializers.ChoiceField(choices=["from", "edit", "retry", "pinned"])


class RunSummarySerializer(serializers.ModelSerializer[Run]):
    workflow = serializers.UUIDField(source="workflow_id")
    version = serializers.IntegerField(source="version.number")
    totals = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField(
        help_text="how the finished run ended (null until then): succeeded, rejected (an "
        "approval gate was rejected, by a person or its deadline; its status is succeeded), "
        "failed or cancelled"
    )

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow",
            "version",
            "status",
            "outcome",
            "error",
            "totals",
            "budget",
            "created_at",
            "started_at",
            "finished_at",
            "last_seq",
            "source",
        ]

    def get_totals(self, run: Run) -> dict[str, Any]:
        return totals(run)

    @extend_schema_field(serializers.ChoiceField(choices=OUTCOMES, allow_null=True))
    def get_outcome(self, run: Run) -> str | None:
        return outcome_of(run)

    @extend_schema_field(RunSourceSerializer(allow_null=True))
    def get_source(self, run: Run) -> dict[str, Any] | None:
        if not run.reuse:
            return None
        run_id = run.source_run_id
        return {
            "run": str(run_id) if run_id else None,
            "step": run.source_step or None,
            "mode": run.reuse.get("mode", "retry"),
        }


class RunSerializer(RunSummarySerializer):
    steps = serializers.SerializerMethodField()
    reruns = serializers.SerializerMethodField(help_text="runs made from this one, newest first")
    trace_id = serializers.SerializerMethodField(
        help_text="the OpenTelemetry trace id of the run (32 hex digits; null when tracing was "
        "off at its start): every step's span is in this trace"
    )
    trace_url = serializers.SerializerMethodField(
        help_text="the run's trace in the operator's trace viewer (TRACE_URL_TEMPLATE); null "
        "when that is not configured or the run has no trace"
    )

    class Meta(RunSummarySerializer.Meta):
        fields = [
            *RunSummarySerializer.Meta.fields,
            "input",
            "output",
            "steps",
            "reruns",
            "trace_id",
            "trace_url",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_trace_id(self, run: Run) -> str | None:
        return trace_id_of(run.trace_parent)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_trace_url(self, run: Run) -> str | None:
        trace_id = trace_id_of(run.trace_parent)
        template = settings.TRACE_URL_TEMPLATE
        return template.replace("{trace_id}", trace_id) if trace_id and template else None

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_reruns(self, run: Run) -> list[dict[str, Any]]:
        rows = run.reruns.order_by("-created_at").values("id", "status", "source_step", "reuse")
        return [
            {
                "id": str(row["id"]),
                "status": row["status"],
                "step": row["source_step"] or None,
                "mode": (row["reuse"] or {}).get("mode", "retry"),
            }
            for row in rows[:50]
        ]

    def get_steps(self, run: Run) -> list[dict[str, Any]]:
        steps = list(run.steps.order_by("id"))
        keys = {step.pk: step.key for step in steps}
        tool_calls, retries = step_histories(run)
        context = {
            "step_keys": keys,
            "subtrees": subtree_totals(steps),
            "tool_calls": tool_calls,
            "retries": retries,
        }
        return StepSerializer(steps, many=True, context=context).data  # type: ignore[return-value]


def step_histories(
    run: Run,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Each step's tool calls and retried attempts, from its events in one read, as the run
    view's reducer collects them live: a page that loads the run later still shows them.

    Tool calls as their ``step.tool_call`` events left them (a call's end replaces its start,
    so a call under way shows and a finished run shows every call it made); retries from the
    ``step.retrying`` events, what each attempt failed with, not only how many there were."""
    calls: dict[str, dict[tuple[Any, Any], dict[str, Any]]] = {}
    retries: dict[str, list[dict[str, Any]]] = {}
    rows = run.events.filter(type__in=("step.tool_call", "step.retrying")).order_by("seq")
    for kind, key, data, ts in rows.values_list("type", "step_key", "data", "ts"):
        if key is None or not isinstance(data, dict):
            continue
        if kind == "step.tool_call":
            calls.setdefault(key, {})[(data.get("id"), data.get("phase"))] = data
        else:
            retry = {name: data.get(name) for name in ("attempt", "error", "delay")}
            retries.setdefault(key, []).append({**retry, "ts": ts.timestamp()})
    return {key: list(made.values()) for key, made in calls.items()}, retries


def subtree_totals(steps: list[Step]) -> dict[int, dict[str, Any]]:
    """Per step: its own tokens and cost plus those of every step it delegated, at any depth —
    a manager's figure covers its whole team."""
    totals = {
        step.pk: {"tokens_in": step.tokens_in, "tokens_out": step.tokens_out, "cost": step.cost}
        for step in steps
    }
    parents = {step.pk: step.parent_id for step in steps}
    # Children have larger ids than their parents (created later), so one pass from the end
    # adds every finished subtree into its parent.
    for step in sorted(steps, key=lambda s: s.pk, reverse=True):
        parent = parents[step.pk]
        if parent is not None and parent in totals:
            into, mine = totals[parent], totals[step.pk]
            into["tokens_in"] += mine["tokens_in"]
            into["tokens_out"] += mine["tokens_out"]
            into["cost"] = round(into["cost"] + mine["cost"], 10)
    return totals


class EventSerializer(serializers.Serializer[Event]):
    """The wire shape of an event, the same on the WebSocket and in the events API."""

    seq = serializers.IntegerField()
    type = serializers.CharField()
    run = serializers.UUIDField()
    step = serializers.CharField(allow_null=True)
    node = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    data = serializers.JSONField()
    ts = serializers.FloatField()

    def to_representation(self, event: Event) -> dict[str, Any]:
        return event.to_message()


class ApprovalDecisionSerializer(serializers.Serializer[Any]):
    user = serializers.CharField(help_text="username")
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class ApprovalWorkflowSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ApprovalSerializer(serializers.Serializer[Any]):
    """An approval as the inbox shows it (built by ``orchestrator.approvals.describe``, which
    the notification socket shares). The context's ``roles`` ({workspace id: my role}) and
    ``username`` give ``can_decide``."""

    id = serializers.CharField()
    run = serializers.UUIDField()
    workflow = ApprovalWorkflowSerializer()
    step = serializers.CharField(help_text="the step's id in the run")
    node = serializers.CharField()
    node_label = serializers.CharField(help_text="the gate's label (its node id when it has none)")
    flow_label = serializers.CharField(
        allow_null=True,
        help_text="the label of the sub-flow step the gate ran in; null for a gate of the run's "
        "own flow",
    )
    status = serializers.ChoiceField(choices=["pending", "approved", "rejected", "expired"])
    prompt = serializers.CharField()
    data = serializers.JSONField(allow_null=True)
    editable = serializers.BooleanField()
    approvers = serializers.ListField(child=serializers.CharField())
    role = serializers.CharField(allow_null=True)
    quorum = serializers.IntegerField()
    approvals = serializers.IntegerField(help_text="how many have approved so far")
    deadline = serializers.DateTimeField(allow_null=True)
    can_decide = serializers.BooleanField(help_text="whether I may decide it now")
    decisions = ApprovalDecisionSerializer(many=True)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, approval: Any) -> dict[str, Any]:
        from orchestrator import approvals

        roles: dict[Any, str] = self.context.get("roles", {})
        username: str = self.context.get("username", "")
        role = roles.get(approval.workspace_id)
        return approvals.describe(approval, can=approvals.can_decide(approval, username, role))


class RetrySerializer(serializers.Serializer[Any]):
    """A new run made from this one, reusing every step whose node, settings and input are
    unchanged."""

    version = serializers.ChoiceField(
        choices=["run", "current"],
        default="run",
        help_text="run: the source run's version; current: the workflow's newest version",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A step named in the body (as in the step's own address) would silently be a retry.
        misplaced = sorted({"step", "output"} & set(self.initial_data) - set(self.fields))
        if misplaced:
            raise serializers.ValidationError(
                {
                    name: [
                        "not part of a retry: to re-run from a step (or edit its output), "
                        "POST to /api/runs/<run>/steps/<step>/rerun/"
                    ]
                    for name in misplaced
                }
            )
        return attrs


class StepRerunSerializer(RetrySerializer):
    """A new run made from this one from this step: it and all after it execute. With
    ``output``, the step's output is replaced and what follows executes."""

    output = serializers.JSONField(
        required=False, allow_null=True, help_text="the step's output, edited"
    )


class RerunPreviewSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(choices=["from", "edit", "retry"])
    version = serializers.IntegerField()
    nodes = serializers.ListField(child=serializers.DictField())
    execute = serializers.IntegerField(help_text="steps that would execute")
    reuse = serializers.IntegerField(help_text="steps that would be reused")
    skip = serializers.IntegerField()
    estimated_cost = serializers.FloatField(
        help_text="what the executed steps cost in the source run, at today's catalogue prices"
    )
    reused_cost = serializers.FloatField(help_text="what the reused steps cost when they ran")
    not_estimated = serializers.ListField(
        child=serializers.CharField(), help_text="executed nodes with no recorded cost to go by"
    )


class NodeComparisonSerializer(serializers.Serializer[Any]):
    node = serializers.CharField()
    a = serializers.DictField(allow_null=True, help_text="the node's step in run a (null: none)")
    b = serializers.DictField(allow_null=True, help_text="the node's step in run b (null: none)")
    same_output = serializers.BooleanField(help_text="same status, branch, output and error")


class RunComparisonSerializer(serializers.Serializer[Any]):
    a = RunSummarySerializer()
    b = RunSummarySerializer()
    nodes = NodeComparisonSerializer(many=True)
    differences = serializers.IntegerField(help_text="nodes whose outcome differs")


class DecideSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = StrictCharField(required=False, allow_blank=True, default="", max_length=10000)
    output = serializers.JSONField(
        required=False, allow_null=True, default=None, help_text="the edited data (if editable)"
    )
