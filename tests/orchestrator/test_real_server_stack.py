"""The shipped examples on Celery against a real model server: llama-cpp-python's, serving Gemma 3
270M on loopback, with MODEL_FAST and MODEL_STRONG pointed at it in the worker's environment,
as an operator would set them (runtime/providers/local_llm.py; the ``local-llm`` extra).

The same flows as tests/runtime/test_real_server.py runs in process: every model call on the
server (the ``local/echo`` stand-in as the ``fast`` tier), bounded. Asserts on protocol and
structure: the run succeeds, every step did, every model call went to the server and counted
tokens, and JSON outputs meet their schemas. Skipped unless the extra is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from django.contrib.auth.models import User

from editor.models import Workflow, Workspace
from orchestrator.models import Run, Step
from runtime.providers.local_llm import INSTALL, MODEL_ALIAS, LocalLLMServer, missing
from tests.orchestrator.conftest import finished, make_workflow, start_run
from tests.runtime.graphs import load_example
from tests.runtime.test_examples import default_input
from tests.runtime.test_real_server import NAMES, model_failed, on_the_server
from tests.support.stack import CeleryWorker, Stack

pytestmark = [
    pytest.mark.stack,
    pytest.mark.real_llm,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(missing()),
        reason=f"llama-cpp-python's server and Gemma 3 270M are not installed: {INSTALL}",
    ),
]

MODEL = f"openai/{MODEL_ALIAS}"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer.start() as running:
        yield running


@pytest.fixture(scope="module")
def real_worker(stack: Stack, server: LocalLLMServer) -> Iterator[CeleryWorker]:
    """A Celery worker whose model calls go to the real server (and the only one running)."""
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "MODEL_FAST": MODEL,
        "MODEL_STRONG": MODEL,
        # As LOCAL_LLM=1 ./dev start sets it: the catalogue's built-in entry for the local model
        # (json_object, counted, prompted tools).
        "LOCAL_LLM_MODEL": MODEL,
    }
    with stack.worker(concurrency=2, env=env) as worker:
        yield worker


@pytest.fixture
def api(api: httpx.Client, real_worker: CeleryWorker) -> httpx.Client:
    return api


def on_the_server_beside(alice: User, workspace: Workspace, name: str) -> Workflow:
    """The example in the workspace with every model call on the server (on_the_server); the
    examples it names, as a sub-flow or as a workflow tool, imported beside it the same way."""
    graph = on_the_server(load_example(name))
    for item in graph["nodes"]:
        config = item.get("config") or {}
        if item["type"] == "subflow":
            config["workflow"] = str(on_the_server_beside(alice, workspace, config["workflow"]).id)
        if config.get("tools"):
            config["tools"] = [
                f"workflow:{on_the_server_beside(alice, workspace, tool.partition(':')[2]).id}"
                if tool.startswith("workflow:")
                else tool
                for tool in config["tools"]
            ]
    return make_workflow(alice, workspace, {"nodes": graph["nodes"], "edges": graph["edges"]})


def run_example(api: httpx.Client, alice: User, workspace: Workspace, name: str) -> Run:
    flow = on_the_server_beside(alice, workspace, name)
    run_id = start_run(api, flow, default_input(load_example(name)))
    # A ceiling, not a goal: a step may take up to its 600 s timeout, content-pipeline's four
    # steps run one after another, and the tiny model at times loops to max_tokens and is asked
    # again (bench/README.md); on 2 cores at load 13 that run outlasted 600 s.
    return finished(run_id, timeout=1800, what=f"the {name} run on the real server")


@pytest.mark.parametrize("name", NAMES)
def test_each_example_runs_on_celery_on_the_real_server(
    api: httpx.Client, alice: User, alice_workspace: Workspace, name: str
) -> None:
    # A run the model itself spoiled (model_failed) is tried again, at most 3 runs; any other
    # failure fails at once (as in the in-process test).
    for _ in range(3):
        run = run_example(api, alice, alice_workspace, name)
        steps = list(Step.objects.filter(run=run))
        errors = [s.error or {} for s in steps if s.status == "failed"]
        if run.status == "succeeded" and not errors:
            break
        for error in [*errors, *([run.error] if run.error else [])]:
            assert model_failed(error), (name, error)

    assert run.status == "succeeded", (name, run.error)
    assert {s.status for s in steps} <= {"succeeded", "skipped"}
    called = [s for s in steps if s.model]
    assert called and {s.model for s in called} == {MODEL}
    # Every call counted its prompt; an answer may be empty (the model may stop at once).
    assert all(s.tokens_in > 0 for s in called), [(s.key, s.tokens_in) for s in called]
    assert sum(s.tokens_out for s in called) > 0
    assert run.tokens_in == sum(s.tokens_in for s in steps)
    graph: dict[str, Any] = json.loads(json.dumps(load_example(name)))
    schemas = {
        n["id"]: n["config"]["output_schema"]
        for n in graph["nodes"]
        if (n.get("config") or {}).get("output_format") == "json"
    }
    for step in steps:
        if step.node_id in schemas and step.status == "succeeded":
            jsonschema.validate(step.output, schemas[step.node_id])
