"""The ``manager`` node: plans as structured output, delegates, reads results, decides again.

The manager's model is the loopback vendor server behind the real OpenAI-compatible provider;
its workers run on the offline ``local`` provider, so the vendor's script is the manager's
conversation alone (workers run concurrently, and their requests would race for the queue).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from runtime.errors import GraphValidationError
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.base import Complete, Delegate, StepContext, TaskResult
from runtime.nodes.manager import ManagerConfig, ManagerNode, plan_schema
from runtime.plan import describe_delegates
from runtime.services import Services
from runtime.validation import compile_graph, validate_graph
from tests.runtime.agent_support import (
    body_text,
    events_of,
    last_user,
    messages_of,
    services_for,
    system_of,
)
from tests.runtime.graphs import edge, graph, input_node, node, output_node, worker
from tests.support.vendor_server import Completion, JSONAnswer, VendorServer


@pytest.fixture
def services(vendor_server: VendorServer, client: httpx.AsyncClient) -> Services:
    return services_for(client, {"openai": vendor_server.url})


def team_graph(**manager: Any) -> dict[str, Any]:
    config = {"model": "openai/boss", "instructions": "Brief on {{ input.topic }}", **manager}
    return graph(
        [
            input_node("in"),
            {**node("lead", "manager", **config), "label": "Editor"},
            {
                **worker("res", role="Researcher", goal="Finds facts with sources", stream=False),
                "label": "Researcher",
            },
            {**worker("crit", role="Critic", stream=False), "label": "Critic"},
            output_node("out"),
        ],
        [
            edge("e1", "in", "lead"),
            edge("e2", "lead", "res", kind="delegate"),
            edge("e3", "lead", "crit", kind="delegate"),
            edge("e4", "lead", "out"),
        ],
    )


def plan(*subtasks: tuple[str, str], done: bool = False, final: str | None = None) -> JSONAnswer:
    value: dict[str, Any] = {
        "subtasks": [{"worker": w, "task": t} for w, t in subtasks],
        "done": done,
    }
    if final is not None:
        value["final_answer"] = final
    return JSONAnswer(value, prompt_tokens=40, completion_tokens=10)


# -- a whole run ----------------------------------------------------------------------------------


async def test_it_plans_two_subtasks_reads_both_results_and_answers_done(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        plan(("res", "Find three facts about tides"), ("crit", "List the risks of tidal power")),
        plan(done=True, final="Tides: facts and risks, merged."),
    )
    sink = ListSink()
    result = await InProcessExecutor(services=services, sink=sink).run(
        team_graph(), {"topic": "tides"}
    )

    assert result.status == "succeeded", result.error
    assert result.output == "Tides: facts and risks, merged."
    first, second = vendor_server.requests
    # Round 1: the plan is asked for as structured output, the menu names each delegate.
    assert first.body["response_format"]["type"] == "json_schema"
    assert '"enum": ["res", "crit"]' in body_text(first)
    system = system_of(first)
    assert "- res: Researcher; Researcher; Finds facts with sources" in system
    assert "- crit: Critic; Critic" in system
    assert last_user(first).startswith("Brief on tides")

    # Both tasks ran as child steps of the manager, with the tasks as their input.
    res, crit = result.steps["lead.res.1"], result.steps["lead.crit.2"]
    assert (res.parent, res.status, res.input) == (
        "lead",
        "succeeded",
        "Find three facts about tides",
    )
    assert (crit.parent, crit.status) == ("lead", "succeeded")
    delegated = events_of(sink, "step.delegated", "lead")
    assert [e.data["tasks"] for e in delegated] == [
        [{"step": "lead.res.1", "node": "res"}, {"step": "lead.crit.2", "node": "crit"}]
    ]

    # Round 2: the results come back in a user message that starts exactly so.
    results = last_user(second)
    assert results.startswith("Results of round 1:")
    assert "## res (task: Find three facts about tides)" in results
    assert res.output in results and crit.output in results
    # The conversation so far is replayed: the round-1 plan as the assistant's turn.
    roles = [m["role"] for m in messages_of(second)]
    assert roles == ["system", "user", "assistant", "user"]
    assert json.loads(messages_of(second)[2]["content"])["subtasks"][0]["worker"] == "res"

    lead = result.steps["lead"]
    assert (lead.model, lead.tokens_in, lead.tokens_out) == ("openai/boss", 80, 20)
    assert result.totals.tokens_in == 80 + res.tokens_in + crit.tokens_in


async def test_it_marks_failed_results_and_synthesises_after_the_last_round(
    vendor_server: VendorServer, services: Services
) -> None:
    raw = team_graph(max_rounds=1)
    # The critic's model has no provider: its task fails, and the manager is told so.
    raw["nodes"][3]["config"]["model"] = "nowhere/model"
    vendor_server.push(
        plan(("res", "facts"), ("crit", "risks")),
        Completion("Final: facts only, the critic failed.", prompt_tokens=30, completion_tokens=9),
    )
    result = await InProcessExecutor(services=services).run(raw, {"topic": "tides"})

    assert result.status == "succeeded", result.error
    assert result.output == "Final: facts only, the critic failed."
    assert result.steps["lead.crit.2"].status == "failed"
    synthesis = vendor_server.requests[1]
    # One plain call: no structured output asked for, the results and the request to finish.
    assert "response_format" not in synthesis.body
    text = last_user(synthesis)
    assert text.startswith("Results of round 1:")
    assert "## crit [FAILED] (task: risks)" in text
    assert "no provider 'nowhere'" in text
    assert text.rstrip().endswith("Write the final answer to the task now, from the results above.")


async def test_it_reasks_once_for_a_plan_naming_an_unknown_worker(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        plan(("ghost", "boo")),
        plan(("res", "facts")),
        plan(done=True, final="done"),
    )
    result = await InProcessExecutor(services=services).run(team_graph(), {"topic": "x"})

    assert result.status == "succeeded", result.error
    assert result.output == "done"
    repair = last_user(vendor_server.requests[1])
    assert repair.startswith("Your answer is not valid: 'ghost' is not one of ['res', 'crit']")
    assert "(at $.subtasks[0].worker)" in repair
    assert [s for s in result.steps if s.startswith("lead.")] == ["lead.res.1"]


async def test_it_fails_when_the_plan_is_still_invalid_after_the_reask(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(plan(("ghost", "boo")), Completion("I'd rather not plan."))
    result = await InProcessExecutor(services=services).run(team_graph(), {"topic": "x"})

    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "invalid_output"
    assert result.error["node"] == "lead"
    assert "plan of manager 'lead' is not valid after 1 repair(s)" in result.error["message"]
    assert len(vendor_server.requests) == 2
    assert not [s for s in result.steps.values() if s.parent]


async def test_it_answers_json_when_it_has_an_output_schema(
    vendor_server: VendorServer, services: Services
) -> None:
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "risks": {"type": "integer"}},
        "required": ["summary", "risks"],
    }
    vendor_server.push(
        plan(("res", "facts")),
        plan(done=True, final="not JSON, so the answer is synthesised"),
        JSONAnswer({"summary": "tides", "risks": 2}),
    )
    result = await InProcessExecutor(services=services).run(
        team_graph(output_schema=schema), {"topic": "tides"}
    )
    assert result.status == "succeeded", result.error
    assert result.output == {"summary": "tides", "risks": 2}
    final = vendor_server.requests[2]
    assert final.body["response_format"]["json_schema"]["schema"] == schema


# -- rounds as the Celery side runs them: state through JSON between runs -------------------------


async def test_each_round_state_survives_a_json_round_trip(services: Services) -> None:
    """The Celery side stores Delegate.state as JSON and re-runs the node with it."""
    plan_ = compile_graph(team_graph(model="local/echo"))
    planned = plan_.nodes["lead"]
    manager = planned.type
    assert isinstance(manager, ManagerNode)

    def context(round_: int, state: Any, resume: Any) -> StepContext:
        return StepContext(
            run_id="r",
            step_id="lead",
            node=planned.node,
            attempt=1,
            input={"topic": "tides"},
            scope={"input": {"topic": "tides"}, "nodes": {}, "upstream": {"topic": "tides"}},
            services=services,
            resume=resume,
            state=state,
            round=round_,
            delegates=plan_.delegates["lead"],
            delegate_info=describe_delegates(plan_, "lead"),
        )

    first = await manager.run(context(0, None, None), planned.config)
    assert isinstance(first, Delegate)
    # The offline provider plans one subtask per worker.
    assert [t.node_id for t in first.tasks] == ["res", "crit"]
    stored = json.loads(json.dumps(first.state))
    assert stored == first.state and stored["round"] == 1

    results = [
        TaskResult("res", "lead.res.1", "succeeded", output={"facts": [1, 2]}),
        TaskResult("crit", "lead.crit.2", "failed", error={"code": "x", "message": "boom"}),
    ]
    second = await manager.run(context(1, stored, results), planned.config)
    assert isinstance(second, Complete)
    # the local model's placeholder final answer: one line a delegate result (a JSON one by its
    # keys), not the results message over again
    assert "Final answer (placeholder)" in second.output
    assert "- res: answered JSON with facts" in second.output
    assert "- crit (failed): FAILED: boom" in second.output


def test_it_describes_each_delegate_for_the_menu() -> None:
    plan_ = compile_graph(team_graph())
    assert describe_delegates(plan_, "lead") == (
        {
            "id": "res",
            "type": "worker",
            "label": "Researcher",
            "role": "Researcher",
            "goal": "Finds facts with sources",
        },
        {"id": "crit", "type": "worker", "label": "Critic", "role": "Critic"},
    )
    assert describe_delegates(plan_, "res") == ()


def test_the_plan_schema_names_the_delegates() -> None:
    schema = plan_schema(["a", "b"], 3)
    items = schema["properties"]["subtasks"]["items"]
    assert items["properties"]["worker"] == {"enum": ["a", "b"]}
    assert schema["properties"]["subtasks"]["maxItems"] == 3
    assert schema["required"] == ["subtasks", "done"]


# -- hierarchy, validation, catalogue -------------------------------------------------------------


def hierarchy() -> dict[str, Any]:
    return graph(
        [
            input_node("in"),
            node("chief", "manager", model="local/echo", goal="Runs the whole report"),
            node("desk", "manager", model="local/echo", goal="Runs the research desk"),
            worker("res", role="Researcher", stream=False),
            worker("writer", role="Writer", stream=False),
            output_node("out"),
        ],
        [
            edge("e1", "in", "chief"),
            edge("e2", "chief", "desk", kind="delegate"),
            edge("e3", "chief", "writer", kind="delegate"),
            edge("e4", "desk", "res", kind="delegate"),
            edge("e5", "chief", "out"),
        ],
    )


async def test_managers_nest_into_a_hierarchy() -> None:
    assert validate_graph(hierarchy()) == []
    sink = ListSink()
    result = await InProcessExecutor(sink=sink).run(hierarchy(), {"topic": "tides"})

    assert result.status == "succeeded", result.error
    steps = result.steps
    assert steps["chief.desk.1"].parent == "chief"
    assert steps["chief.writer.2"].parent == "chief"
    # The desk manager delegated in turn: its worker is a grandchild of the chief.
    assert steps["chief.desk.1.res.1"].parent == "chief.desk.1"
    assert all(s.status == "succeeded" for s in steps.values())
    assert [e.step for e in events_of(sink, "step.delegated")] == ["chief", "chief.desk.1"]
    # The chief's (placeholder) answer is built from both of its delegates' results.
    assert "\n- desk: Final answer (placeholder)" in result.output
    assert "\n- writer was asked: " in result.output


def test_validation_accepts_delegate_edges_to_workers_and_managers_only() -> None:
    assert validate_graph(team_graph()) == []
    raw = hierarchy()
    raw["nodes"].append(node("t", "transform", template="x"))
    raw["edges"].append(edge("e9", "chief", "t", kind="delegate"))
    issues = validate_graph(raw)
    assert [(i.code, i.edge_id) for i in issues] == [("invalid_delegate", "e9")]
    assert "cannot take delegated tasks" in issues[0].message


async def test_a_manager_without_delegates_is_refused_before_it_runs() -> None:
    raw = graph(
        [input_node("in"), node("lead", "manager", model="local/echo"), output_node("out")],
        [edge("e1", "in", "lead"), edge("e2", "lead", "out")],
    )
    # Validation catches it (manager_without_workers), so no run starts at all.
    with pytest.raises(GraphValidationError) as refused:
        await InProcessExecutor().run(raw, {})
    assert [(i.code, i.node_id) for i in refused.value.issues] == [
        ("manager_without_workers", "lead")
    ]


def test_the_catalogue_describes_the_manager() -> None:
    entry = ManagerNode().describe()
    assert (entry["type"], entry["category"]) == ("manager", "ai")
    assert entry["can_delegate"] and entry["delegatable"]
    properties = entry["config_schema"]["properties"]
    assert {"model", "goal", "instructions", "max_rounds", "max_subtasks"} <= set(properties)
    assert properties["max_rounds"]["default"] == 3
    assert ManagerConfig().model == "strong"
