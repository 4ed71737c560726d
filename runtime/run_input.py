"""The run input every step sees: what the caller gave, with the input nodes' defaults filled in.

Both executors prepare it once, when the run starts.
"""

from __future__ import annotations

from typing import Any

from runtime.nodes.io import InputConfig, with_defaults
from runtime.plan import Plan


def prepare_input(plan: Plan, run_input: Any) -> Any:
    """The run input every step sees: defaults of the input nodes' fields filled in."""
    for node_id in plan.roots:
        planned = plan.nodes[node_id]
        if isinstance(planned.config, InputConfig):
            run_input = with_defaults(run_input, planned.config.fields)
    return run_input
