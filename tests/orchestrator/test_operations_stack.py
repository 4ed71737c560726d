"""Operating the stack on real processes (Daphne, Celery workers, Redis, PostgreSQL): health and
readiness, the workers' log lines (JSON, with the ids of their step, without secrets), and the
Prometheus metrics scraped from Daphne before and after a run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from prometheus_client.parser import text_string_to_metric_families

from editor.models import Workspace
from orchestrator.beat import KEY
from orchestrator.models import Step
from tests.orchestrator.conftest import edge, finished, make_workflow, node, session_of
from tests.support.stack import CeleryWorker, Daphne, RunSocket, Stack, free_port, wait_until
from tests.support.vendor_server import Completion, HTTPError, RecordedRequest, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workers(stack: Stack) -> Iterator[CeleryWorker]:
    """The module's worker: JSON log lines at level info."""
    with stack.worker(concurrency=2, env={"LOG_FORMAT": "json"}, log_level="info") as worker:
        yield worker


def get(daphne: Daphne, path: str) -> httpx.Response:
    return httpx.get(f"{daphne.url}{path}", timeout=10, trust_env=False)


def test_readyz_waits_for_a_worker_while_healthz_says_the_process_is_up(
    stack_daphne: Daphne, request: pytest.FixtureRequest
) -> None:
    assert get(stack_daphne, "/healthz").json() == {"status": "ok"}
    before = get(stack_daphne, "/readyz")
    assert before.status_code == 503
    assert before.json() == {
        "status": "unavailable",
        "database": "ok",
        "redis": "ok",
        "workers": "error: no worker answered",
    }
    worker: CeleryWorker = request.getfixturevalue("workers")
    assert worker.alive
    after = get(stack_daphne, "/readyz")
    assert after.status_code == 200, after.text
    assert after.json() == {"status": "ok", "database": "ok", "redis": "ok", "workers": "ok"}


def leaky_graph() -> dict[str, Any]:
    """in → ok → bad (its vendor echoes the key in its error) → out by the error edge."""
    common = {"credential": "vendor-key", "stream": False, "retry": {"max_attempts": 1}}
    return {
        "nodes": [
            node("in", "input"),
            node("ok", "worker", model="openai/log-ok", instructions="Say hi", **common),
            node("bad", "worker", model="openai/log-bad", instructions="Say hi", **common),
            node("out", "output"),
        ],
        "edges": [edge("in", "ok"), edge("ok", "bad"), edge("bad", "out", "error")],
    }


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_a_step_logs_json_lines_with_its_ids_and_without_the_key(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    workers: CeleryWorker,
) -> None:
    value = f"sk-logcheck-{uuid.uuid4().hex}"

    def answer(request: RecordedRequest) -> Any:
        if request.model == "log-bad":
            return HTTPError(401, message=f"Incorrect API key provided: {value}")
        return Completion("Hi there.", prompt_tokens=7, completion_tokens=3)

    vendor.respond_with(answer)
    credentials = f"/api/workspaces/{alice_workspace.pk}/credentials/"
    made = api.post(
        credentials,
        json={
            "name": "vendor-key",
            "kind": "openai",
            "value": value,
            "config": {"base_url": vendor.url},
        },
    )
    assert made.status_code == 201, made.text
    workflow = make_workflow(alice, alice_workspace, leaky_graph(), name="Log check")
    started = api.post(f"/api/workflows/{workflow.id}/runs/", json={"input": {}})
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    run = finished(run_id)
    assert run.status == "succeeded", run.error
    steps = {s.node_id: s for s in Step.objects.filter(run_id=run_id)}

    log = workers.log_path.read_text(errors="replace")
    assert value not in log
    lines = [line for line in json_lines(log) if line.get("run_id") == run_id]
    by_step = {line["step_id"]: line for line in lines if line["logger"] == "orchestrator.steps"}
    ok, bad = by_step[steps["ok"].key], by_step[steps["bad"].key]
    for line in (ok, bad):
        assert line["workspace_id"] == str(alice_workspace.pk)
        assert {"time", "level", "message"} <= set(line)
    assert ok["level"] == "INFO"
    assert ok["message"].startswith("step ok (worker) attempt 1 succeeded in ")
    assert ok["message"].endswith("; 7 tokens in, 3 out, $0.000000")
    assert bad["level"] == "WARNING"
    assert "attempt 1 failed" in bad["message"]
    assert "[redacted]" in bad["message"]  # the echoed key was there, and was taken out


# -- metrics ---------------------------------------------------------------------------------------


def scrape(daphne: Daphne) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Daphne's /metrics as {(sample name, sorted labels): value}."""
    return samples_at(f"{daphne.url}/metrics")


