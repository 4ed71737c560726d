"""The runs API on PostgreSQL, without workers: runs stay queued unless a test drives them with
``execute_step`` in this process (the real task body: claim, run the node, record the result)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Workflow, Workspace
from orchestrator import runs
from orchestrator.execution import execute_step
from orchestrator.models import Event, Run, Step
from tests.orchestrator.conftest import chain, drive, edge, event_log, make_workflow, node

pytestmark = pytest.mark.django_db

STEP_FIELDS = {
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
    "subtree",
    "model",
    "tokens_in",
    "tokens_out",
    "cost",
    "by_model",
    "started_at",
    "finished_at",
    "duration_ms",
    "reused_from",
    "flow",
    "in_flow",
    "tool_calls",
    "retries",
}


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "fields"?}}``."""
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}
    assert body["error"]["message"]
    return body["error"]


def start(client: APIClient, workflow: Workflow, run_input: Any = None) -> Any:
    body = {} if run_input is None else {"input": run_input}
    return client.post(f"/api/workflows/{workflow.id}/runs/", body, format="json")


def started_run(client: APIClient, workflow: Workflow, run_input: Any = None) -> Run:
    response = start(client, workflow, run_input)
    assert response.status_code == 201, response.content[:500]
    return Run.objects.get(pk=response.json()["id"])


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in events]


def worker_graph() -> dict[str, Any]:
    return chain(
        node("brief", "input"),
        node(
            "writer",
            "worker",
            model="local/echo",
            role="Writer",
            instructions="On {{ input.topic }}",
        ),
        node("result", "output"),
    )


@pytest.fixture
def worker_workflow(alice: User, alice_workspace: Workspace) -> Workflow:
    return make_workflow(alice, alice_workspace, worker_graph(), name="Writer")


# -- starting --------------------------------------------------------------------------------------


def test_it_starts_a_run_and_answers_201_with_its_id_and_status(
    alice: User, alice_client: APIClient, workflow: Workflow
) -> None:
    response = start(alice_client, workflow, {"topic": "owls"})
    assert response.status_code == 201
    body = response.json()
    run = Run.objects.get(pk=uuid.UUID(body["id"]))
    assert body["status"] == run.status == "running"
    assert body["workflow"] == str(workflow.id)
    assert body["version"] == 1
    assert body["last_seq"] == 2
    assert run.input == {"topic": "owls"}
    assert run.created_by == alice
    assert run.version_id == workflow.current_version_id
    # Nothing runs without a worker: the input step waits in the queue.
    assert list(run.steps.values_list("key", "status")) == [("brief", "queued")]
    assert [(e["seq"], e["type"], e["step"]) for e in event_log(run)] == [
        (1, "run.started", None),
        (2, "step.queued", "brief"),
    ]


def test_a_member_of_the_workspace_may_start_and_read_runs(
    bob_client: APIClient, alice_client: APIClient, workflow: Workflow
) -> None:
    run = started_run(bob_client, workflow, {"topic": "bees"})
    assert alice_client.get(f"/api/runs/{run.pk}/").status_code == 200
    listed = bob_client.get(f"/api/runs/?workflow={workflow.id}").json()
    assert [item["id"] for item in listed["results"]] == [str(run.pk)]


def test_it_runs_the_flow_to_its_output_when_the_steps_are_executed(
    alice_client: APIClient, workflow: Workflow
) -> None:
    run = drive(started_run(alice_client, workflow, {"topic": "owls"}))
    assert run.status == "succeeded"
    assert run.output == "Topic: owls"
    assert run.finished_at is not None and run.started_at is not None
    assert list(run.steps.order_by("id").values_list("key", "status")) == [
        ("brief", "succeeded"),
        ("shout", "succeeded"),
        ("result", "succeeded"),
    ]


def test_it_refuses_to_run_an_invalid_current_version_naming_each_node(
    alice: User, alice_workspace: Workspace, alice_client: APIClient, invalid_graph: dict[str, Any]
) -> None:
    broken = make_workflow(alice, alice_workspace, invalid_graph, name="Draft")
    error = error_of(start(alice_client, broken, {}), 400)
    assert error["code"] == "invalid_graph"
    fields = error["fields"]
    assert {"nodes.shout", "edges.e9"} <= set(fields)
    assert all(isinstance(m, str) and m for messages in fields.values() for m in messages)
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("run_input", "kind"),
    [([1], "an array"), ("owls", "a string"), (3, "a number"), (True, "a boolean")],
)
def test_it_refuses_a_run_input_that_is_not_an_object(
    alice_client: APIClient, workflow: Workflow, run_input: Any, kind: str
) -> None:
    error = error_of(start(alice_client, workflow, run_input), 400)
    assert error["code"] == "invalid_input"
    assert error["message"] == f"the run input must be a JSON object of fields, not {kind}"
    assert error["fields"] == {"input": ["must be a JSON object"]}
    assert not Run.objects.exists()


