"""OpenTelemetry traces of the app: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; then every
process (web, workers, beat) exports its spans over OTLP/HTTP (the official SDK and exporter,
which read the standard OTEL_* variables: endpoint, headers, service name, batch delays).

One trace per run: the run's ids are chosen where the run starts (in the request's trace, a
child of its span, when the API or a webhook is called with a ``traceparent``), kept on the run
(``Run.trace_parent``), and every step's span on any worker is its child; the run's own span is
exported by the process whose transaction ends the run, spanning the run's whole duration.
Model calls, tool calls and outbound HTTP (runtime.telemetry, runtime.outbound) are the step's
children and carry ``traceparent`` onward.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from runtime.log_context import redact_known

tracer = trace.get_tracer("flowbuilder")
_configured = False


def enabled() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def configure() -> bool:
    """Install the SDK's tracer provider with the OTLP/HTTP exporter, once per process."""
    global _configured
    if _configured or not enabled():
        return _configured
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    role = os.environ.get("FLOWBUILDER_PROCESS", "").strip() or "command"
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "").strip() or "flowbuilder",
            "flowbuilder.process": role,
        }
    )
    provider = TracerProvider(resource=resource, id_generator=_ids)
    # The batch processor re-creates its thread in a forked child (Celery's prefork pool).
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def flush(timeout_ms: int = 5000) -> None:
    """Send what the process's batch holds (a pool process about to end)."""
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush(timeout_ms)


# -- runs and steps --------------------------------------------------------------------------------


class _PresetIds(RandomIdGenerator):
    """The SDK's random ids, except while a run's span is made at its end: that span takes the
    ids its steps were given as their parent when the run started."""

    def __init__(self) -> None:
        self.preset: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
            "flowbuilder_preset_span_ids", default=None
        )

    def generate_trace_id(self) -> int:
        preset = self.preset.get()
        return preset[0] if preset else super().generate_trace_id()

    def generate_span_id(self) -> int:
        preset = self.preset.get()
        return preset[1] if preset else super().generate_span_id()


_ids = _PresetIds()


def run_started(run: Any, name: str) -> str:
    """The W3C ``traceparent`` of the run's span, which the run keeps for its steps (their
    spans, on any worker, are its children); empty when tracing is off.

    A run outlives the request that starts it, so its span is exported when it ends
    (``export_run_span``), with the run's whole duration. Here only its ids are chosen: in the
    caller's trace when the request came with a ``traceparent`` (the run's span is then a child
    of the request's span, whose id goes on ``run.trace_caller``), in a new trace otherwise.
    """
    run.trace_caller = ""
    if not _configured:
        return ""
    caller = trace.get_current_span().get_span_context()
    if caller.is_valid:
        trace_id, flags = caller.trace_id, caller.trace_flags
        run.trace_caller = format(caller.span_id, "016x")
    else:
        trace_id, flags = _ids.generate_trace_id(), TraceFlags(TraceFlags.SAMPLED)
    span_id = _ids.generate_span_id()
    return f"00-{trace_id:032x}-{span_id:016x}-{int(flags):02x}"


@dataclass(frozen=True)
class EndedRun:
    """What the run's span says, read in the transaction that ended the run."""

    trace_parent: str
    caller: str
    run_id: str
    workflow_id: str
    workspace_id: str
    version: int
    status: str
    started: datetime
    ended: datetime
    tokens_in: int
    tokens_out: int
    cost: float
    error: str


def ended_run(run: Any) -> EndedRun | None:
    """The run's span to export once the transaction that ended it commits; None when the run
    was not traced (or its caller did not sample it)."""
    if not _configured or not _sampled(run.trace_parent):
        return None
    error = run.error.get("message", "") if isinstance(run.error, dict) else ""
    return EndedRun(
        trace_parent=run.trace_parent,
        caller=run.trace_caller,
        run_id=str(run.pk),
        workflow_id=str(run.workflow_id),
        workspace_id=str(run.workspace_id),
        version=int(run.version.number),
        status=str(run.status),
        started=run.started_at or run.created_at,
        ended=run.finished_at or timezone.now(),
        tokens_in=int(run.tokens_in),
        tokens_out=int(run.tokens_out),
        cost=float(run.cost),
        error=str(error or ""),
    )


