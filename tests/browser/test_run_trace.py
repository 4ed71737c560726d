"""A run's page shows its trace: a web process exporting traces (to a loopback OTLP receiver)
with ``TRACE_URL_TEMPLATE`` set gives the run a trace id at its start; the run view shows it as a
link into the operator's trace viewer, and the run's span arrives at the receiver with that id.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from orchestrator.models import Run
from tests.browser.session import fresh_page, log_in, make_workflow
from tests.orchestrator.conftest import client_of
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.stack import CeleryWorker, Daphne, Stack, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

VIEWER = "https://traces.example.test/trace/{trace_id}"


@pytest.fixture
def traced_web(stack: Stack, workers: CeleryWorker) -> Iterator[tuple[Daphne, OtlpReceiver]]:
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "TRACE_URL_TEMPLATE": VIEWER,
        }
        with stack.daphne(env=env) as web:
            yield web, receiver


def test_the_run_page_links_the_runs_trace(
    browser: Browser, traced_web: tuple[Daphne, OtlpReceiver], alice: User
) -> None:
    web, receiver = traced_web
    graph = {
        "nodes": [
            {"id": "in", "type": "input", "position": {"x": 0, "y": 0}},
            {
                "id": "shout",
                "type": "transform",
                "position": {"x": 280, "y": 0},
                "config": {"template": "{{ input.word }}!"},
            },
            {"id": "out", "type": "output", "position": {"x": 560, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "target": "shout"},
            {"id": "e2", "source": "shout", "target": "out"},
        ],
    }
    flow = make_workflow(alice, "Traced flow", graph)
    with client_of(alice, web) as api:
        started = api.post(f"/api/workflows/{flow.id}/runs/", json={"input": {"word": "hey"}})
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    wait_until(lambda: Run.objects.get(pk=run_id).status == "succeeded", 60, "the run to succeed")
    trace_id = Run.objects.get(pk=run_id).trace_parent.split("-")[1]

    context, page, errors = fresh_page(browser, web)
    try:
        log_in(page)
        page.goto(f"/workflows/{flow.id}/runs/{run_id}")
        link = page.get_by_test_id("run-trace-link")
        expect(link).to_have_text(trace_id)
        expect(link).to_have_attribute("href", VIEWER.replace("{trace_id}", trace_id))
        expect(link).to_have_attribute("target", "_blank")
        assert not errors, errors
    finally:
        context.close()

    # The web process exported the request's span in that trace (the run's own span comes from
    # whichever process ends the run; these workers export nothing).
    wait_until(
        lambda: any(span.trace_id == trace_id for span in receiver.received()),
        20,
        "a span of the run's trace at the receiver",
    )