def test_it_refuses_to_run_a_workflow_without_a_saved_version(
    alice_workspace: Workspace, alice_client: APIClient
) -> None:
    empty = Workflow.objects.create(workspace=alice_workspace, name="Nothing yet")
    error = error_of(start(alice_client, empty, {}), 400)
    assert error["code"] == "not_runnable"
    assert "version" in error["message"]
    assert not Run.objects.exists()


# -- who may see what ------------------------------------------------------------------------------


def test_another_workspaces_workflow_and_runs_are_not_found(
    alice_client: APIClient, charlie_client: APIClient, workflow: Workflow
) -> None:
    assert error_of(start(charlie_client, workflow, {}), 404)["code"] == "not_found"
    run = started_run(alice_client, workflow, {"topic": "owls"})
    for url in (f"/api/runs/{run.pk}/", f"/api/runs/{run.pk}/events/"):
        assert error_of(charlie_client.get(url), 404)["code"] == "not_found"
    error_of(charlie_client.post(f"/api/runs/{run.pk}/cancel/"), 404)
    run.refresh_from_db()
    assert run.status == "running"  # charlie's cancel changed nothing
    assert charlie_client.get("/api/runs/").json()["count"] == 0
    assert charlie_client.get(f"/api/runs/?workflow={workflow.id}").json()["count"] == 0


def test_without_credentials_every_runs_endpoint_answers_401(
    anon_client: APIClient, alice_client: APIClient, workflow: Workflow
) -> None:
    run = started_run(alice_client, workflow, {"topic": "owls"})
    calls = [
        ("post", f"/api/workflows/{workflow.id}/runs/"),
        ("get", "/api/runs/"),
        ("get", f"/api/runs/{run.pk}/"),
        ("get", f"/api/runs/{run.pk}/events/"),
        ("post", f"/api/runs/{run.pk}/cancel/"),
    ]
    for method, url in calls:
        response = getattr(anon_client, method)(url, {}, format="json")
        assert error_of(response, 401)["code"] == "not_authenticated", url
    assert Run.objects.count() == 1
    run.refresh_from_db()
    assert run.status == "running"


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/not-a-uuid/",
        "/api/runs/123/",
        "/api/runs/00000000-0000-0000-0000-000000000000/",
        "/api/runs/not-a-uuid/events/",
        f"/api/runs/{uuid.uuid4()}/events/",
        "/api/runs/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/",
    ],
)
def test_a_malformed_or_unknown_run_id_is_not_found(alice_client: APIClient, path: str) -> None:
    error_of(alice_client.get(path), 404)


@pytest.mark.parametrize(
    "path", ["/api/runs/not-a-uuid/cancel/", f"/api/runs/{uuid.uuid4()}/cancel/"]
)
def test_cancelling_a_malformed_or_unknown_run_is_not_found(
    alice_client: APIClient, path: str
) -> None:
    error_of(alice_client.post(path), 404)


def test_the_list_filters_by_workflow_and_refuses_a_malformed_one(
    alice: User, alice_workspace: Workspace, alice_client: APIClient, workflow: Workflow
) -> None:
    other = make_workflow(alice, alice_workspace, worker_graph(), name="Other")
    first = started_run(alice_client, workflow, {"topic": "a"})
    second = started_run(alice_client, workflow, {"topic": "b"})
    started_run(alice_client, other, {"topic": "c"})
    listed = alice_client.get(f"/api/runs/?workflow={workflow.id}").json()
    assert [item["id"] for item in listed["results"]] == [str(second.pk), str(first.pk)]
    assert alice_client.get("/api/runs/").json()["count"] == 3
    error = error_of(alice_client.get("/api/runs/?workflow=nope"), 400)
    assert "workflow" in error["fields"]


# -- reading a run ---------------------------------------------------------------------------------


