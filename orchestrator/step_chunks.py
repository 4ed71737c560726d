"""A step's streamed text, chunk by chunk: to live viewers, and into Redis for those who connect
mid-step (:mod:`orchestrator.stream_buffer`); the step's final output is what the database
stores. Used by the steps a worker runs and by the child steps of a workflow tool call."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.publisher import publish, run_group
from orchestrator.stream_buffer import Appender, stream_key
from orchestrator.stream_buffer import client as stream_client


def chunk_emitter(
    run_id: str, step_key: str, node_id: str, round_: int, attempt: int
) -> Callable[[str], None]:
    """``emit(text)`` for one attempt of one step, numbering its chunks from 0."""
    group = run_group(run_id)
    appender = Appender(stream_key(run_id, step_key, round_, attempt))
    count = 0

    def emit(text: str) -> None:
        nonlocal count
        index = count
        count += 1

        async def store() -> None:
            # Awaited by the publisher's drain just before this chunk's broadcast, on the same
            # loop and in the same queue, so the stored text never lags behind what went out.
            await appender.append(stream_client(), index, text)

        publish(
            group,
            {
                "type": "run.event",
                "event": {
                    "seq": None,
                    "type": "step.chunk",
                    "run": run_id,
                    "step": step_key,
                    "node": node_id,
                    "status": "running",
                    "data": {"text": text, "attempt": attempt, "round": round_, "index": index},
                    "ts": None,
                },
            },
            before=store,
        )

    return emit
