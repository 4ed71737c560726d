"""Time travel on the run side: re-run from a step, edit a step's output and continue, retry on the
run's own or the current version, the preview, and every refusal. Steps are executed by the real
task body in this process (``drive``); the stack tests run the same on Celery workers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor import operations as editor_operations
from editor.models import AuditEntry, Workflow, Workspace
from orchestrator import approvals
from orchestrator.models import Approval, Run, Step
from runtime.event_log import parse_events, recorded_run
from runtime.executor import InProcessExecutor
from runtime.plan import template_reads
from runtime.reuse import ReusePlan, downstream
from runtime.validation import compile_graph
from tests.orchestrator.conftest import drive, make_workflow, research_graph
from tests.runtime.test_reuse import TALK

pytestmark = pytest.mark.django_db

TOPIC = {"topic": "owls and the night"}


def started(client: APIClient, workflow: Workflow) -> Run:
    response = client.post(f"/api/workflows/{workflow.id}/runs/", {"input": TOPIC}, format="json")
    assert response.status_code == 201, response.content
    return drive(response.json()["id"])


def rerun(client: APIClient, run: Run | str, step: str | None = None, **body: Any) -> Any:
    """Retry the run (no step), or re-run it from ``step`` (with ``output``: edited)."""
    run_id = run.pk if isinstance(run, Run) else run
    url = f"/api/runs/{run_id}/" + (f"steps/{step}/rerun/" if step else "rerun/")
    return client.post(url, body, format="json")


def rerun_and_drive(client: APIClient, run: Run, **body: Any) -> Run:
    response = rerun(client, run, **body)
    assert response.status_code == 201, response.content
    return drive(response.json()["id"])


def steps_of(run: Run) -> dict[str, Step]:
    return {step.key: step for step in Step.objects.filter(run=run, parent__isnull=True)}


@pytest.fixture
def research(alice: User, alice_workspace: Workspace) -> Workflow:
    return make_workflow(alice, alice_workspace, research_graph(), name="Research")


def test_rerun_from_a_middle_step_reuses_what_is_upstream_and_executes_the_rest(
    alice_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    assert source.status == "succeeded"
    new = rerun_and_drive(alice_client, source, step="merge")
    assert new.status == "succeeded"
    assert new.output == source.output
    steps = steps_of(new)
    for key in ("brief", "plan", "research", "critic"):
        assert steps[key].status == "reused", key
        link = steps[key].reused_from
        assert (link["kind"], link["run"], link["step"]) == ("recorded", str(source.pk), key)
        assert steps[key].output == steps_of(source)[key].output
        assert steps[key].cost == 0 and steps[key].attempt == 0
    for key in ("merge", "size", "publish"):
        assert steps[key].status == "succeeded", key
        assert steps[key].attempt == 1
    assert steps["too_short"].status == "skipped"
    assert (new.source_run_id, new.source_step, new.reused_steps) == (source.pk, "merge", 4)
    # Linked both ways, and the new run says where it came from.
    detail = alice_client.get(f"/api/runs/{source.pk}/").json()
    assert detail["reruns"] == [
        {"id": str(new.pk), "status": "succeeded", "step": "merge", "mode": "from"}
    ]
    mine = alice_client.get(f"/api/runs/{new.pk}/").json()
    assert mine["source"] == {"run": str(source.pk), "step": "merge", "mode": "from"}
    assert mine["totals"]["reused"] == 4
    by_key = {step["id"]: step for step in mine["steps"]}
    assert by_key["plan"]["reused_from"]["step"] == "plan"
    started_event = new.events.get(seq=1)
    assert started_event.data["source"] == {"run": str(source.pk), "step": "merge", "mode": "from"}
    assert new.events.filter(type="step.reused").count() == 4
    assert AuditEntry.objects.filter(action="run.rerun", target_id=str(new.pk)).exists()


def test_edit_and_continue_feeds_the_edited_output_to_what_follows(
    alice_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    new = rerun_and_drive(alice_client, source, step="critic", output="No risks at all.")
    steps = steps_of(new)
    assert steps["critic"].status == "reused"
    assert steps["critic"].output == "No risks at all."
    assert steps["critic"].reused_from["kind"] == "edited"
    # research is not after critic: reused; merge reads the edited output and executes.
    assert steps["research"].status == "reused"
    assert steps["merge"].status == "succeeded"
    assert "Risks: No risks at all." in steps["merge"].output
    assert new.status == "succeeded"


def test_retry_on_the_current_version_reuses_unchanged_nodes_and_reruns_a_changed_one(
    alice: User, alice_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    graph = copy.deepcopy(research.current_version.graph)
    for node in graph["nodes"]:
        if node["id"] == "critic":
            node["config"]["instructions"] = "Name one risk of: {{ nodes.plan.output }}"
        if node["id"] == "research":
            node["label"] = "Fact finder"  # a new label is not a change of settings
            node["position"] = {"x": 999, "y": 5}
    editor_operations.save_workflow(research, user=alice, graph=graph)
    new = rerun_and_drive(alice_client, source, version="current")
    assert new.version.number == 2
    steps = steps_of(new)
    assert {k for k, s in steps.items() if s.status == "reused"} == {"brief", "plan", "research"}
    assert steps["critic"].status == "succeeded"
    assert "Name one risk" in steps["critic"].output
    assert steps["merge"].status == "succeeded"  # downstream of a changed node
    # On the run's own version nothing changed: everything is reused, nothing executes.
    same = rerun_and_drive(alice_client, source)
    assert {s.status for s in steps_of(same).values()} == {"reused", "skipped"}
    assert same.status == "succeeded" and same.output == source.output


def test_retry_of_a_failed_run_goes_on_from_the_failed_step(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = research_graph()
    for node in graph["nodes"]:
        if node["id"] == "merge":  # a worker on a vendor with no key in this workspace: fails
            node.update(type="worker", config={"model": "openai/gpt-4o-mini", "role": "Merger"})
    flow = make_workflow(alice, alice_workspace, graph, name="Broken")
    source = started(alice_client, flow)
    assert source.status == "failed"
    # Re-running on the same version fails the same way, having executed only merge.
    again = rerun_and_drive(alice_client, source)
    assert again.status == "failed"
    assert {k for k, s in steps_of(again).items() if s.status != "reused"} >= {"merge"}
    assert steps_of(again)["research"].status == "reused"
    fixed = research_graph()
    editor_operations.save_workflow(flow, user=alice, graph=fixed)
    retried = rerun_and_drive(alice_client, source, version="current")
    assert retried.status == "succeeded"
    steps = steps_of(retried)
    assert [k for k in ("brief", "plan", "research", "critic") if steps[k].status == "reused"] == [
        "brief",
        "plan",
        "research",
        "critic",
    ]
    assert steps["merge"].status == "succeeded"


def test_reruns_of_reruns_reuse_through_the_chain(
    alice_client: APIClient, research: Workflow
) -> None:
    first = started(alice_client, research)
    second = rerun_and_drive(alice_client, first, step="size")
    third = rerun_and_drive(alice_client, second, step="publish")
    steps = steps_of(third)
    assert steps["plan"].status == "reused"
    assert steps["plan"].reused_from["run"] == str(second.pk)
    assert steps["size"].status == "reused"  # it executed in the second run
    assert steps["publish"].status == "succeeded"
    assert third.output == first.output


def test_preview_counts_what_would_execute_and_be_reused(
    alice_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    response = alice_client.post(f"/api/runs/{source.pk}/steps/merge/rerun/preview/", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    verdicts = {entry["node"]: entry["verdict"] for entry in body["nodes"]}
    assert verdicts == {
        "brief": "reuse",
        "plan": "reuse",
        "research": "reuse",
        "critic": "reuse",
        "merge": "execute",
        "size": "execute",
        "publish": "execute",
        "too_short": "execute",
    }
    assert (body["execute"], body["reuse"]) == (4, 4)
    assert body["not_estimated"] == ["too_short"]  # skipped in the source: no cost to go by
    assert not Run.objects.exclude(pk=source.pk).exists()  # a preview starts nothing


@pytest.mark.parametrize(
    ("step", "body", "status", "words"),
    [
        ("nope", {}, 404, "has no step 'nope'"),
        ("too_short", {}, 409, "was skipped"),
        ("too_short", {"output": "x"}, 409, "was skipped"),
        ("plan", {"version": "latest"}, 400, "version"),
        (None, {"version": 2}, 400, "version"),
        ("plan", {"output": {"x": 1}, "version": None}, 400, "version"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(
    alice_client: APIClient,
    research: Workflow,
    step: str | None,
    body: dict[str, Any],
    status: int,
    words: str,
) -> None:
    source = started(alice_client, research)
    response = rerun(alice_client, source, step, **body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert words in error["message"] or words in str(error.get("fields"))
    assert Run.objects.count() == 1


def test_an_unfinished_step_or_a_task_of_a_task_is_refused(
    alice: User, alice_client: APIClient, research: Workflow
) -> None:
    response = alice_client.post(
        f"/api/workflows/{research.id}/runs/", {"input": TOPIC}, format="json"
    )
    queued = Run.objects.get(pk=response.json()["id"])  # not driven: its first step is queued
    refused = rerun(alice_client, queued, "brief")
    assert refused.status_code == 409
    assert "has not finished (it is queued)" in refused.json()["error"]["message"]
    done = drive(queued)
    task = Step.objects.create(
        run=done,
        key="plan.research.1",
        node_id="research",
        node_type="worker",
        parent=Step.objects.get(run=done, key="plan"),
        status="succeeded",
    )
    Step.objects.create(
        run=done,
        key="plan.research.1.critic.1",
        node_id="critic",
        node_type="worker",
        parent=task,
        status="succeeded",
    )
    nested = rerun(alice_client, done, "plan.research.1.critic.1")
    assert nested.status_code == 409
    assert "re-run from 'plan.research.1' or from" in nested.json()["error"]["message"]


def test_a_node_gone_from_the_current_version_is_refused(
    alice: User, alice_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    graph = copy.deepcopy(research.current_version.graph)
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "publish"]
    graph["edges"] = [e for e in graph["edges"] if e["target"] != "publish"]
    graph["nodes"].append({"id": "publish2", "type": "output", "config": {}})
    graph["edges"].append(
        {"id": "s-p2", "source": "size", "target": "publish2", "source_handle": "long"}
    )
    editor_operations.save_workflow(research, user=alice, graph=graph)
    response = rerun(alice_client, source, step="publish", version="current")
    assert response.status_code == 409
    assert "no longer exists in version 2" in response.json()["error"]["message"]


def test_an_edited_output_must_match_the_nodes_output_schema(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = research_graph()
    for node in graph["nodes"]:
        if node["id"] == "critic":
            node["config"]["output_format"] = "json"
            node["config"]["output_schema"] = {
                "type": "object",
                "properties": {"risks": {"type": "array", "items": {"type": "string"}}},
                "required": ["risks"],
            }
    flow = make_workflow(alice, alice_workspace, graph, name="Schema")
    source = started(alice_client, flow)
    assert source.status == "succeeded", source.error
    bad = rerun(alice_client, source, step="critic", output={"risks": "just one"})
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "invalid_output"
    assert "risks" in error["message"]
    good = rerun(alice_client, source, step="critic", output={"risks": ["owls bite"]})
    assert good.status_code == 201


def test_runs_of_other_workspaces_cannot_be_rerun(
    alice_client: APIClient, charlie_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    assert rerun(charlie_client, source, step="merge").status_code == 404
    preview = charlie_client.post(f"/api/runs/{source.pk}/rerun/preview/", {}, format="json")
    assert preview.status_code == 404
    preview = charlie_client.post(f"/api/runs/{source.pk}/steps/plan/rerun/preview/", format="json")
    assert preview.status_code == 404
    assert Run.objects.count() == 1


def test_two_runs_compare_node_by_node(alice_client: APIClient, research: Workflow) -> None:
    source = started(alice_client, research)
    edited = rerun_and_drive(alice_client, source, step="critic", output="No risks at all.")
    response = alice_client.get(f"/api/runs/compare/?a={source.pk}&b={edited.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["a"]["id"], body["b"]["id"]) == (str(source.pk), str(edited.pk))
    nodes = {entry["node"]: entry for entry in body["nodes"]}
    assert list(nodes) == [
        "brief",
        "plan",
        "research",
        "critic",
        "merge",
        "size",
        "too_short",
        "publish",
    ]
    assert nodes["plan"]["same_output"] is True
    assert nodes["plan"]["b"]["status"] == "reused" and nodes["plan"]["b"]["cost"] == 0
    assert nodes["critic"]["same_output"] is False
    assert nodes["critic"]["b"]["output"] == "No risks at all."
    assert {node for node, entry in nodes.items() if not entry["same_output"]} == {
        "critic",
        "merge",
        "size",
        "publish",
    }
    assert body["differences"] == 4


@pytest.mark.parametrize("query", ["", "?a=nope&b=nope", "?a={a}", "?a={a}&b={other}"])
def test_compare_needs_two_runs_i_can_see(
    alice_client: APIClient, research: Workflow, query: str
) -> None:
    source = started(alice_client, research)
    url = "/api/runs/compare/" + query.format(a=source.pk, other="0" * 32)
    response = alice_client.get(url)
    assert response.status_code == (404 if "other" in query else 400)


def test_pinned_nodes_are_not_executed_in_runs_that_ask_for_pins(
    alice_client: APIClient, research: Workflow
) -> None:
    pins = {"research": "Owls fly silently.", "gone": "a pin of a node not in the flow"}
    response = alice_client.put(
        f"/api/workflows/{research.id}/pins/", {"pins": pins}, format="json"
    )
    assert response.status_code == 200, response.content
    assert alice_client.get(f"/api/workflows/{research.id}/pins/").json() == {"pins": pins}
    url = f"/api/workflows/{research.id}/runs/"
    pinned = drive(
        alice_client.post(url, {"input": TOPIC, "use_pins": True}, format="json").json()["id"]
    )
    steps = steps_of(pinned)
    assert steps["research"].status == "reused"
    assert steps["research"].reused_from == {"kind": "pinned", "run": None, "step": None}
    assert steps["critic"].status == "succeeded"
    assert "Facts: Owls fly silently." in steps["merge"].output
    # A run that does not ask (the API's default, and every webhook) executes every node.
    plain = drive(alice_client.post(url, {"input": TOPIC}, format="json").json()["id"])
    assert steps_of(plain)["research"].status == "succeeded"
    assert alice_client.get(f"/api/runs/{pinned.pk}/").json()["source"] == {
        "run": None,
        "step": None,
        "mode": "pinned",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"pins": []}, 400),
        ({"pins": {str(n): n for n in range(2001)}}, 400),
        ({}, 400),
        ({"pins": {"n": "x" * 1_000_001}}, 400),
    ],
)
def test_bad_pins_are_refused_and_nothing_changes(
    alice_client: APIClient, research: Workflow, body: dict[str, Any], status: int
) -> None:
    response = alice_client.put(f"/api/workflows/{research.id}/pins/", body, format="json")
    assert response.status_code == status, response.content
    research.refresh_from_db()
    assert research.pins == {}


def test_pins_are_the_workspaces_editors_to_set(
    bob_client: APIClient, charlie_client: APIClient, research: Workflow
) -> None:
    url = f"/api/workflows/{research.id}/pins/"
    assert charlie_client.get(url).status_code == 404
    assert charlie_client.put(url, {"pins": {}}, format="json").status_code == 404


def test_a_gate_after_the_rerun_point_asks_again_and_one_before_keeps_its_decision(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = {
        "nodes": [
            {"id": "brief", "type": "input"},
            {"id": "first_gate", "type": "approval", "config": {"prompt": "Start?"}},
            {
                "id": "draft",
                "type": "transform",
                "config": {"template": "Draft on {{ input.topic }}"},
            },
            {"id": "last_gate", "type": "approval", "config": {"prompt": "Publish?"}},
            {"id": "done", "type": "output"},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "first_gate"},
            {"id": "e2", "source": "first_gate", "target": "draft", "source_handle": "approved"},
            {"id": "e3", "source": "draft", "target": "last_gate"},
            {"id": "e4", "source": "last_gate", "target": "done", "source_handle": "approved"},
        ],
    }
    flow = make_workflow(alice, alice_workspace, graph, name="Gates")
    source = started(alice_client, flow)
    for gate in ("first_gate", "last_gate"):
        assert source.status == "waiting"
        approval = Approval.objects.get(run=source, step__key=gate)
        approvals.decide_approval(approval.pk, alice, "approve")
        source = drive(source)
    assert source.status == "succeeded"

    new = rerun_and_drive(alice_client, source, step="draft")
    steps = steps_of(new)
    assert (steps["first_gate"].status, steps["first_gate"].branch) == ("reused", "approved")
    assert steps["first_gate"].output == steps_of(source)["first_gate"].output
    assert not Approval.objects.filter(run=new, step__key="first_gate").exists()
    assert steps["draft"].status == "succeeded"
    assert steps["last_gate"].status == "waiting"
    assert new.status == "waiting"
    asked = Approval.objects.get(run=new, step__key="last_gate")
    assert asked.status == "pending"


def conversation_graph() -> dict[str, Any]:
    """brief → talk (a round-robin conversation of writer and critic, 4 turns) → done."""
    return copy.deepcopy(TALK)


def all_steps(run: Run) -> dict[str, Step]:
    return {step.key: step for step in Step.objects.filter(run=run)}


def test_rerun_from_a_conversation_turn_picks_up_at_that_turn(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    flow = make_workflow(alice, alice_workspace, conversation_graph(), name="Talk")
    source = started(alice_client, flow)
    assert source.status == "succeeded", source.error
    turns = ["talk.writer.1", "talk.critic.2", "talk.writer.3", "talk.critic.4"]
    assert [k for k in all_steps(source) if k.startswith("talk.")] == turns

    new = rerun_and_drive(alice_client, source, step="talk.writer.3")
    assert new.status == "succeeded", new.error
    steps = all_steps(new)
    assert {key: steps[key].status for key in steps} == {
        "brief": "reused",
        "talk": "succeeded",
        "talk.writer.1": "reused",
        "talk.critic.2": "reused",
        "talk.writer.3": "succeeded",  # executed again, with the input it had
        "talk.critic.4": "succeeded",  # the conversation went on after it
        "done": "succeeded",
    }
    old = all_steps(source)
    assert steps["talk.writer.3"].input == old["talk.writer.3"].input
    assert steps["talk.writer.1"].output == old["talk.writer.1"].output
    assert steps["talk.writer.1"].parent_id == steps["talk"].pk
    # The conversation step picked up where turn 3 was handed out (its round 2): it ran only
    # after turn 3 (round 3: hand out turn 4) and after turn 4 (round 4: finish).
    assert steps["talk"].round == 4
    started_rounds = new.events.filter(type="step.started", step_key="talk")
    assert [e.data["round"] for e in started_rounds.order_by("seq")] == [3, 4]
    delegated = new.events.filter(type="step.delegated", step_key="talk").order_by("seq")
    assert delegated[0].data["resumed_at"] == {"run": str(source.pk), "task": "talk.writer.3"}
    assert new.output == source.output


def test_editing_a_turn_continues_the_conversation_from_the_edited_text(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    flow = make_workflow(alice, alice_workspace, conversation_graph(), name="Talk")
    source = started(alice_client, flow)
    new = rerun_and_drive(alice_client, source, step="talk.critic.2", output="Cut it to one line.")
    assert new.status == "succeeded", new.error
    steps = all_steps(new)
    assert steps["talk.critic.2"].status == "reused"
    assert steps["talk.critic.2"].reused_from["kind"] == "edited"
    assert steps["talk.critic.2"].output == "Cut it to one line."
    # Turn 3 heard the edited turn 2.
    assert steps["talk.writer.3"].status == "succeeded"
    assert "Cut it to one line." in str(steps["talk.writer.3"].input)
    # …and the conversation went on from there (the local model's placeholder answers no longer
    # echo whole prompts, so the edit shows in what followed, not verbatim in the end)
    assert new.output != source.output


def test_a_task_recorded_without_its_steps_state_is_refused_clearly(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    flow = make_workflow(alice, alice_workspace, conversation_graph(), name="Talk")
    source = started(alice_client, flow)
    for event in source.events.filter(type="step.delegated"):  # as runs recorded before it
        event.data.pop("state")
        event.save()
    response = rerun(alice_client, source, "talk.writer.3")
    assert response.status_code == 409
    assert "did not record the state" in response.json()["error"]["message"]


def test_a_server_runs_export_reruns_from_a_turn_in_process_as_on_the_server(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = conversation_graph()
    flow = make_workflow(alice, alice_workspace, graph, name="Talk")
    source = started(alice_client, flow)
    on_server = rerun_and_drive(alice_client, source, step="talk.writer.3")

    page = alice_client.get(f"/api/runs/{source.pk}/events/").json()
    recorded = recorded_run(parse_events(json.dumps(page)))
    plan = compile_graph(copy.deepcopy(graph))
    reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
    reuse = ReusePlan(
        source_run=str(source.pk),
        recorded=recorded.steps,
        forced=frozenset(downstream(plan, "talk", reads)),
        resume={"talk": recorded.resume_point("talk.writer.3")},
    )
    in_process = InProcessExecutor().run_sync(plan, recorded.input, reuse=reuse)

    # Same steps with the same outcomes; the reused ones and the task re-run from with the
    # same values. (Not what follows it: the offline echo model prints a task's input dict,
    # whose key order PostgreSQL's jsonb does not keep, so its text differs by executor.)
    server = {s.key: s for s in Step.objects.filter(run=on_server)}
    assert {k: s.status for k, s in in_process.steps.items()} == {
        k: s.status for k, s in server.items()
    }
    for key, step in in_process.steps.items():
        if step.status == "reused" or key == "talk.writer.3":
            assert step.input == server[key].input, key
        if step.status == "reused":
            assert step.output == server[key].output, key
    assert in_process.totals.reused == on_server.reused_steps == 3


def test_a_step_named_in_a_retrys_body_is_refused_not_taken_for_a_retry(
    alice_client: APIClient, research: Workflow
) -> None:
    source = started(alice_client, research)
    for url in (f"/api/runs/{source.pk}/rerun/", f"/api/runs/{source.pk}/rerun/preview/"):
        response = alice_client.post(url, {"step": "draft", "version": "run"}, format="json")
        assert response.status_code == 400
        assert "steps/<step>/rerun/" in str(response.json()["error"]["fields"]["step"])
    assert Run.objects.count() == 1