def test_it_shows_a_run_with_every_step_field_and_the_totals(
    alice_client: APIClient, worker_workflow: Workflow
) -> None:
    run = drive(started_run(alice_client, worker_workflow, {"topic": "owls"}))
    body = alice_client.get(f"/api/runs/{run.pk}/").json()
    assert body["status"] == "succeeded"
    assert body["input"] == {"topic": "owls"}
    assert body["started_at"] and body["finished_at"]
    assert [step["id"] for step in body["steps"]] == ["brief", "writer", "result"]
    for step in body["steps"]:
        assert set(step) == STEP_FIELDS
        assert step["status"] == "succeeded"
        assert step["attempt"] == 1
        assert step["error"] is None
        assert step["parent"] is None
        assert step["started_at"] and step["finished_at"]
        assert step["started_at"] <= step["finished_at"]
        assert step["duration_ms"] >= 0
    brief, writer, result = body["steps"]
    assert (brief["type"], writer["type"], result["type"]) == ("input", "worker", "output")
    assert brief["output"] == {"topic": "owls"}
    assert writer["input"] == {"topic": "owls"}
    assert "On owls" in writer["output"]
    assert writer["model"] == "local/echo"
    assert writer["tokens_in"] > 0 and writer["tokens_out"] > 0
    assert writer["cost"] == 0.0
    assert set(writer["by_model"]) == {"local/echo"}
    assert result["output"] == writer["output"] == body["output"]
    assert brief["model"] is None and brief["tokens_in"] == 0
    assert all(step["tool_calls"] == [] for step in body["steps"])  # a worker without tools
    assert all(step["retries"] == [] for step in body["steps"])  # nothing failed
    totals = body["totals"]
    assert totals["tokens_in"] == sum(step["tokens_in"] for step in body["steps"])
    assert totals["tokens_out"] == sum(step["tokens_out"] for step in body["steps"])
    assert totals["cost"] == 0.0
    assert totals["by_model"]["local/echo"]["tokens_in"] == writer["tokens_in"]


def test_the_events_endpoint_is_gap_free_and_reads_after_a_seq(
    alice_client: APIClient, worker_workflow: Workflow
) -> None:
    run = drive(started_run(alice_client, worker_workflow, {"topic": "owls"}))
    url = f"/api/runs/{run.pk}/events/"
    body = alice_client.get(url).json()
    events = body["events"]
    n = len(events)
    assert seqs(events) == list(range(1, n + 1))
    assert body["last_seq"] == n == run.last_seq
    assert body["more"] is False
    assert events[0]["type"] == "run.started"
    assert events[-1]["type"] == "run.succeeded"
    assert events[-1]["data"]["output"] == run.output
    assert {event["run"] for event in events} == {str(run.pk)}
    wire = {"seq", "type", "run", "step", "node", "status", "data", "ts"}
    assert all(set(event) == wire for event in events)
    assert [e["type"] for e in events if e["step"] == "writer"] == [
        "step.queued",
        "step.started",
        "step.succeeded",
    ]
    later = alice_client.get(f"{url}?after=3").json()
    assert seqs(later["events"]) == list(range(4, n + 1))
    assert later["events"] == events[3:]
    assert alice_client.get(f"{url}?after={n}").json()["events"] == []
    error = error_of(alice_client.get(f"{url}?after=abc"), 400)
    assert "after" in error["fields"]


# -- cancelling ------------------------------------------------------------------------------------


