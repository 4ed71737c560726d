"""Tiered model routing: what "fast first, escalate on a failed schema" saves against "strong
everywhere", on a scripted task set served by the loopback vendor server.

    .venv/bin/python bench/routing.py [--tasks 40] [--hard 0.3] [--repairs 1]

Every task is one run of ``input → worker → output`` where the worker must answer JSON matching
an output schema (easy tasks: ``{answer, confidence}``; hard ones add ``evidence``, a non-empty
list). Both models are OpenAI-compatible "models" on one in-process VendorServer
(tests/support/vendor_server.py), reached through the real provider over loopback HTTP:

- fast = ``openai/small`` at $0.15 / $0.60 per million tokens in / out;
- strong = ``openai/large`` at $2.50 / $10.00.

The vendor answers by model and task (a responder, so concurrent runs get the same answers in any
order): the large model always answers valid JSON; the small one answers the easy tasks validly
but fails every hard one, alternately with text that is not JSON and with JSON missing a required
field, and it keeps failing when shown its error (a repair). Input tokens are what the request
really carries (characters ÷ 4, the vendor server's echo estimate), so repairs and escalations
pay for their longer conversations; output tokens are fixed per task.

The set runs three times with the in-process executor (InProcessExecutor), 8 runs at a time:

(a) strong everywhere: the worker's model is the ``strong`` tier;
(b) tiered: model ``fast``, escalating to ``strong`` when the answer still fails its schema after
    ``--repairs`` repairs (the worker's ``escalate`` setting, on by default);
(c) fast only, for reference: model ``fast`` with ``escalate`` off (what escalation buys).

Prints cost, tokens, calls per model, how many answers met their schema (checked here again with
jsonschema against the run's output, not taken from the engine) and how many runs escalated, then
the saving of (b) against (a). Nothing here is random: the figures are the same on every machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import jsonschema  # noqa: E402

from runtime.executor import InProcessExecutor  # noqa: E402
from runtime.model_tiers import RoutingPolicy  # noqa: E402
from runtime.providers.local import LocalProvider  # noqa: E402
from runtime.providers.openai_compat import OpenAICompatibleProvider  # noqa: E402
from runtime.records import RunResult  # noqa: E402
from runtime.services import Services  # noqa: E402
from runtime.usage import DEFAULT_PRICES, ModelPrice  # noqa: E402
from tests.support.vendor_server import (  # noqa: E402
    Completion,
    JSONAnswer,
    RecordedRequest,
    Responder,
    Scripted,
    VendorServer,
)

FAST_MODEL, STRONG_MODEL = "openai/small", "openai/large"
PRICES = {
    FAST_MODEL: ModelPrice(0.15, 0.60),
    STRONG_MODEL: ModelPrice(2.50, 10.00),
}
CONCURRENCY = 8

EASY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "confidence"],
}
HARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **EASY_SCHEMA["properties"],
        "evidence": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["answer", "confidence", "evidence"],
}

EASY_KINDS = [
    "Classify the sentiment of this customer review",
    "Extract the invoice total from this document",
    "Name the product this support ticket is about",
    "Give the language this message is written in",
]
HARD_KINDS = [
    "Reconcile these two ledgers and name the entry that explains the difference",
    "Find which clause of this contract the complaint relies on, and why",
    "Work out from these logs which deploy started the outage",
]
WORDS = [
    "account",
    "order",
    "invoice",
    "refund",
    "shipment",
    "delay",
    "customer",
    "premium",
    "contract",
    "clause",
    "renewal",
    "region",
    "ledger",
    "balance",
    "entry",
    "payment",
    "vendor",
    "outage",
    "deploy",
    "latency",
    "database",
    "error",
    "timeout",
    "service",
    "region",
    "quarter",
    "revenue",
    "forecast",
    "margin",
    "discount",
    "churn",
    "support",
    "ticket",
    "priority",
]

TASK_ID = re.compile(r"Task (\d+):")
REPAIR_MARK = "Your answer is not valid"


@dataclass(frozen=True)
class Task:
    number: int
    hard: bool
    question: str
    document: str
    answer_tokens: int

    @property
    def schema(self) -> dict[str, Any]:
        return HARD_SCHEMA if self.hard else EASY_SCHEMA

    def valid_answer(self) -> dict[str, Any]:
        value: dict[str, Any] = {"answer": f"answer to task {self.number}", "confidence": 0.9}
        if self.hard:
            value["evidence"] = [f"line {self.number * 3 + 1}", f"line {self.number * 3 + 7}"]
        return value


def _words(seed: str, count: int) -> str:
    """Deterministic filler text: the same document for the same task on every run."""
    out: list[str] = []
    counter = 0
    while len(out) < count:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out.extend(WORDS[byte % len(WORDS)] for byte in digest)
        counter += 1
    return " ".join(out[:count])


def task_set(count: int, hard_share: float) -> list[Task]:
    """``count`` tasks, hard ones spread evenly (every 1/hard_share-th), sizes varied."""
    hard_count = round(count * hard_share)
    hard_at = {math.floor((i + 0.5) * count / hard_count) for i in range(hard_count)}
    tasks = []
    for number in range(count):
        hard = number in hard_at
        kinds = HARD_KINDS if hard else EASY_KINDS
        words = (500 + 37 * (number % 9)) if hard else (200 + 23 * (number % 7))
        tasks.append(
            Task(
                number=number,
                hard=hard,
                question=kinds[number % len(kinds)],
                document=_words(f"task-{number}", words),
                answer_tokens=(180 + 5 * (number % 5)) if hard else (40 + 3 * (number % 6)),
            )
        )
    return tasks


def graph_for(task: Task, model: str, escalate: bool, repairs: int) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "task", "type": "input", "label": "Task"},
            {
                "id": "solver",
                "type": "worker",
                "label": "Solver",
                "config": {
                    "model": model,
                    "role": "Analyst",
                    "instructions": "Task {{ input.number }}: {{ input.question }}.\n\n"
                    "{{ input.document }}",
                    "output_format": "json",
                    "output_schema": task.schema,
                    "max_repairs": repairs,
                    "escalate": escalate,
                    "stream": False,
                    "retry": {"max_attempts": 1},
                },
            },
            {"id": "answer", "type": "output", "label": "Answer"},
        ],
        "edges": [
            {"id": "e1", "source": "task", "target": "solver"},
            {"id": "e2", "source": "solver", "target": "answer"},
        ],
    }


# -- the vendor's side -----------------------------------------------------------------------------


def _prompt_tokens(request: RecordedRequest) -> int:
    body = request.body if isinstance(request.body, dict) else {}
    chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
    return math.ceil(chars / 4)


def responder(tasks: list[Task]) -> Responder:
    """Answers by model and task: the small model cannot do the hard tasks."""

    def answer(request: RecordedRequest) -> Scripted:
        body = request.body if isinstance(request.body, dict) else {}
        messages: list[dict[str, Any]] = body.get("messages") or []
        first_user: dict[str, Any] = next((m for m in messages if m.get("role") == "user"), {})
        found = TASK_ID.search(str(first_user.get("content") or ""))
        if found is None:
            raise AssertionError(f"no task number in the request: {body!r}"[:300])
        task = tasks[int(found.group(1))]
        prompt = _prompt_tokens(request)
        small = request.model == FAST_MODEL.split("/", 1)[1]
        if not (small and task.hard):
            return JSONAnswer(
                task.valid_answer(), prompt_tokens=prompt, completion_tokens=task.answer_tokens
            )
        repairing = any(REPAIR_MARK in str(m.get("content") or "") for m in messages)
        if (task.number + repairing) % 2 == 0:
            # Prose around JSON that breaks off: not parseable at all.
            text = 'Sure! Here is the analysis: {"answer": "probably the March entry", "confid'
            return Completion(text, prompt_tokens=prompt, completion_tokens=task.answer_tokens)
        incomplete = task.valid_answer()
        del incomplete["evidence"]  # valid JSON, but a required field is missing
        return JSONAnswer(incomplete, prompt_tokens=prompt, completion_tokens=task.answer_tokens)

    return answer


# -- one pass over the set -------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    met_schema: int = 0
    escalated: int = 0
    failed_runs: int = 0
    calls_fast: int = 0
    calls_strong: int = 0
    seconds: float = 0.0


async def run_set(
    label: str,
    tasks: list[Task],
    server: VendorServer,
    services: Services,
    model: str,
    escalate: bool,
    repairs: int,
) -> Figures:
    server.reset()
    server.respond_with(responder(tasks))
    executor = InProcessExecutor(services=services)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(task: Task) -> RunResult:
        run_input = {"number": task.number, "question": task.question, "document": task.document}
        async with gate:
            return await executor.run(graph_for(task, model, escalate, repairs), run_input)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(task) for task in tasks))
    figures = Figures(label, seconds=time.perf_counter() - started)
    for task, result in zip(tasks, results, strict=True):
        figures.cost += result.totals.cost
        figures.tokens_in += result.totals.tokens_in
        figures.tokens_out += result.totals.tokens_out
        if result.status != "succeeded":
            figures.failed_runs += 1
        elif jsonschema.Draft202012Validator(task.schema).is_valid(result.output):
            figures.met_schema += 1
        if model == "fast" and STRONG_MODEL in result.totals.by_model:
            figures.escalated += 1
    asked = [request.model for request in server.requests]
    figures.calls_fast = asked.count(FAST_MODEL.split("/", 1)[1])
    figures.calls_strong = asked.count(STRONG_MODEL.split("/", 1)[1])
    figures.cost = round(figures.cost, 10)
    return figures


async def main(count: int, hard_share: float, repairs: int) -> None:
    tasks = task_set(count, hard_share)
    hard = sum(task.hard for task in tasks)
    with VendorServer() as server:
        async with httpx.AsyncClient(trust_env=False) as client:
            provider = OpenAICompatibleProvider(
                name="openai", base_url=server.url, api_key="bench", client=client, timeout=30.0
            )
            services = Services(
                providers={"local": LocalProvider(), "openai": provider},
                prices={**DEFAULT_PRICES, **PRICES},
                routing=RoutingPolicy(tiers={"fast": FAST_MODEL, "strong": STRONG_MODEL}),
            )
            strong = await run_set(
                "(a) strong everywhere", tasks, server, services, "strong", True, repairs
            )
            tiered = await run_set(
                "(b) fast + escalation", tasks, server, services, "fast", True, repairs
            )
            fast_only = await run_set(
                "(c) fast only (ref.)", tasks, server, services, "fast", False, repairs
            )

    print(
        f"{count} tasks ({count - hard} easy, {hard} hard), each a worker step with an output "
        f"schema; repairs before escalating: {repairs}"
    )
    print(
        f"fast = {FAST_MODEL} ${PRICES[FAST_MODEL].input:.2f}/${PRICES[FAST_MODEL].output:.2f}, "
        f"strong = {STRONG_MODEL} ${PRICES[STRONG_MODEL].input:.2f}/"
        f"${PRICES[STRONG_MODEL].output:.2f} per M tokens in/out\n"
    )
    header = (
        f"{'scenario':<24}{'cost $':>11}{'tokens in':>11}{'tokens out':>12}"
        f"{'calls fast/strong':>19}{'schema ok':>11}{'escalated':>11}"
    )
    print(header)
    print("-" * len(header))
    for f in (strong, tiered, fast_only):
        calls = f"{f.calls_fast}/{f.calls_strong}"
        print(
            f"{f.label:<24}{f.cost:>11.6f}{f.tokens_in:>11}{f.tokens_out:>12}"
            f"{calls:>19}{f'{f.met_schema}/{count}':>11}{f.escalated:>11}"
        )
    saving = (strong.cost - tiered.cost) / strong.cost * 100 if strong.cost else 0.0
    tokens_a = strong.tokens_in + strong.tokens_out
    tokens_b = tiered.tokens_in + tiered.tokens_out
    extra_tokens = (tokens_b - tokens_a) / tokens_a * 100 if tokens_a else 0.0
    print(
        f"\nsaving of (b) against (a): {saving:.1f} % of the cost "
        f"(${strong.cost:.6f} → ${tiered.cost:.6f}), with {extra_tokens:+.1f} % tokens; "
        f"answers meeting their schema: {tiered.met_schema}/{count} against "
        f"{strong.met_schema}/{count}"
    )
    print(
        f"(c) without escalation: {fast_only.met_schema}/{count} meet their schema "
        f"({fast_only.failed_runs} runs fail with invalid_output)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40, help="tasks in the set (default 40)")
    parser.add_argument("--hard", type=float, default=0.3, help="share of hard tasks (default 0.3)")
    parser.add_argument(
        "--repairs",
        type=int,
        default=1,
        help="repairs on the fast model before escalating (the worker's max_repairs; default 1)",
    )
    args = parser.parse_args()
    if not 0 < args.tasks <= 1000 or not 0 <= args.hard <= 1 or not 0 <= args.repairs <= 5:
        parser.error("--tasks in 1..1000, --hard in 0..1, --repairs in 0..5")
    asyncio.run(main(args.tasks, args.hard, args.repairs))
