"""The model catalogue: built-in prices, overridden or extended per workspace."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from editor.catalogue import prices_for
from editor.models import Workspace
from runtime.usage import DEFAULT_PRICES


def by_model(response_json: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {row["model"]: row for row in response_json}  # type: ignore[misc]


def test_it_lists_the_built_in_catalogue(alice_client: APIClient) -> None:
    response = alice_client.get("/api/models/")
    assert response.status_code == 200
    rows = by_model(response.json())
    assert set(DEFAULT_PRICES) <= set(rows)
    mini = rows["openai/gpt-4o-mini"]
    assert mini["source"] == "builtin" and mini["builtin"] is True
    assert mini["input_price"] == DEFAULT_PRICES["openai/gpt-4o-mini"].input
    assert mini["context"] == DEFAULT_PRICES["openai/gpt-4o-mini"].context


def test_it_adds_and_overrides_prices_for_one_workspace(
    alice_client: APIClient, alice_workspace: Workspace, charlie_client: APIClient
) -> None:
    added = alice_client.post(
        "/api/models/",
        {"model": "ollama/llama3.1:8b", "input_price": 0, "output_price": 0, "context": 8192},
        format="json",
    )
    assert added.status_code == 200, added.content
    assert by_model(added.json())["ollama/llama3.1:8b"]["source"] == "workspace"
    override = alice_client.post(
        "/api/models/",
        {"model": "openai/gpt-4o-mini", "input_price": 0.1, "output_price": 0.4},
        format="json",
    )
    row = by_model(override.json())["openai/gpt-4o-mini"]
    assert (row["input_price"], row["output_price"], row["source"]) == (0.1, 0.4, "workspace")
    prices = prices_for(alice_workspace.pk)
    assert prices["openai/gpt-4o-mini"].input == 0.1
    assert prices["ollama/llama3.1:8b"].context == 8192
    # Another workspace still sees the built-in price and not alice's model.
    theirs = by_model(charlie_client.get("/api/models/").json())
    assert theirs["openai/gpt-4o-mini"]["source"] == "builtin"
    assert "ollama/llama3.1:8b" not in theirs


def test_it_resets_a_price_to_the_built_in_one(alice_client: APIClient) -> None:
    alice_client.post(
        "/api/models/",
        {"model": "openai/gpt-4o", "input_price": 9, "output_price": 9},
        format="json",
    )
    reset = alice_client.post("/api/models/reset/", {"model": "openai/gpt-4o"}, format="json")
    assert reset.status_code == 200
    row = by_model(reset.json())["openai/gpt-4o"]
    assert row["source"] == "builtin"
    assert row["input_price"] == DEFAULT_PRICES["openai/gpt-4o"].input
    again = alice_client.post("/api/models/reset/", {"model": "openai/gpt-4o"}, format="json")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


def test_it_refuses_bad_entries_with_field_messages(alice_client: APIClient) -> None:
    for body, field in [
        ({"model": "no-provider", "input_price": 1, "output_price": 1}, "model"),
        ({"model": "openai/x", "input_price": -1, "output_price": 1}, "input_price"),
        ({"model": "openai/x", "input_price": 1}, "output_price"),
        ({"model": "openai/x", "input_price": "cheap", "output_price": 1}, "input_price"),
    ]:
        response = alice_client.post("/api/models/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"]


def test_it_keeps_workspaces_apart(
    alice_client: APIClient, charlie_client: APIClient, alice_workspace: Workspace
) -> None:
    foreign = charlie_client.get(f"/api/models/?workspace={alice_workspace.pk}")
    assert foreign.status_code == 404
    mine = alice_client.get(f"/api/models/?workspace={alice_workspace.pk}")
    assert mine.status_code == 200
    assert charlie_client.get("/api/models/?workspace=abc").status_code == 404


def test_it_needs_a_login(anon_client: APIClient) -> None:
    assert anon_client.get("/api/models/").status_code == 401


# -- capability settings ---------------------------------------------------------------------------


def test_it_sets_keeps_and_clears_a_models_capabilities(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    price = {"model": "openai/llama3.1:8b", "input_price": 0, "output_price": 0}
    set_ = alice_client.post(
        "/api/models/",
        {
            **price,
            "structured_output": "json_object",
            "stream_usage": "counted",
            "tools": "prompted",
        },
        format="json",
    )
    assert set_.status_code == 200, set_.content
    row = by_model(set_.json())["openai/llama3.1:8b"]
    assert (row["structured_output"], row["stream_usage"], row["tools"]) == (
        "json_object",
        "counted",
        "prompted",
    )
    entry = prices_for(alice_workspace.pk)["openai/llama3.1:8b"]
    assert (entry.structured_output, entry.stream_usage, entry.tools) == (  # type: ignore[attr-defined]
        "json_object",
        "counted",
        "prompted",
    )

    # A price change that leaves them out keeps them; auto and "" clear one each.
    kept = alice_client.post("/api/models/", {**price, "input_price": 1}, format="json")
    assert by_model(kept.json())["openai/llama3.1:8b"]["tools"] == "prompted"
    cleared = alice_client.post(
        "/api/models/", {**price, "tools": "auto", "stream_usage": ""}, format="json"
    )
    row = by_model(cleared.json())["openai/llama3.1:8b"]
    assert (row["structured_output"], row["stream_usage"], row["tools"]) == ("json_object", "", "")


def test_it_refuses_an_unknown_capability_mode_naming_the_choices(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    price = {"model": "openai/x", "input_price": 0, "output_price": 0}
    for field, value, choices in [
        ("structured_output", "xml", "auto, json_schema, json_object, instructions"),
        ("stream_usage", "sometimes", "auto, reported, counted"),
        ("tools", 1, "auto, native, prompted"),
        ("tools", None, "null"),
    ]:
        response = alice_client.post("/api/models/", {**price, field: value}, format="json")
        assert response.status_code == 400, (field, value)
        messages = " ".join(response.json()["error"]["fields"][field])
        assert choices in messages or (value is None and "null" in messages), messages
    assert "openai/x" not in by_model(alice_client.get("/api/models/").json())


def test_the_local_model_shows_its_note_and_built_in_capabilities_and_a_price_keeps_them(
    alice_client: APIClient, alice_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_LLM_MODEL", "openai/gemma-3-270m")
    row = by_model(alice_client.get("/api/models/").json())["openai/gemma-3-270m"]
    assert "tiny model for trying flows" in row["note"]
    assert (row["structured_output"], row["stream_usage"], row["tools"], row["source"]) == (
        "json_object",
        "counted",
        "prompted",
        "builtin",
    )

    priced = alice_client.post(
        "/api/models/",
        {"model": "openai/gemma-3-270m", "input_price": 0, "output_price": 0, "context": 4096},
        format="json",
    )

    row = by_model(priced.json())["openai/gemma-3-270m"]
    assert (row["source"], row["context"]) == ("workspace", 4096)
    assert (row["structured_output"], row["stream_usage"], row["tools"]) == (
        "json_object",
        "counted",
        "prompted",
    )
    assert prices_for(alice_workspace.pk)["openai/gemma-3-270m"].tools == "prompted"  # type: ignore[attr-defined]


def test_the_schema_documents_the_capability_settings(alice_client: APIClient) -> None:
    schema = alice_client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]

    def choices(field: dict[str, Any]) -> list[str]:
        refs = [option["$ref"].rsplit("/", 1)[1] for option in field["oneOf"]]
        return [value for ref in refs for value in schema[ref]["enum"]]

    request = schema["ModelPriceRequest"]["properties"]
    assert sorted(choices(request["tools"])) == ["", "auto", "native", "prompted"]
    assert "json_object" in choices(request["structured_output"])
    assert "counted" in choices(request["stream_usage"])
    assert "note" in schema["ModelPrice"]["properties"]
