"""The engine's spans: one per model call and per tool call, following OpenTelemetry's GenAI
semantic conventions, as children of whatever span is current (the step's, on a worker).

Only the OpenTelemetry API is used here: with no SDK configured (the engine on its own, or the
app with OTEL_EXPORTER_OTLP_ENDPOINT unset) every span is a no-op. Span texts never hold
prompts, answers or arguments, and error texts pass the log redaction (runtime.log_context).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from runtime.log_context import redact_known

tracer = trace.get_tracer("flowbuilder.runtime")

# Attribute names (https://opentelemetry.io/docs/specs/semconv/gen-ai/); cost has none there.
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of the provider attribute, still read by many backends
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TEMPERATURE = "gen_ai.request.temperature"
MAX_TOKENS = "gen_ai.request.max_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
COST = "flowbuilder.cost_usd"
ERROR_TYPE = "error.type"


def failed(span: Span, error: BaseException, kind: str | None = None) -> None:
    """Mark ``span`` failed with the error's class and (redacted) message."""
    span.set_attribute(ERROR_TYPE, kind or type(error).__name__)
    span.set_status(Status(StatusCode.ERROR, redact_known(str(error))[:500]))


@contextlib.contextmanager
def model_call(model: str, vendor_model: str, **request: Any) -> Iterator[Span]:
    """The span of one model call (``chat <model>``); the caller adds the usage."""
    provider = model.split("/", 1)[0]
    attributes: dict[str, Any] = {
        OPERATION: "chat",
        PROVIDER: provider,
        SYSTEM: provider,
        REQUEST_MODEL: vendor_model,
        "flowbuilder.model": model,
    }
    if request.get("temperature") is not None:
        attributes[TEMPERATURE] = request["temperature"]
    if request.get("max_tokens") is not None:
        attributes[MAX_TOKENS] = request["max_tokens"]
    with tracer.start_as_current_span(
        f"chat {vendor_model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,  # an exception's text could carry what the vendor echoed
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as error:
            code = getattr(error, "code", None)
            failed(span, error, code if isinstance(code, str) else None)
            raise


def model_answered(
    span: Span, response_model: str, tokens_in: int, tokens_out: int, cost: float, finish: Any
) -> None:
    span.set_attribute(RESPONSE_MODEL, response_model)
    span.set_attribute(INPUT_TOKENS, tokens_in)
    span.set_attribute(OUTPUT_TOKENS, tokens_out)
    span.set_attribute(COST, cost)
    if isinstance(finish, str):
        span.set_attribute(FINISH_REASONS, [finish])


@contextlib.contextmanager
def tool_call(name: str, call_id: str, kind: str | None) -> Iterator[Span]:
    """The span of one tool call (``execute_tool <name>``); the caller says how it ended."""
    attributes: dict[str, Any] = {
        OPERATION: "execute_tool",
        TOOL_NAME: name,
        TOOL_CALL_ID: call_id,
        TOOL_TYPE: "function",
    }
    if kind:
        attributes["flowbuilder.tool.kind"] = kind
    with tracer.start_as_current_span(
        f"execute_tool {name}",
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as error:
            failed(span, error)
            raise


def tool_failed(span: Span, message: str) -> None:
    span.set_attribute(ERROR_TYPE, "tool_error")
    span.set_status(Status(StatusCode.ERROR, redact_known(message)[:500]))
