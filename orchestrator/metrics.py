"""Prometheus metrics of every process (web, workers, beat), and the collector /metrics serves.

Celery's prefork workers are many processes, so the metrics are kept in prometheus_client's
multiprocess mode: each process writes its values to files in PROMETHEUS_MULTIPROC_DIR (set by
settings.py, default ``var/metrics``, emptied by the start commands), and whoever serves them
adds the files up. ``/metrics`` on the web process serves the processes that share its
directory (everything of ``./dev start``); a worker with WORKER_METRICS_PORT serves its own
container's (docker-compose.yml). What is counted where:

- runs started and finished, events delivered: the publisher, after the commit (all processes)
- step durations, tokens and cost by model: around each step attempt (workers)
- open WebSockets: the consumers (web); sweeper re-queues: the sweeper (beat or a worker)
- outbound calls refused by the guard: runtime.outbound's refusal listeners (any process)
- queue depth and age and steps waiting on people: read from the database at each scrape.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from django.conf import settings
from django.db.models import Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from runtime import outbound
from runtime.usage import Usage

RUNS_STARTED = Counter("flowbuilder_runs_started", "Runs started (API, webhook, editor, re-run).")
RUNS_FINISHED = Counter(
    "flowbuilder_runs_finished", "Runs that ended, by how they ended.", ["status"]
)
STEP_SECONDS = Histogram(
    "flowbuilder_step_duration_seconds",
    "How long a step attempt ran on a worker, by node type and outcome.",
    ["node_type", "status"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
MODEL_TOKENS = Counter(
    "flowbuilder_model_tokens",
    "Tokens of model calls, by model and direction.",
    ["model", "direction"],
)
MODEL_COST = Counter(
    "flowbuilder_model_cost_usd",
    "Cost of model calls at catalogue prices (USD), by model.",
    ["model"],
)
WEBSOCKETS_OPEN = Gauge(
    "flowbuilder_websockets_open",
    "WebSockets open now, by kind (run, notifications).",
    ["kind"],
    multiprocess_mode="livesum",
)
EVENTS_DELIVERED = Counter(
    "flowbuilder_events_delivered", "Run events broadcast to the channel layer after their commit."
)
BROADCASTS_FAILED = Counter(
    "flowbuilder_event_broadcasts_failed",
    "Broadcasts the channel layer refused (sockets repair them from the database).",
)
SWEEPER_REQUEUES = Counter(
    "flowbuilder_sweeper_requeues",
    "Steps the sweeper put back in the queue or sent again, by reason.",
    ["reason"],
)
OUTBOUND_REFUSED = Counter(
    "flowbuilder_outbound_refused", "Outbound HTTP calls the outbound guard refused."
)

FINISHED = {"run.succeeded": "succeeded", "run.failed": "failed", "run.cancelled": "cancelled"}


def count_run_events(events: Iterable[dict[str, Any]]) -> None:
    """Count the runs a committed batch of events started and finished."""
    for event in events:
        kind = event.get("type")
        if kind == "run.started":
            RUNS_STARTED.inc()
        elif kind in FINISHED:
            RUNS_FINISHED.labels(FINISHED[kind]).inc()


def count_step(node_type: str, status: str, seconds: float, usage: Usage) -> None:
    STEP_SECONDS.labels(node_type, status).observe(seconds)
    for model, spent in usage.by_model.items():
        MODEL_TOKENS.labels(model, "input").inc(spent["tokens_in"])
        MODEL_TOKENS.labels(model, "output").inc(spent["tokens_out"])
        MODEL_COST.labels(model).inc(spent["cost"])


def _count_refusal(message: str) -> None:
    OUTBOUND_REFUSED.inc()


if _count_refusal not in outbound.refusal_listeners:
    outbound.refusal_listeners.append(_count_refusal)


def mark_process_dead(pid: int) -> None:
    """A pool process ended: its live gauges no longer count (its counters still do)."""
    multiprocess.mark_process_dead(pid)


# -- what is read at each scrape -------------------------------------------------------------------


class RunSideCollector(Collector):
    """The queue and the people it waits for, read from the database when scraped: these are
    states, not events, and the database is where they are true for every process at once."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from orchestrator.models import Approval, Step

        now = timezone.now()
        due = Step.objects.filter(status="queued", due_at__lte=now)
        found = due.aggregate(oldest=Min("due_at"))
        queued = GaugeMetricFamily(
            "flowbuilder_steps_queued", "Steps due and waiting for a worker (the queue's depth)."
        )
        queued.add_metric([], due.count())
        yield queued
        age = GaugeMetricFamily(
            "flowbuilder_steps_queued_oldest_seconds",
            "How long the longest-waiting due step has waited for a worker (0: none waits).",
        )
        oldest = found["oldest"]
        age.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
        yield age
        people = GaugeMetricFamily(
            "flowbuilder_steps_waiting_on_people",
            "Approvals open, waiting for a person's decision.",
        )
        people.add_metric([], Approval.objects.filter(status="pending").count())
        yield people
        yield from _broker()
        yield from _beat()


def _broker() -> Iterator[GaugeMetricFamily]:
    """The broker's own queue, beside the steps due in the database: messages of every task
    (steps, ingestion, the sweeper's), so a queue that grows while few steps are due shows here.
    Nothing when the broker does not answer."""
    from orchestrator.broker_queue import queued_messages

    found = queued_messages()
    if found is None:
        return
    messages = GaugeMetricFamily(
        "flowbuilder_broker_queue_messages",
        "Messages waiting in the broker's queue for a worker (every task, every priority).",
    )
    messages.add_metric([], found)
    yield messages


def _beat() -> Iterator[GaugeMetricFamily]:
    """Beat's heartbeat (orchestrator.beat): how old it is; nothing when there is none or Redis
    does not answer (an alert on the series' absence covers both)."""
    from orchestrator.beat import last_heartbeat

    try:
        beat = last_heartbeat()
    except redis.RedisError:
        return
    if beat is None:
        return
    age = GaugeMetricFamily(
        "flowbuilder_beat_heartbeat_age_seconds",
        "Seconds since Celery beat (which schedules the sweeper) last ticked.",
    )
    age.add_metric([], beat.age())
    yield age


def exposition(with_database: bool) -> bytes:
    """Every process's metrics from the shared directory, and (web) the database's states."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if with_database:
        registry.register(RunSideCollector())
    return generate_latest(registry)


# -- /metrics --------------------------------------------------------------------------------------


def _loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """With METRICS_TOKEN set: only ``Authorization: Bearer <token>``; without it: only clients
    on this machine's loopback (a scraper elsewhere needs the token)."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if not secrets.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("metrics: a valid Bearer token is needed\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _loopback(request):
        return HttpResponse(
            "metrics: only from this machine unless METRICS_TOKEN is set\n", status=403
        )
    return HttpResponse(exposition(with_database=True), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int, address: str) -> None:
    """A worker's own exporter (its container's processes), on WORKER_METRICS_PORT."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    start_http_server(port, addr=address, registry=registry)
