"""The model catalogue: the built-in prices, overridden or extended per workspace.

Setting and resetting a price record their audit entry (target type ``model``, labelled by the
model id) in the same transaction.
"""

from __future__ import annotations

import os
from typing import Any

from django.db import transaction

from editor.audit import record
from editor.errors import NotFound, OperationError
from editor.model_reach import reach_of
from editor.models import ModelPrice, Workspace
from runtime.providers.capabilities import (
    STREAM_USAGE_MODES,
    STRUCTURED_OUTPUT_MODES,
    TOOLS_MODES,
    CatalogueEntry,
    stream_usage_mode,
    structured_output_mode,
    tools_mode,
)
from runtime.providers.local_llm import HARDWARE
from runtime.usage import DEFAULT_PRICES
from runtime.usage import ModelPrice as Price

# The capability settings an entry takes; "" (or "auto") leaves each to detection.
CAPABILITY_CHOICES: dict[str, tuple[str, ...]] = {
    "structured_output": ("", *STRUCTURED_OUTPUT_MODES),
    "stream_usage": ("", *STREAM_USAGE_MODES),
    "tools": ("", *TOOLS_MODES),
}


# `LOCAL_LLM=1 ./dev start` serves a tiny real model on this machine and names it here; the
# catalogue (and so the model picker) offers it with this note, free, with its capabilities set.
LOCAL_LLM_NOTE = (
    "Gemma 3 270M on this machine: a tiny model for trying flows, not for real work "
    f"(needs {HARDWARE})"
)


# The offline local/… models answer with a labelled placeholder, so a flow can be tried with no key.
STAND_IN_NOTE = (
    "Offline stand-in, not an AI: shows the flow's shape with placeholder answers; pick a real "
    "model (or add a key under Settings → Credentials) for real answers"
)


def builtin_prices() -> dict[str, Price]:
    """The built-in catalogue, with the local model when this installation serves one."""
    prices: dict[str, Price] = dict(DEFAULT_PRICES)
    local = os.environ.get("LOCAL_LLM_MODEL")
    if local:
        # llama-cpp-python takes json_object with a schema, sends no usage in streams, and its
        # gemma chat format ignores tools.
        prices[local] = CatalogueEntry(
            0.0,
            0.0,
            8192,
            structured_output="json_object",
            stream_usage="counted",
            tools="prompted",
        )
    return prices


def _entry(entry: ModelPrice) -> Price:
    return CatalogueEntry(
        entry.input_price,
        entry.output_price,
        entry.context,
        structured_output=structured_output_mode(entry.structured_output),
        stream_usage=stream_usage_mode(entry.stream_usage),
        tools=tools_mode(entry.tools),
    )


def prices_for(workspace_id: Any) -> dict[str, Price]:
    """Model id → catalogue entry for runs in this workspace: the price the engine's cost
    accounting reads, and the capabilities its providers use (CatalogueEntry)."""
    prices = builtin_prices()
    for entry in ModelPrice.objects.filter(workspace_id=workspace_id):
        prices[entry.model] = _entry(entry)
    return prices


def catalogue(workspace: Workspace) -> list[dict[str, Any]]:
    """Every model the workspace has a price for, marking which come from the workspace."""
    own = {entry.model: entry for entry in ModelPrice.objects.filter(workspace=workspace)}
    builtins = builtin_prices()
    local = os.environ.get("LOCAL_LLM_MODEL")
    why = reach_of(workspace)
    rows = []
    for model in sorted(set(builtins) | set(own)):
        entry = own.get(model)
        builtin = builtins.get(model)
        price = Price(entry.input_price, entry.output_price, entry.context) if entry else builtin
        assert price is not None
        settings = _capabilities_of(entry) if entry else _builtin_capabilities(builtin)
        rows.append(
            {
                "model": model,
                "input_price": price.input,
                "output_price": price.output,
                "context": price.context,
                "source": "workspace" if entry else "builtin",
                "builtin": builtin is not None,
                **settings,  # "" : detected from the model's server
                "note": LOCAL_LLM_NOTE
                if model == local
                else STAND_IN_NOTE
                if model.startswith("local/")
                else "",
                "unavailable": why(model),
            }
        )
    return rows


def _capabilities_of(entry: ModelPrice) -> dict[str, str]:
    return {name: getattr(entry, name) for name in CAPABILITY_CHOICES}


def _builtin_capabilities(builtin: Price | None) -> dict[str, str]:
    """A built-in entry's capability settings as the API shows them ("" where it sets none)."""
    return {name: getattr(builtin, name, None) or "" for name in CAPABILITY_CHOICES}


@transaction.atomic
def set_price(
    workspace: Workspace,
    model: str,
    input_price: float,
    output_price: float,
    context: int | None,
    *,
    user: Any,
    via: str = "session",
    structured_output: str | None = None,
    stream_usage: str | None = None,
    tools: str | None = None,
) -> ModelPrice:
    """Set the entry; ``structured_output``, ``stream_usage`` and ``tools`` (None: leave as they
    are, which for a built-in model's first entry in the workspace is the built-in setting; ""
    or "auto": detect) set how the model's server is asked (runtime.providers.capabilities)."""
    defaults: dict[str, Any] = {
        "input_price": input_price,
        "output_price": output_price,
        "context": context,
    }
    if not ModelPrice.objects.filter(workspace=workspace, model=model).exists():
        # A price change must not drop what the built-in entry knows of the server (the local
        # model's prompted tools).
        defaults.update(_builtin_capabilities(builtin_prices().get(model)))
    capabilities = {
        "structured_output": structured_output,
        "stream_usage": stream_usage,
        "tools": tools,
    }
    for name, value in capabilities.items():
        if value is None:
            continue
        value = "" if value == "auto" else value
        if value not in CAPABILITY_CHOICES[name]:
            choices = ", ".join(c or "auto" for c in CAPABILITY_CHOICES[name])
            message = f"must be one of {choices}"
            raise OperationError(f"{name} {message}", fields={name: [message]})
        defaults[name] = value
    entry, _ = ModelPrice.objects.update_or_create(
        workspace=workspace, model=model, defaults=defaults
    )
    _record(
        "model_price.set",
        workspace,
        model,
        user,
        via,
        {
            "model": model,
            "input_price": input_price,
            "output_price": output_price,
            "context": context,
            "structured_output": entry.structured_output,
            "stream_usage": entry.stream_usage,
            "tools": entry.tools,
        },
    )
    return entry


@transaction.atomic
def reset_price(workspace: Workspace, model: str, *, user: Any, via: str = "session") -> None:
    """Drop the workspace's own entry: a built-in model goes back to its built-in price."""
    deleted, _ = ModelPrice.objects.filter(workspace=workspace, model=model).delete()
    if not deleted:
        raise NotFound(f"the workspace has no price of its own for {model!r}")
    _record("model_price.reset", workspace, model, user, via, {"model": model})


def _record(
    action: str, workspace: Workspace, model: str, user: Any, via: str, detail: dict[str, Any]
) -> None:
    # A model id is not a row: the entry names it by type and label.
    record(
        action,
        actor=user,
        workspace=workspace,
        target_type="model",
        target_label=model,
        via=via,
        detail=detail,
    )
