from __future__ import annotations

from typing import Any

from editor.operations import ensure_personal_workspace


def give_new_user_a_workspace(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # Fixtures loaded raw (loaddata) bring their own memberships.
    if created and not kwargs.get("raw", False):
        ensure_personal_workspace(instance)
