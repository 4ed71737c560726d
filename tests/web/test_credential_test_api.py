"""POST /api/workspaces/<id>/credentials/<name>/test/: a credential's Test against the loopback
vendor server (a real HTTP server speaking OpenAI's and Anthropic's protocols, with their errors)
and against a port nothing listens on."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.catalogue import set_price
from editor.models import AuditEntry, Membership, Workspace
from tests.support.server_refusals import (
    LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
    OLLAMA_TOOLS_REFUSAL,
    STREAM_OPTIONS_REFUSAL,
    UNKNOWN_MODEL,
    calling_offered_tools,
    refusing_each,
)
from tests.support.vendor_server import (
    HTTPError,
    RecordedRequest,
    Scripted,
    Stream,
    VendorServer,
    unused_port_url,
)

VALUE = "sk-test-0123456789-distinctive-a1b2"


def add_credential(
    client: APIClient,
    workspace: Workspace,
    base_url: str,
    *,
    name: str = "local",
    kind: str = "openai",
    value: str = VALUE,
) -> None:
    response = client.post(
        f"/api/workspaces/{workspace.pk}/credentials/",
        {"name": name, "kind": kind, "value": value, "config": {"base_url": base_url}},
        format="json",
    )
    assert response.status_code == 201, response.content


def check(
    client: APIClient, workspace: Workspace, model: Any = "openai/small", name: str = "local"
) -> Any:
    return client.post(
        f"/api/workspaces/{workspace.pk}/credentials/{name}/test/", {"model": model}, format="json"
    )


def answer_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    assert VALUE not in response.content.decode()
    body: dict[str, Any] = response.json()
    return body


pytestmark = pytest.mark.usefixtures("loopback_allowed")


# -- what the server can do ---------------------------------------------------------------------


def test_it_tells_what_a_server_that_takes_everything_can_do(
    alice_client: APIClient, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    vendor_server.respond_with(calling_offered_tools())
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert found["ok"] is True and found["problem"] is None
    assert (found["provider"], found["model"], found["server"]) == (
        "openai",
        "openai/small",
        "127.0.0.1",
    )
    assert found["capabilities"] == {
        "structured_output": "json_schema",
        "structured_output_source": "detected",
        "stream_usage": "reported",
        "stream_usage_source": "detected",
        "tools": "native",
        "tools_source": "detected",
    }
    assert found["warnings"] == []
    # The key went to the server (and only there), for the server's name of the model.
    assert {r.headers["authorization"] for r in vendor_server.requests} == {f"Bearer {VALUE}"}
    assert {r.model for r in vendor_server.requests} == {"small"}
    entry = AuditEntry.objects.get(action="credential.tested")
    assert (entry.target_label, entry.detail) == (
        "local",
        {"model": "openai/small", "ok": True, "problem": None},
    )
    assert VALUE not in str(entry.detail)


def test_it_finds_what_a_llama_cpp_like_server_refuses(
    alice_client: APIClient, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    vendor_server.respond_with(
        refusing_each(
            {
                "json_schema": LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
                "stream_options": STREAM_OPTIONS_REFUSAL,
                "tools": OLLAMA_TOOLS_REFUSAL,
            }
        )
    )
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert found["ok"] is True
    caps = found["capabilities"]
    assert (caps["structured_output"], caps["stream_usage"], caps["tools"]) == (
        "json_object",
        "counted",
        "prompted",
    )
    assert {caps["structured_output_source"], caps["stream_usage_source"]} == {"detected"}
    assert caps["tools_source"] == "detected"


def test_a_server_that_takes_tools_but_never_calls_them_is_warned_of_with_the_fix(
    alice_client: APIClient, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    # The echo answers text whatever tools it is offered: a chat template that drops them.
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert found["ok"] is True
    caps = found["capabilities"]
    assert (caps["tools"], caps["tools_source"]) == ("prompted", "detected")
    [warning] = found["warnings"]
    assert "no tool call came back" in warning
    assert "set the model's tools in the model catalogue to prompted" in warning


def test_a_catalogue_setting_the_server_refuses_fails_naming_the_capability_and_the_fix(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    vendor_server: VendorServer,
) -> None:
    vendor_server.respond_with(refusing_each({"json_schema": LLAMA_CPP_PYTHON_SCHEMA_REFUSAL}))
    set_price(
        alice_workspace, "openai/small", 0, 0, None, user=alice, structured_output="json_schema"
    )
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert (found["ok"], found["problem"], found["capability"]) == (
        False,
        "capability_refused",
        "structured_output",
    )
    assert "cannot do JSON-schema output" in found["message"]
    assert (
        "switch the model's structured-output mode in the model catalogue to json_object or "
        "instructions" in found["message"]
    )
    assert found["capabilities"] is None
    assert len(vendor_server.requests) == 1  # the setting was not second-guessed


def test_catalogue_settings_that_fit_are_used_and_a_missing_usage_is_warned_of(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    vendor_server: VendorServer,
) -> None:
    def no_usage_in_streams(request: RecordedRequest) -> Scripted | None:
        return Stream(["ok"], include_usage=False) if request.body.get("stream") else None

    vendor_server.respond_with(no_usage_in_streams)
    set_price(
        alice_workspace,
        "openai/small",
        0,
        0,
        None,
        user=alice,
        structured_output="json_object",
        stream_usage="reported",
        tools="prompted",
    )
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert found["ok"] is True
    caps = found["capabilities"]
    assert (caps["structured_output"], caps["structured_output_source"]) == (
        "json_object",
        "catalogue",
    )
    assert (caps["tools"], caps["tools_source"]) == ("prompted", "catalogue")
    [warning] = found["warnings"]
    assert "sets streamed usage to reported" in warning
    assert "set the model's streamed usage to counted" in warning
    formats = [(r.body.get("response_format") or {}).get("type") for r in vendor_server.requests]
    assert formats == ["json_object", None, None]
    assert all("tools" not in r.body for r in vendor_server.requests)


@pytest.mark.parametrize(
    ("asked", "model", "sent"),
    [
        ("small", "openai/small", "small"),
        ("openai/small", "openai/small", "small"),
        ("meta-llama/Llama-3.1-8B", "openai/meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
        ("openai/openai/gpt-4o", "openai/openai/gpt-4o", "openai/gpt-4o"),
    ],
)
def test_the_model_is_the_catalogue_id_or_the_servers_own_name(
    alice_client: APIClient,
    alice_workspace: Workspace,
    vendor_server: VendorServer,
    asked: str,
    model: str,
    sent: str,
) -> None:
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace, asked))

    assert (found["ok"], found["model"]) == (True, model)
    assert {r.model for r in vendor_server.requests} == {sent}


def test_an_anthropic_key_is_tested_with_one_short_answer(
    alice_client: APIClient, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    add_credential(
        alice_client, alice_workspace, vendor_server.base, name="claude", kind="anthropic"
    )

    found = answer_of(
        check(alice_client, alice_workspace, "anthropic/claude-3-5-haiku-latest", "claude")
    )

    assert (found["ok"], found["provider"], found["capabilities"]) == (True, "anthropic", None)
    assert "answered with anthropic/claude-3-5-haiku-latest" in found["message"]
    [request] = vendor_server.requests
    assert request.path == "/v1/messages" and request.headers["x-api-key"] == VALUE
    assert request.body["model"] == "claude-3-5-haiku-latest"


# -- what went wrong -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "problem", "said"),
    [
        (
            HTTPError(401, f"Incorrect API key provided: {VALUE}."),
            "auth",
            "127.0.0.1 refused the key: check the credential's value",
        ),
        (UNKNOWN_MODEL, "model_unknown", "127.0.0.1 does not serve the model 'small'"),
        (HTTPError(500, "CUDA out of memory"), "server_error", "failed to answer (HTTP 500)"),
        (HTTPError(429, "You exceeded your current quota"), "rate_limited", "out of quota"),
        (HTTPError(400, "max_tokens must be at least 1"), "bad_request", "refused the request"),
    ],
)
def test_a_server_error_is_named_with_what_to_do(
    alice_client: APIClient,
    alice_workspace: Workspace,
    vendor_server: VendorServer,
    answer: HTTPError,
    problem: str,
    said: str,
) -> None:
    vendor_server.respond_with(lambda _request: answer)
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert (found["ok"], found["problem"], found["capabilities"]) == (False, problem, None)
    assert said in found["message"]
    assert answer.message is not None
    # What the server said comes along (a key it echoed back, redacted).
    assert answer.message.replace(VALUE, "[redacted]") in found["message"]
    entry = AuditEntry.objects.get(action="credential.tested")
    assert entry.detail["problem"] == problem and entry.detail["ok"] is False


def test_a_base_url_without_the_api_path_is_named(
    alice_client: APIClient, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    add_credential(alice_client, alice_workspace, vendor_server.base)  # no /v1

    found = answer_of(check(alice_client, alice_workspace))

    assert (found["ok"], found["problem"]) == (False, "not_found")
    assert "check the credential's base_url" in found["message"]
    assert "end in /v1" in found["message"]
    assert vendor_server.last_request.path == "/chat/completions"


def test_a_port_nothing_listens_on_is_unreachable(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    add_credential(alice_client, alice_workspace, unused_port_url())

    found = answer_of(check(alice_client, alice_workspace))

    assert (found["ok"], found["problem"]) == (False, "unreachable")
    assert found["message"].startswith("Could not reach 127.0.0.1: is the server running")
    assert "Traceback" not in found["message"]


def test_an_address_the_outbound_guard_refuses_is_named_with_the_operators_setting(
    alice_client: APIClient,
    alice_workspace: Workspace,
    vendor_server: VendorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OUTBOUND_ALLOWLIST")
    add_credential(alice_client, alice_workspace, vendor_server.url)

    found = answer_of(check(alice_client, alice_workspace))

    assert (found["ok"], found["problem"]) == (False, "outbound_refused")
    assert "OUTBOUND_ALLOWLIST" in found["message"]
    assert vendor_server.requests == []  # nothing left the machine's guard


# -- bad input, roles and workspaces -------------------------------------------------------------


def test_bad_input_is_a_400_naming_the_model_field(
    alice_client: APIClient, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    add_credential(alice_client, alice_workspace, vendor_server.url)
    for model, says in [
        (None, "required"),
        ("", "blank"),
        (42, "Not a valid string"),
        ("openai/", "openai/gpt-4o-mini, or the server's name"),
        ("gpt 4o", "openai/gpt-4o-mini, or the server's name"),
        ("openai/" + "x" * 300, "200 characters"),
    ]:
        body = {} if model is None else {"model": model}
        response = alice_client.post(
            f"/api/workspaces/{alice_workspace.pk}/credentials/local/test/", body, format="json"
        )
        assert response.status_code == 400, (model, response.content)
        error = response.json()["error"]
        assert says in " ".join(error["fields"]["model"]), (model, error)
    assert vendor_server.requests == []


def test_a_credential_for_http_tools_cannot_be_tested(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    response = alice_client.post(
        f"/api/workspaces/{alice_workspace.pk}/credentials/",
        {"name": "search", "kind": "http_bearer", "value": VALUE},
        format="json",
    )
    assert response.status_code == 201

    refused = check(alice_client, alice_workspace, name="search")

    assert refused.status_code == 409
    assert (
        "only openai and anthropic credentials can be tested" in refused.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    ("role", "allowed"), [("runner", True), ("viewer", False), ("approver", False)]
)
def test_runners_may_test_and_those_who_cannot_run_may_not(
    role: str,
    allowed: bool,
    alice_client: APIClient,
    alice_workspace: Workspace,
    vendor_server: VendorServer,
) -> None:
    add_credential(alice_client, alice_workspace, vendor_server.url)
    user = User.objects.create_user(f"m-{role}", f"{role}@example.org", "pw")
    Membership.objects.create(user=user, workspace=alice_workspace, role=role)
    client = APIClient()
    client.force_login(user)

    response = check(client, alice_workspace)

    if allowed:
        assert answer_of(response)["ok"] is True
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert vendor_server.requests == []


def test_another_workspace_or_an_unknown_name_is_not_found(
    alice_client: APIClient,
    alice_workspace: Workspace,
    charlie_client: APIClient,
    anon_client: APIClient,
    vendor_server: VendorServer,
) -> None:
    add_credential(alice_client, alice_workspace, vendor_server.url)

    for response in (
        check(charlie_client, alice_workspace),
        check(alice_client, alice_workspace, name="nope"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert check(anon_client, alice_workspace).status_code in (401, 403)
    assert vendor_server.requests == []


def test_the_schema_documents_the_test(alice_client: APIClient) -> None:
    schema = alice_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/workspaces/{workspace_id}/credentials/{name}/test/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
    result = schema["components"]["schemas"]["CredentialTestResult"]["properties"]
    assert {"ok", "problem", "message", "capabilities", "warnings"} <= set(result)
    request = schema["components"]["schemas"]["CredentialTestRequest"]
    assert request["required"] == ["model"]
