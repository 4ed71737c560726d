"""The model catalogue: the built-in prices, overridden or extended per workspace.

Setting and resetting a price record their audit entry (target type ``model``, labelled by the
model id) in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from editor.audit import record
from editor.errors import NotFound
from editor.models import ModelPrice, Workspace
from runtime.usage import DEFAULT_PRICES
from runtime.usage import ModelPrice as Price


def prices_for(workspace_id: Any) -> dict[str, Price]:
    """Model id → price for runs in this workspace (what the engine's cost accounting reads)."""
    prices = dict(DEFAULT_PRICES)
    for entry in ModelPrice.objects.filter(workspace_id=workspace_id):
        prices[entry.model] = Price(entry.input_price, entry.output_price, entry.context)
    return prices


def catalogue(workspace: Workspace) -> list[dict[str, Any]]:
    """Every model the workspace has a price for, marking which come from the workspace."""
    own = {entry.model: entry for entry in ModelPrice.objects.filter(workspace=workspace)}
    rows = []
    for model in sorted(set(DEFAULT_PRICES) | set(own)):
        entry = own.get(model)
        builtin = DEFAULT_PRICES.get(model)
        price = Price(entry.input_price, entry.output_price, entry.context) if entry else builtin
        assert price is not None
        rows.append(
            {
                "model": model,
                "input_price": price.input,
                "output_price": price.output,
                "context": price.context,
                "source": "workspace" if entry else "builtin",
                "builtin": builtin is not None,
            }
        )
    return rows


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
) -> ModelPrice:
    entry, _ = ModelPrice.objects.update_or_create(
        workspace=workspace,
        model=model,
        defaults={"input_price": input_price, "output_price": output_price, "context": context},
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