def test_it_cancels_a_run_once_and_its_unstarted_steps_with_it(
    alice_client: APIClient, research_workflow: Workflow
) -> None:
    run = started_run(alice_client, research_workflow, {"topic": "owls"})
    brief = run.steps.get(key="brief")
    execute_step(brief.pk)  # brief and (inline) plan run; research and critic wait in the queue
    assert dict(run.steps.values_list("key", "status")) == {
        "brief": "succeeded",
        "plan": "succeeded",
        "research": "queued",
        "critic": "queued",
    }
    response = alice_client.post(f"/api/runs/{run.pk}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None
    assert dict(run.steps.values_list("key", "status")) == {
        "brief": "succeeded",
        "plan": "succeeded",
        "research": "cancelled",
        "critic": "cancelled",
    }
    log = event_log(run)
    assert log[-1]["type"] == "run.cancelled"
    assert {(e["type"], e["step"]) for e in log[-3:-1]} == {
        ("step.cancelled", "research"),
        ("step.cancelled", "critic"),
    }

    error = error_of(alice_client.post(f"/api/runs/{run.pk}/cancel/"), 409)
    assert error["code"] == "conflict"
    assert "cancelled" in error["message"]
    assert Event.objects.filter(run=run).count() == len(log)


def test_a_finished_run_cannot_be_cancelled(alice_client: APIClient, workflow: Workflow) -> None:
    run = drive(started_run(alice_client, workflow, {"topic": "owls"}))
    error = error_of(alice_client.post(f"/api/runs/{run.pk}/cancel/"), 409)
    assert "succeeded" in error["message"]
    run.refresh_from_db()
    assert run.status == "succeeded"


# -- branches and failures -------------------------------------------------------------------------


def test_the_router_branch_not_taken_is_skipped(
    alice_client: APIClient, research_workflow: Workflow
) -> None:
    run = drive(started_run(alice_client, research_workflow, {"topic": "owls"}))
    assert run.status == "succeeded"
    steps = {step.key: step for step in run.steps.all()}
    assert steps["size"].branch == "long"
    assert steps["publish"].status == "succeeded"
    assert steps["too_short"].status == "skipped"
    assert steps["too_short"].attempt == 0 and steps["too_short"].finished_at is not None
    assert steps["publish"].output == steps["merge"].output
    # Two output nodes: the run's output is keyed by those that ran.
    assert run.output == {"publish": steps["publish"].output}
    log = event_log(run)
    assert [e["step"] for e in log if e["type"] == "step.skipped"] == ["too_short"]
    assert not [e for e in log if e["step"] == "too_short" and e["type"] != "step.skipped"]
    assert seqs(log) == list(range(1, len(log) + 1))


def test_the_router_takes_the_branch_its_expression_picks(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    graph = {
        "nodes": [
            node("brief", "input"),
            node("gate", "router", routes=[{"name": "yes", "when": "input.go"}], default="no"),
            node("went", "output", value="went {{ input.where }}"),
            node("stayed", "output", value="stayed"),
        ],
        "edges": [
            edge("brief", "gate"),
            edge("gate", "went", "yes"),
            edge("gate", "stayed", "no"),
        ],
    }
    flow = make_workflow(alice, alice_workspace, graph)
    went = drive(started_run(alice_client, flow, {"go": True, "where": "north"}))
    stayed = drive(started_run(alice_client, flow, {"go": False}))
    assert dict(went.steps.values_list("key", "status"))["stayed"] == "skipped"
    assert dict(stayed.steps.values_list("key", "status"))["went"] == "skipped"
    assert went.status == stayed.status == "succeeded"
    assert "went north" in json.dumps(went.output)
    assert "stayed" in json.dumps(stayed.output)


def test_a_failing_node_fails_the_run_with_an_error_naming_the_node(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    graph = chain(
        node("brief", "input"),
        node("parse", "transform", template="not json: {{ input.topic }}", parse_json=True),
        node("result", "output"),
    )
    flow = make_workflow(alice, alice_workspace, graph)
    run = drive(started_run(alice_client, flow, {"topic": "owls"}))
    assert run.status == "failed"
    assert run.error["node"] == "parse" and run.error["step"] == "parse"
    assert "'parse'" in run.error["message"] and "not JSON" in run.error["message"]
    parse = run.steps.get(key="parse")
    assert parse.status == "failed" and parse.attempt == 1
    assert parse.error["code"] == "template_error"
    assert not run.steps.filter(key="result").exists()  # nothing after the failure ran
    body = alice_client.get(f"/api/runs/{run.pk}/").json()
    assert body["status"] == "failed" and body["error"]["node"] == "parse"
    log = event_log(run)
    assert [e["type"] for e in log[-2:]] == ["step.failed", "run.failed"]
    assert log[-2]["data"]["handled"] is False


def test_input_that_does_not_match_the_input_fields_is_refused_before_the_run_starts(
    alice_client: APIClient, research_workflow: Workflow
) -> None:
    # it used to start and fail at the input node; a missing field is now named up front
    error = error_of(start(alice_client, research_workflow, {"subject": "owls"}), 400)
    assert error["code"] == "invalid_input"
    assert error["fields"] == {"input.topic": ["required: the run needs this field"]}
    assert not Run.objects.exists()


def test_the_error_handle_routes_a_failure(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    graph = {
        "nodes": [
            node("brief", "input"),
            node("ask", "worker", model="nowhere/model", instructions="{{ input.topic }}"),
            node("fallback", "transform", template="fell back: {{ nodes.ask.output.message }}"),
            node("result", "output"),
        ],
        "edges": [
            edge("brief", "ask"),
            edge("ask", "result"),
            edge("ask", "fallback", "error"),
            edge("fallback", "result"),
        ],
    }
    flow = make_workflow(alice, alice_workspace, graph)
    run = drive(started_run(alice_client, flow, {"topic": "owls"}))
    assert run.status == "succeeded", run.error
    steps = {step.key: step for step in run.steps.all()}
    assert steps["ask"].status == "failed"
    assert steps["ask"].branch == "error"
    assert steps["ask"].attempt == 1  # a configuration error is not retried
    assert "nowhere" in steps["ask"].error["message"]
    assert steps["fallback"].status == "succeeded"
    assert steps["fallback"].output.startswith("fell back: ")
    assert "nowhere" in steps["fallback"].output
    assert run.output == steps["fallback"].output
    failed = [e for e in event_log(run) if e["type"] == "step.failed"]
    assert [(e["step"], e["data"]["handled"]) for e in failed] == [("ask", True)]


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"input": ', "application/json", 400),
        ('{"input": NaN}', "application/json", 400),
        ("not json at all", "application/json", 400),
        ("\xff\xfe", "application/json", 400),
        ("[" * 100_000, "application/json", 400),
        ('["a", "list"]', "application/json", 400),
        ('"a string"', "application/json", 400),
        ('{"input": null}', "application/json", 400),
        ("input=hello", "application/x-www-form-urlencoded", 415),
        ("hello", "text/plain", 415),
    ],
    ids=["truncated", "nan", "text", "not-utf8", "deep", "list", "string", "null", "form", "plain"],
)
def test_bad_input_is_a_4xx_in_the_error_shape(
    alice_client: APIClient, workflow: Workflow, body: str, content_type: str, status: int
) -> None:
    response = alice_client.post(
        f"/api/workflows/{workflow.id}/runs/",
        body.encode("latin-1"),
        content_type=content_type,
    )
    error_of(response, status)
    assert not Run.objects.exists()


def test_a_body_over_the_limit_is_413(alice_client: APIClient, workflow: Workflow) -> None:
    padding = "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = alice_client.post(
        f"/api/workflows/{workflow.id}/runs/",
        json.dumps({"input": {"text": padding}}),
        content_type="application/json",
    )
    assert error_of(response, 413)["code"] == "request_too_large"
    assert not Run.objects.exists()


def test_any_json_object_is_accepted_as_input_and_kept_as_sent(
    alice_client: APIClient, workflow: Workflow
) -> None:
    # Other JSON values are refused (test_it_refuses_a_run_input_that_is_not_an_object).
    for value in ({"nested": {"list": [1, 2.5, None, "ü"]}}, {"text": "just text"}, {}):
        response = alice_client.post(
            f"/api/workflows/{workflow.id}/runs/", {"input": value}, format="json"
        )
        assert response.status_code == 201, response.content[:300]
        assert Run.objects.get(pk=response.json()["id"]).input == value


def test_a_step_id_that_does_not_exist_is_ignored_by_the_task() -> None:
    execute_step(987_654_321)  # a stale message for a deleted run: nothing to do, no error
    assert not Step.objects.exists()


def test_it_prices_a_run_with_its_workspaces_catalogue(
    alice: User, alice_workspace: Workspace
) -> None:
    from editor.catalogue import set_price

    # The offline model is free unless a workspace says otherwise.
    set_price(
        alice_workspace, "local/echo", input_price=1.0, output_price=2.0, context=None, user=alice
    )
    workflow = make_workflow(
        alice,
        alice_workspace,
        {
            "nodes": [
                node("brief", "input"),
                node("writer", "worker", model="local/echo", instructions="Say {{ input.x }}"),
                node("result", "output"),
            ],
            "edges": [edge("brief", "writer"), edge("writer", "result")],
        },
    )
    run = drive(runs.start_run(workflow, {"x": "hi"}, actor=alice, via="session"))
    writer = run.steps.get(key="writer")
    expected = (writer.tokens_in * 1.0 + writer.tokens_out * 2.0) / 1_000_000
    assert writer.cost == pytest.approx(expected) and writer.cost > 0
    assert run.cost == pytest.approx(expected)


def test_it_runs_a_long_chain_of_pure_steps_across_several_transactions(
    alice: User, alice_workspace: Workspace
) -> None:
    from orchestrator.execution import PURE_BATCH

    length = PURE_BATCH + 50  # longer than one batch: the worker must go on in a second one
    steps = [node("n0", "input")]
    steps.append(node("n1", "transform", template="{{ upstream.s }}+"))
    steps += [node(f"n{i}", "transform", template="{{ upstream }}+") for i in range(2, length - 1)]
    steps.append(node(f"n{length - 1}", "output"))
    workflow = make_workflow(alice, alice_workspace, chain(*steps))
    run = runs.start_run(workflow, {"s": "x"}, actor=alice, via="session")
    execute_step(run.steps.get(key="n0").pk)  # one task: the whole chain runs inline
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.output == "x" + "+" * (length - 2)
    assert run.steps.filter(status="succeeded").count() == length
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(run.events.values_list("type", flat=True))
    assert types.count("step.succeeded") == length
    assert types[-1] == "run.succeeded"