def export_run_span(ended: EndedRun) -> None:
    """Export the run's span, from its start to its end, with the ids its steps know."""
    _, trace_hex, span_hex, _ = ended.trace_parent.split("-")
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    parent = None
    if ended.caller:
        caller = SpanContext(
            trace_id,
            int(ended.caller, 16),
            is_remote=True,
            trace_flags=TraceFlags(int(ended.trace_parent.split("-")[3], 16)),
        )
        parent = trace.set_span_in_context(NonRecordingSpan(caller))
    from editor.models import Workflow

    name = Workflow.objects.filter(pk=ended.workflow_id).values_list("name", flat=True).first()
    token = _ids.preset.set((trace_id, span_id))
    try:
        span = tracer.start_span(
            f"run {name or ended.workflow_id}",
            context=parent,
            kind=SpanKind.INTERNAL,
            start_time=_nanoseconds(ended.started),
            attributes={
                "flowbuilder.run.id": ended.run_id,
                "flowbuilder.workflow.id": ended.workflow_id,
                "flowbuilder.workspace.id": ended.workspace_id,
                "flowbuilder.version": ended.version,
                "flowbuilder.run.status": ended.status,
                "gen_ai.usage.input_tokens": ended.tokens_in,
                "gen_ai.usage.output_tokens": ended.tokens_out,
                "flowbuilder.cost_usd": ended.cost,
            },
        )
    finally:
        _ids.preset.reset(token)
    if ended.status == "failed":
        span.set_status(Status(StatusCode.ERROR, redact_known(ended.error)[:500]))
    span.end(end_time=max(_nanoseconds(ended.ended), _nanoseconds(ended.started)))


def _sampled(trace_parent: str) -> bool:
    """Whether a ``traceparent``'s flags have the sampled bit (other bits, like level 2's
    "random", may be set too)."""
    parts = trace_parent.split("-")
    try:
        return len(parts) == 4 and bool(int(parts[3], 16) & TraceFlags.SAMPLED)
    except ValueError:
        return False


def _nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def trace_id_of(trace_parent: str) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``)."""
    parts = trace_parent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def _run_context(trace_parent: str) -> Context | None:
    return propagate.extract({"traceparent": trace_parent}) if trace_parent else None


@contextlib.contextmanager
def step_span(run: Any, step: Any) -> Iterator[Span]:
    """The span of a step's attempt, a child of its run's span."""
    trace_parent = getattr(run, "trace_parent", "") or ""
    if not trace_parent and not _configured:
        # Tracing is off and the run is in no trace: nothing to record or pass on. The no-op
        # span the API would make costs about 45 µs a step (its attributes, the context).
        yield trace.INVALID_SPAN
        return
    with tracer.start_as_current_span(
        f"step {step.node_id}",
        context=_run_context(trace_parent),
        kind=SpanKind.INTERNAL,
        attributes={
            "flowbuilder.run.id": str(run.pk),
            "flowbuilder.workspace.id": str(run.workspace_id),
            "flowbuilder.step.key": str(step.key),
            "flowbuilder.node.id": str(step.node_id),
            "flowbuilder.node.type": str(step.node_type),
            "flowbuilder.step.attempt": int(step.attempt),
        },
        record_exception=False,  # a node's exception text is not for spans; the status says it
        set_status_on_exception=False,
    ) as span:
        yield span


def step_ended(span: Span, status: str, error: str | None, usage: Any) -> None:
    span.set_attribute("flowbuilder.step.status", status)
    if usage.calls:
        if usage.model:
            span.set_attribute("gen_ai.request.model", usage.model)
        span.set_attribute("gen_ai.usage.input_tokens", usage.tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", usage.tokens_out)
        span.set_attribute("flowbuilder.cost_usd", usage.cost)
    if error:
        span.set_status(Status(StatusCode.ERROR, redact_known(error)[:500]))


# -- incoming requests -----------------------------------------------------------------------------


@contextlib.contextmanager
def incoming_call(
    headers: Mapping[str, str], name: str, attributes: dict[str, Any]
) -> Iterator[None]:
    """A server span for a call that does not pass through TraceMiddleware (a tool call to the
    MCP endpoint, an ASGI app of its own), a child of the caller's ``traceparent`` when it sends
    one: a run it starts joins the caller's trace."""
    if not _configured:
        yield
        return
    parent = propagate.extract({key.lower(): value for key, value in headers.items()})
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ):
        yield


class TraceMiddleware:
    """A server span per request, a child of the caller's ``traceparent`` when it sends one (so a
    run started by an API call or a webhook joins the caller's trace)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _configured:
            return self.get_response(request)
        parent = propagate.extract({k.lower(): v for k, v in request.headers.items()})
        with tracer.start_as_current_span(
            f"{request.method} {request.path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method or "", "url.path": request.path},
        ) as span:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            if match is not None and match.route:
                span.update_name(f"{request.method} /{match.route}")
                span.set_attribute("http.route", f"/{match.route}")
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response