def samples_at(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A Prometheus exposition at ``url`` as {(sample name, sorted labels): value}."""
    response = httpx.get(url, timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def metered_graph() -> dict[str, Any]:
    """in → writer (a model call) → fetch (refused by the outbound guard, on by its error edge)
    → out."""
    return {
        "nodes": [
            node("in", "input"),
            node("writer", "worker", model=METERED_MODEL, instructions="hi", stream=False),
            node(
                "fetch",
                "http_request",
                url="http://169.254.169.254/latest/meta-data/",
                retry={"max_attempts": 1},
            ),
            node("out", "output"),
        ],
        "edges": [edge("in", "writer"), edge("writer", "fetch"), edge("fetch", "out", "error")],
    }


METERED_MODEL = "openai/metrics-model"


def test_metrics_move_with_a_run_on_the_workers(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    stack_daphne: Daphne,
    workers: CeleryWorker,
) -> None:
    vendor.respond_with(lambda request: Completion("Hi.", prompt_tokens=11, completion_tokens=4))
    workflow = make_workflow(alice, alice_workspace, metered_graph(), name="Metered")
    before = scrape(stack_daphne)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    run_id = api.post(f"/api/workflows/{workflow.id}/runs/", json={"input": {}}).json()["id"]
    with RunSocket(stack_daphne, run_id, after=0, session=session_of(alice)) as ws:
        ws.read_until_type("run.succeeded", timeout=30)
        after = scrape(stack_daphne)  # while the socket is open
    assert finished(run_id).status == "succeeded"

    assert moved("flowbuilder_runs_started_total") == 1
    assert moved("flowbuilder_runs_finished_total", status="succeeded") == 1
    assert moved("flowbuilder_runs_finished_total", status="failed") == 0
    worker_steps = moved(
        "flowbuilder_step_duration_seconds_count", node_type="worker", status="succeeded"
    )
    assert worker_steps == 1
    assert (
        moved("flowbuilder_step_duration_seconds_count", node_type="http_request", status="failed")
        == 1
    )
    assert moved("flowbuilder_model_tokens_total", model=METERED_MODEL, direction="input") == 11
    assert moved("flowbuilder_model_tokens_total", model=METERED_MODEL, direction="output") == 4
    assert moved("flowbuilder_outbound_refused_total") == 1
    # run.started, each step's events and run.succeeded: at least one event per step and the run's.
    assert moved("flowbuilder_events_delivered_total") >= 6
    assert after[("flowbuilder_websockets_open", (("kind", "run"),))] >= 1
    # States read from the database at the scrape: nothing is left waiting.
    assert after[("flowbuilder_steps_queued", ())] == 0
    assert after[("flowbuilder_steps_waiting_on_people", ())] == 0
    assert ("flowbuilder_steps_queued_oldest_seconds", ()) in after


def test_metrics_need_the_token_when_one_is_set(stack: Stack) -> None:
    with stack.daphne(env={"METRICS_TOKEN": "metrics-secret-0123456789"}) as web:
        refused = get(web, "/metrics")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        wrong = httpx.get(
            f"{web.url}/metrics", headers={"Authorization": "Bearer nope"}, trust_env=False
        )
        assert wrong.status_code == 401
        ok = httpx.get(
            f"{web.url}/metrics",
            headers={"Authorization": "Bearer metrics-secret-0123456789"},
            trust_env=False,
        )
        assert ok.status_code == 200
        assert "flowbuilder_steps_queued" in ok.text


def test_a_workers_own_exporter_serves_its_processes_metrics(
    api: httpx.Client, alice: User, alice_workspace: Workspace, stack: Stack, vendor: VendorServer
) -> None:
    port = free_port()
    with stack.worker(concurrency=1, env={"WORKER_METRICS_PORT": str(port)}):
        exporter = f"http://127.0.0.1:{port}/"
        wait_until(lambda: _answers(exporter), 20, "the worker's exporter to answer")
        before = samples_at(exporter)
        graph = {
            "nodes": [
                node("in", "input"),
                node("echo", "transform", template="hi"),
                node("out", "output"),
            ],
            "edges": [edge("in", "echo"), edge("echo", "out")],
        }
        workflow = make_workflow(alice, alice_workspace, graph, name="Exported")
        run_id = api.post(f"/api/workflows/{workflow.id}/runs/", json={"input": {}}).json()["id"]
        assert finished(run_id).status == "succeeded"
        after = samples_at(exporter)
    key = (
        "flowbuilder_step_duration_seconds_count",
        (("node_type", "transform"), ("status", "succeeded")),
    )
    assert after.get(key, 0.0) - before.get(key, 0.0) == 1
    # The worker's exporter serves counters only: the database's states are the web's to read.
    assert ("flowbuilder_steps_queued", ()) not in after


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def beat_health(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py beat_health`` as the compose file's health check runs it (the stack's Redis)."""
    return subprocess.run(
        [sys.executable, "manage.py", "beat_health", *args],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_beats_health_check_follows_its_heartbeat(stack: Stack, stack_daphne: Daphne) -> None:
    broker = stack.redis()
    broker.delete(KEY)
    missing = beat_health(stack)
    assert missing.returncode == 1
    assert "no heartbeat; is `flowbuilder beat` running?" in missing.stderr
    assert ("flowbuilder_beat_heartbeat_age_seconds", ()) not in scrape(stack_daphne)

    with stack.beat():
        wait_until(lambda: broker.get(KEY) is not None, 30, "beat's first heartbeat")
        alive = beat_health(stack, "--here")
        assert alive.returncode == 0, alive.stderr
        assert "beat: alive" in alive.stdout
        age = scrape(stack_daphne)[("flowbuilder_beat_heartbeat_age_seconds", ())]
        assert 0 <= age < 60
    # Beat stopped: its last heartbeat ages past a short limit, and the check says how old.
    time.sleep(2.5)
    stale = beat_health(stack, "--max-age", "2")
    assert stale.returncode == 1
    assert re.search(r"beat: the last heartbeat is \d+ s old \(from ", stale.stderr), stale.stderr
    bad = beat_health(stack, "--max-age", "0")
    assert bad.returncode == 1 and "--max-age must be more than 0 seconds" in bad.stderr
    broker.close()
