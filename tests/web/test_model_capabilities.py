"""The model catalogue's capability settings: stored per workspace entry, read by the engine."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from editor.catalogue import catalogue, prices_for, set_price
from editor.errors import OperationError
from editor.models import Workspace
from runtime.providers.capabilities import CatalogueEntry

pytestmark = pytest.mark.django_db


def row(workspace: Workspace, model: str) -> dict[str, object]:
    return next(r for r in catalogue(workspace) if r["model"] == model)


def test_an_entry_carries_the_models_capabilities_to_the_engine(
    alice: User, alice_workspace: Workspace
) -> None:
    set_price(
        alice_workspace, "openai/gemma", 0, 0, 32768, user=alice, structured_output="json_object"
    )

    entry = prices_for(alice_workspace.pk)["openai/gemma"]
    assert isinstance(entry, CatalogueEntry)
    assert (entry.structured_output, entry.stream_usage, entry.context) == (
        "json_object",
        None,
        32768,
    )
    shown = row(alice_workspace, "openai/gemma")
    assert (shown["structured_output"], shown["stream_usage"], shown["tools"]) == (
        "json_object",
        "",
        "",
    )
    set_price(alice_workspace, "openai/gemma", 0, 0, 32768, user=alice, tools="prompted")
    assert prices_for(alice_workspace.pk)["openai/gemma"].tools == "prompted"  # type: ignore[attr-defined]


def test_a_price_change_keeps_the_capabilities_and_auto_clears_them(
    alice: User, alice_workspace: Workspace
) -> None:
    set_price(alice_workspace, "openai/x", 1, 2, None, user=alice, stream_usage="counted")
    set_price(alice_workspace, "openai/x", 3, 4, None, user=alice)
    assert prices_for(alice_workspace.pk)["openai/x"].stream_usage == "counted"  # type: ignore[attr-defined]

    set_price(alice_workspace, "openai/x", 3, 4, None, user=alice, stream_usage="auto")
    assert prices_for(alice_workspace.pk)["openai/x"].stream_usage is None  # type: ignore[attr-defined]
    assert row(alice_workspace, "openai/gpt-4o-mini")["structured_output"] == ""  # built-in


def test_an_unknown_mode_is_refused_by_name(alice: User, alice_workspace: Workspace) -> None:
    with pytest.raises(OperationError) as caught:
        set_price(alice_workspace, "openai/x", 1, 2, None, user=alice, structured_output="xml")
    assert caught.value.fields == {
        "structured_output": ["must be one of auto, json_schema, json_object, instructions"]
    }


def test_the_local_model_is_offered_with_its_note_when_this_installation_serves_it(
    alice_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without it, only the offline stand-in (local/…) carries a note: what it is
    noted = [r for r in catalogue(alice_workspace) if r["note"]]
    assert [r["model"] for r in noted] == ["local/echo"]
    assert noted[0]["note"].startswith("Offline stand-in, not an AI")
    monkeypatch.setenv("LOCAL_LLM_MODEL", "openai/gemma-3-270m")

    shown = row(alice_workspace, "openai/gemma-3-270m")
    entry = prices_for(alice_workspace.pk)["openai/gemma-3-270m"]

    assert "tiny model for trying flows" in str(shown["note"]) and "2 GB" in str(shown["note"])
    assert (shown["input_price"], shown["source"]) == (0.0, "builtin")
    assert isinstance(entry, CatalogueEntry)
    assert (entry.structured_output, entry.stream_usage, entry.tools) == (
        "json_object",
        "counted",
        "prompted",
    )
