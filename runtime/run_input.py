"""The run input every step sees: what the caller gave, with the input nodes' defaults filled in.

Both executors prepare it once, when the run starts.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from runtime.graph import json_kind
from runtime.nodes.io import InputConfig, with_defaults
from runtime.plan import Plan


def prepare_input(plan: Plan, run_input: Any) -> Any:
    """The run input every step sees: defaults of the input nodes' fields filled in."""
    for node_id in plan.roots:
        planned = plan.nodes[node_id]
        if isinstance(planned.config, InputConfig):
            run_input = with_defaults(run_input, planned.config.fields)
    return run_input


def input_problems(plan: Plan, run_input: Any) -> dict[str, list[str]]:
    """Why the run input does not fit the input nodes' fields, by field (``input`` for the whole
    input, ``input.<field>`` for one), checked as the run will see it (defaults filled in).

    Empty when it fits. Checked when a run starts, so a missing field is refused with a 400
    instead of failing the run's first step (or, with no schema, reading as empty text)."""
    problems: dict[str, list[str]] = {}
    if not isinstance(run_input, dict):
        problems["input"] = [
            f"the run input must be a JSON object of fields, not {json_kind(run_input)}"
        ]
        return problems
    filled = prepare_input(plan, run_input)
    for node_id in plan.roots:
        config = plan.nodes[node_id].config
        if not isinstance(config, InputConfig) or config.fields is None:
            continue
        validator = jsonschema.Draft202012Validator(config.fields)
        for error in sorted(validator.iter_errors(filled), key=lambda e: list(e.path))[:20]:
            path = [str(part) for part in error.path]
            if error.validator == "required" and isinstance(error.validator_value, list):
                # "required" is reported on the object; name the missing field itself
                missing = [name for name in error.validator_value if name not in error.instance]
                for name in missing:
                    key = ".".join(["input", *path, str(name)])
                    problems.setdefault(key, []).append("required: the run needs this field")
                continue
            key = ".".join(["input", *path])
            problems.setdefault(key, []).append(error.message)
    return problems
