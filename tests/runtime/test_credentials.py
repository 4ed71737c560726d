"""LLM nodes using workspace credentials: which key a call sends, where it goes, and what fails.

Every call goes to the loopback vendor server through the real providers, so the key is checked
where it matters: in the Authorization (OpenAI) or x-api-key (Anthropic) header the vendor got.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.providers.local import LocalProvider
from runtime.providers.openai_compat import OpenAICompatibleProvider
from runtime.secrets import REDACTED, Secret, StaticSecrets
from runtime.services import Services
from tests.runtime.agent_support import agent
from tests.runtime.graphs import chain, input_node, output_node
from tests.support.vendor_server import Completion, HTTPError, JSONAnswer, VendorServer

PROD_KEY = "sk-prod-0000111122223333-aaaa"
SPARE_KEY = "sk-spare-4444555566667777-bbbb"
ENV_KEY = "sk-from-the-environment-9999"
ANTHROPIC_KEY = "sk-ant-0123456789abcdef-cccc"


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Credential base URLs are a user's choice, so providers made from them go through the
    # outbound guard; the loopback vendor is admitted the way an operator would admit one.
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")


def secret(name: str, kind: str, value: str, server: VendorServer, **config: Any) -> Secret:
    base = server.url if kind == "openai" else server.base
    return Secret(name=name, kind=kind, value=value, config={"base_url": base, **config})


MADE: list[Services] = []


@pytest.fixture(autouse=True)
async def close_providers() -> AsyncIterator[None]:
    # Providers own their clients; close them in the loop that opened them.
    yield
    while MADE:
        made = MADE.pop()
        await made.credential_providers.aclose()
        for provider in made.providers.values():
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()


def services(*secrets: Secret, env: VendorServer | None = None) -> Services:
    providers: dict[str, Any] = {"local": LocalProvider()}
    if env is not None:
        providers["openai"] = OpenAICompatibleProvider(base_url=env.url, api_key=ENV_KEY)
    made = Services(providers=providers, secrets=StaticSecrets(secrets))
    MADE.append(made)
    return made


def one(node_type: str = "worker", **config: Any) -> dict[str, Any]:
    settings = {"model": "openai/gpt-test", "stream": False, "retry": {"max_attempts": 1}}
    node = agent("w", **{**settings, **config})
    node["type"] = node_type
    return chain(input_node("in"), node, output_node("out"))


async def run(graph: dict[str, Any], services: Services, sink: ListSink | None = None) -> Any:
    executor = InProcessExecutor(services=services, sink=sink or ListSink())
    return await executor.run(graph, "Hello")


def auth(server: VendorServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


async def test_a_named_credential_sends_its_key_to_its_base_url(
    vendor_server: VendorServer,
) -> None:
    store = services(
        secret("prod", "openai", PROD_KEY, vendor_server),
        secret("spare", "openai", SPARE_KEY, vendor_server),
    )
    result = await run(one(credential="spare"), store)
    assert result.status == "succeeded", result.error
    assert auth(vendor_server) == [f"Bearer {SPARE_KEY}"]


async def test_the_only_credential_of_the_kind_is_used_without_a_name(
    vendor_server: VendorServer,
) -> None:
    with VendorServer() as env_server:
        result = await run(
            one(), services(secret("prod", "openai", PROD_KEY, vendor_server), env=env_server)
        )
        assert result.status == "succeeded", result.error
        assert auth(vendor_server) == [f"Bearer {PROD_KEY}"]
        assert env_server.requests == []


async def test_with_several_and_no_name_the_environment_is_used(
    vendor_server: VendorServer,
) -> None:
    with VendorServer() as env_server:
        store = services(
            secret("prod", "openai", PROD_KEY, vendor_server),
            secret("spare", "openai", SPARE_KEY, vendor_server),
            env=env_server,
        )
        result = await run(one(), store)
        assert result.status == "succeeded", result.error
        assert vendor_server.requests == []
        assert auth(env_server) == [f"Bearer {ENV_KEY}"]


async def test_with_several_no_name_and_no_environment_the_error_says_to_name_one(
    vendor_server: VendorServer,
) -> None:
    store = services(
        secret("prod", "openai", PROD_KEY, vendor_server),
        secret("spare", "openai", SPARE_KEY, vendor_server),
    )
    result = await run(one(), store)
    assert result.status == "failed"
    assert "2 openai credentials" in result.steps["w"].error["message"]


async def test_an_anthropic_credential_drives_the_messages_api(
    vendor_server: VendorServer,
) -> None:
    store = services(secret("claude", "anthropic", ANTHROPIC_KEY, vendor_server))
    result = await run(one(model="anthropic/claude-test", credential="claude"), store)
    assert result.status == "succeeded", result.error
    (request,) = vendor_server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == ANTHROPIC_KEY


@pytest.mark.parametrize(
    ("credential", "model", "expected"),
    [
        ("missing", "openai/gpt-test", "no credential named 'missing'"),
        ("claude", "openai/gpt-test", "needs an openai credential"),
        ("hook", "openai/gpt-test", "is an http_bearer credential"),
    ],
)
async def test_a_missing_or_wrong_credential_fails_the_step_without_calling(
    vendor_server: VendorServer, credential: str, model: str, expected: str
) -> None:
    store = services(
        secret("claude", "anthropic", ANTHROPIC_KEY, vendor_server),
        Secret(name="hook", kind="http_bearer", value=SPARE_KEY),
    )
    # A fallback model that would work: the named credential must not be skipped over.
    result = await run(
        one(model=model, credential=credential, fallback_models=["local/echo"]), store
    )
    assert result.status == "failed"
    error = result.steps["w"].error
    assert error["code"] == "node_config_error"
    assert expected in error["message"]
    assert vendor_server.requests == []


async def test_a_local_model_needs_no_key_and_ignores_the_credential(
    vendor_server: VendorServer,
) -> None:
    store = services(secret("prod", "openai", PROD_KEY, vendor_server))
    result = await run(one(model="local/echo", credential="prod"), store)
    assert result.status == "succeeded", result.error
    assert vendor_server.requests == []


async def test_a_vendor_error_that_echoes_the_key_is_redacted_everywhere(
    vendor_server: VendorServer,
) -> None:
    vendor_server.push(HTTPError(401, message=f"Incorrect API key provided: {PROD_KEY}"))
    sink = ListSink()
    store = services(secret("prod", "openai", PROD_KEY, vendor_server))
    result = await run(one(credential="prod"), store, sink)
    assert result.status == "failed"
    assert auth(vendor_server) == [f"Bearer {PROD_KEY}"]  # the key was really sent
    error = result.steps["w"].error
    assert error["code"] == "provider_auth"
    assert REDACTED in error["message"]
    everything = json.dumps(
        [[e.type, e.data] for e in sink.events] + [result.error, error], default=str
    )
    assert PROD_KEY not in everything


async def test_manager_and_classifier_take_a_credential_too(vendor_server: VendorServer) -> None:
    store = services(
        secret("prod", "openai", PROD_KEY, vendor_server),
        secret("spare", "openai", SPARE_KEY, vendor_server),
    )
    vendor_server.push(JSONAnswer({"category": "yes"}))
    classifier = one(
        "classifier",
        credential="spare",
        categories=[{"name": "yes"}, {"name": "no"}],
        instructions="{{ upstream }}",
    )
    classifier["nodes"][1]["config"].pop("stream")
    classifier["edges"][1]["source_handle"] = "yes"
    result = await run(classifier, store)
    assert result.status == "succeeded", result.error
    assert auth(vendor_server) == [f"Bearer {SPARE_KEY}"]

    vendor_server.reset()
    vendor_server.push(JSONAnswer({"done": True, "subtasks": [], "final_answer": "All done."}))
    manager = one("manager", credential="prod")
    manager["nodes"][1]["config"].pop("stream")
    helper = agent("helper")
    manager["nodes"].append(helper)
    manager["edges"].append({"id": "d", "source": "w", "target": "helper", "kind": "delegate"})
    result = await run(manager, store)
    assert result.status == "succeeded", result.error
    assert auth(vendor_server) == [f"Bearer {PROD_KEY}"]


async def test_providers_are_made_once_per_key_and_shared_by_copies(
    vendor_server: VendorServer,
) -> None:
    import dataclasses

    vendor_server.push(Completion("one"), Completion("two"))
    store = services(secret("prod", "openai", PROD_KEY, vendor_server))
    copy = dataclasses.replace(store)  # what the app does per step
    first = store.resolve_call("openai/x", "prod").provider
    assert copy.resolve_call("openai/y", "prod").provider is first
    assert len(store.credential_providers) == 1
    # A replaced key is another provider.
    rotated = dataclasses.replace(
        store, secrets=StaticSecrets([secret("prod", "openai", SPARE_KEY, vendor_server)])
    )
    assert rotated.resolve_call("openai/x", "prod").provider is not first
    assert len(store.credential_providers) == 2
    assert PROD_KEY not in repr(first) and PROD_KEY not in repr(store)


def test_the_settings_schema_marks_the_credential_field() -> None:
    from runtime.nodes.registry import default_registry

    for node_type in ("worker", "manager", "classifier"):
        schema = default_registry.get(node_type).config_model.model_json_schema()
        field = schema["properties"]["credential"]
        assert field["format"] == "credential"
        assert field["type"] == "string"


async def test_a_credential_base_url_goes_through_the_outbound_guard(
    vendor_server: VendorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A base URL is a user's choice: without the operator's allowlist, loopback is refused.
    for name in ("OUTBOUND_ALLOWLIST", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = await run(
        one(credential="prod"), services(secret("prod", "openai", PROD_KEY, vendor_server))
    )
    assert result.status == "failed"
    assert "OUTBOUND_ALLOWLIST" in result.steps["w"].error["message"]
    assert vendor_server.requests == []
