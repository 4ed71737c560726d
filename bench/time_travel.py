"""Time travel: what "retry from the failed step" saves against a full rerun, on the 6-stage
content example (examples/content-pipeline.json), with a vendor that charges per token and takes
time per token.

    .venv/bin/python bench/time_travel.py [--repeat 5] [--ms-per-token 1.0]

The example is brief → research (fast) → draft (strong) → seo (fast, schema-checked JSON) →
fact_check (strong) → article, run unchanged. Both tiers are OpenAI-compatible "models" on one
in-process VendorServer (tests/support/vendor_server.py), reached through the real provider over
loopback HTTP, priced as in bench/routing.py:

- fast = ``openai/small`` at $0.15 / $0.60 per million tokens in / out;
- strong = ``openai/large`` at $2.50 / $10.00.

The vendor knows each stage by its role in the system prompt and answers it with a fixed number
of output tokens (research 600, draft 1,200, seo about 50 as ``{score, issues}``, fact_check 400),
as text of about 4 characters a token, so every later prompt really carries the earlier answers;
input tokens are what each request carries (characters ÷ 4). Every answer waits
``--ms-per-token`` per output token before it is sent (1 ms: a stage takes 0.05–1.2 s), and it
names a digest of the prompt it answered, so an answer built on a different upstream output would
differ. The vendor keeps its own bill (tokens and dollars per answered call) and its request log.

Each repetition:

1. the first run fails at fact_check: the vendor answers that stage with HTTP 500 every time, so
   the step spends the worker's default retry policy (3 attempts, backoff 1 s then 2 s, real
   sleeps) and the run fails with ``provider_unavailable``;
2. the vendor is fixed (it now answers fact_check), then, in alternating order,
   (a) the whole flow runs again from scratch, and
   (b) the failed run is retried: its event log, exported as JSON lines and read back with
       ``recorded_run``, becomes a ``ReusePlan`` with nothing forced (as
       ``python -m runtime run flow.json --reuse run.jsonl`` builds it), so the failed step and
       everything after it execute and the rest is reused.

Prints the median wall time, the vendor's bill (cost, tokens) and the calls the vendor received
for (a) and (b), with the ratios. The script stops with an error (exit status 1) unless (b)'s output
equals (a)'s, (b) made exactly (a)'s calls of the stages from fact_check on, the failed run failed
at fact_check after its 3 attempts, and the engine's totals agree with the vendor's bill.
Everything but the wall times is the same on every machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from runtime.event_log import parse_events, recorded_run  # noqa: E402
from runtime.events import ListSink  # noqa: E402
from runtime.executor import InProcessExecutor  # noqa: E402
from runtime.model_tiers import RoutingPolicy  # noqa: E402
from runtime.plan import Plan, template_reads  # noqa: E402
from runtime.providers.local import LocalProvider  # noqa: E402
from runtime.providers.openai_compat import OpenAICompatibleProvider  # noqa: E402
from runtime.records import RunResult  # noqa: E402
from runtime.reuse import ReusePlan, downstream  # noqa: E402
from runtime.services import Services  # noqa: E402
from runtime.usage import DEFAULT_PRICES, ModelPrice, cost_of  # noqa: E402
from runtime.validation import compile_graph  # noqa: E402
from tests.support.vendor_server import (  # noqa: E402
    Completion,
    Delay,
    HTTPError,
    JSONAnswer,
    RecordedRequest,
    Scripted,
    VendorServer,
)

EXAMPLE = REPO / "examples" / "content-pipeline.json"
RUN_INPUT = {"topic": "heat pumps for old houses"}
FAILING_STAGE = "fact_check"

FAST_MODEL, STRONG_MODEL = "openai/small", "openai/large"
PRICES = {
    FAST_MODEL: ModelPrice(0.15, 0.60),
    STRONG_MODEL: ModelPrice(2.50, 10.00),
}
VENDOR_MODELS = {model.split("/", 1)[1]: model for model in PRICES}  # "small" → "openai/small"

# Output tokens of each text stage's answer (seo's is its JSON's length ÷ 4).
TEXT_TOKENS = {"research": 600, "draft": 1200, "fact_check": 400}

WORDS = [
    "heat",
    "pump",
    "insulation",
    "running",
    "costs",
    "radiator",
    "flow",
    "temperature",
    "draught",
    "loft",
    "solid",
    "wall",
    "boiler",
    "grant",
    "survey",
    "kilowatt",
    "hour",
    "tariff",
    "winter",
    "efficiency",
    "coefficient",
    "performance",
    "homeowner",
    "retrofit",
    "glazing",
    "ventilation",
    "noise",
    "installer",
    "outdoor",
    "unit",
    "cylinder",
    "hot",
    "water",
    "savings",
]


class BenchError(Exception):
    """A sanity check failed: the figures would not mean what they say."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def prose(seed: str, tokens: int) -> str:
    """Deterministic text of about ``tokens`` tokens (4 characters each), in paragraphs."""
    target = tokens * 4
    words: list[str] = []
    length = 0
    counter = 0
    while length < target:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        for byte in digest:
            word = WORDS[byte % len(WORDS)]
            words.append(word)
            length += len(word) + 1
        counter += 1
    lines = [" ".join(words[i : i + 12]) + "." for i in range(0, len(words), 12)]
    paragraphs = ["\n".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
    return "\n\n".join(paragraphs)[:target]


# -- the vendor's side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Charge:
    stage: str
    model: str  # provider/model, as priced
    status: int
    tokens_in: int
    tokens_out: int
    cost: float


@dataclass
class Vendor:
    """Answers the content example's workers by stage, charging per token, and keeps the bill.

    ``roles`` maps each worker's system prompt opening ("You are the Writer.") to its node id."""

    roles: dict[str, str]
    ms_per_token: float
    fact_check_down: bool = False
    bill: list[Charge] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stage_of(self, request: RecordedRequest) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        messages: list[dict[str, Any]] = body.get("messages") or []
        system = next((str(m.get("content")) for m in messages if m.get("role") == "system"), "")
        for opening, node_id in self.roles.items():
            if system.startswith(opening):
                return node_id
        raise AssertionError(f"a request from no known stage: {system[:120]!r}")

    def answer(self, request: RecordedRequest) -> Scripted:
        stage = self.stage_of(request)
        model = VENDOR_MODELS[str(request.model)]
        body = request.body if isinstance(request.body, dict) else {}
        messages: list[dict[str, Any]] = body.get("messages") or []
        prompt = "".join(str(m.get("content") or "") for m in messages)
        tokens_in = math.ceil(len(prompt) / 4)
        ref = hashlib.sha256(prompt.encode()).hexdigest()[:12]
        if stage == FAILING_STAGE and self.fact_check_down:
            self.charge(Charge(stage, model, 500, 0, 0, 0.0))  # an error is not billed
            return HTTPError(500, "The server had an error while processing your request.")
        scripted: Completion | JSONAnswer
        if stage == "seo":
            value = {
                "score": 72,
                "issues": [
                    "the keyword 'running costs' is missing from the first paragraph",
                    "no subheading carries the keyword 'heat pump'",
                    f"the meta description is missing (ref {ref})",
                ],
            }
            tokens_out = math.ceil(len(json.dumps(value)) / 4)
            scripted = JSONAnswer(value, prompt_tokens=tokens_in, completion_tokens=tokens_out)
        else:
            tokens_out = TEXT_TOKENS[stage]
            text = f"[{stage}, on prompt {ref}]\n\n" + prose(stage, tokens_out)
            scripted = Completion(text, prompt_tokens=tokens_in, completion_tokens=tokens_out)
        cost = cost_of(PRICES[model], tokens_in, tokens_out)
        self.charge(Charge(stage, model, 200, tokens_in, tokens_out, cost))
        return Delay(tokens_out * self.ms_per_token / 1000, then=scripted)

    def charge(self, charge: Charge) -> None:
        with self.lock:
            self.bill.append(charge)

    def take_bill(self) -> list[Charge]:
        with self.lock:
            bill, self.bill = self.bill, []
        return bill


# -- one run ---------------------------------------------------------------------------------------


@dataclass
class Measured:
    result: RunResult
    seconds: float
    calls: list[tuple[str, str]]  # (stage, provider/model) of every request the vendor received
    bill: list[Charge]
    events: list[dict[str, Any]]

    @property
    def cost(self) -> float:
        return round(sum(charge.cost for charge in self.bill), 10)

    @property
    def tokens_in(self) -> int:
        return sum(charge.tokens_in for charge in self.bill)

    @property
    def tokens_out(self) -> int:
        return sum(charge.tokens_out for charge in self.bill)

    def calls_of(self, model: str) -> int:
        return sum(1 for _, called in self.calls if called == model)


async def measure(
    server: VendorServer,
    vendor: Vendor,
    services: Services,
    graph: dict[str, Any],
    prepare: Callable[[], tuple[ReusePlan | None, Any]],
) -> Measured:
    """One run with a fresh request log and bill. ``prepare()`` gives the reuse plan and the run
    input; it is timed too (reading the failed run's log is part of a retry)."""
    server.reset()
    server.respond_with(vendor.answer)
    vendor.take_bill()
    sink = ListSink()
    executor = InProcessExecutor(services=services, sink=sink)
    started = time.perf_counter()
    reuse, run_input = prepare()
    result = await executor.run(graph, run_input, reuse=reuse)
    seconds = time.perf_counter() - started
    calls = [(vendor.stage_of(r), VENDOR_MODELS[str(r.model)]) for r in server.requests]
    events = [event.to_dict() for event in sink.events]
    return Measured(result, seconds, calls, vendor.take_bill(), events)


def from_scratch() -> tuple[ReusePlan | None, Any]:
    return None, RUN_INPUT


def retry_plan(failed_events: list[dict[str, Any]]) -> tuple[ReusePlan | None, Any]:
    """The reuse plan of ``--reuse run.jsonl`` without ``--from-step``: the log exported as JSON
    lines and read back, every recorded step offered, nothing forced; and the recorded input
    (the retry runs on it, as the command line does)."""
    exported = "\n".join(json.dumps(event, ensure_ascii=False) for event in failed_events)
    source = recorded_run(parse_events(exported))
    return ReusePlan(source_run=source.run_id, recorded=source.steps), source.input


def check_engine_against_bill(label: str, run: Measured) -> None:
    totals = run.result.totals
    check(
        math.isclose(totals.cost, run.cost, abs_tol=1e-9)
        and (totals.tokens_in, totals.tokens_out) == (run.tokens_in, run.tokens_out),
        f"{label}: the engine counted ${totals.cost:.6f}, {totals.tokens_in}→"
        f"{totals.tokens_out} tokens, the vendor billed ${run.cost:.6f}, "
        f"{run.tokens_in}→{run.tokens_out}",
    )


# -- the scenario ----------------------------------------------------------------------------------


@dataclass
class Round:
    failed: Measured
    full: Measured  # (a)
    retry: Measured  # (b)


async def one_round(
    number: int,
    server: VendorServer,
    vendor: Vendor,
    services: Services,
    graph: dict[str, Any],
    plan: Plan,
    after_failure: set[str],
) -> Round:
    vendor.fact_check_down = True
    failed = await measure(server, vendor, services, graph, from_scratch)
    error = failed.result.error or {}
    attempts = plan.nodes[FAILING_STAGE].retry
    max_attempts = attempts.max_attempts if attempts is not None else 1
    check(
        failed.result.status == "failed" and error.get("step") == FAILING_STAGE,
        f"round {number}: the first run should fail at {FAILING_STAGE}, "
        f"not end {failed.result.status} ({error})",
    )
    refused = [stage for stage, _ in failed.calls if stage == FAILING_STAGE]
    check(
        len(refused) == max_attempts,
        f"round {number}: {FAILING_STAGE} was asked {len(refused)} times in the failed run, "
        f"its retry policy allows {max_attempts}",
    )
    check_engine_against_bill(f"round {number}, failed run", failed)

    vendor.fact_check_down = False

    async def full_rerun() -> Measured:
        return await measure(server, vendor, services, graph, from_scratch)

    async def retry() -> Measured:
        return await measure(server, vendor, services, graph, lambda: retry_plan(failed.events))

    if number % 2 == 0:
        full = await full_rerun()
        again = await retry()
    else:
        again = await retry()
        full = await full_rerun()

    for label, run in (("(a) full rerun", full), ("(b) retry", again)):
        check(
            run.result.status == "succeeded",
            f"round {number}: {label} ended {run.result.status}: {run.result.error}",
        )
        check_engine_against_bill(f"round {number}, {label}", run)
    check(
        again.result.output == full.result.output,
        f"round {number}: (b)'s output differs from (a)'s:\n--- (a)\n"
        f"{str(full.result.output)[-400:]}\n--- (b)\n{str(again.result.output)[-400:]}",
    )
    expected = [call for call in full.calls if call[0] in after_failure]
    check(
        again.calls == expected,
        f"round {number}: (b) called {again.calls}, expected the calls of the stages from "
        f"{FAILING_STAGE} on: {expected}",
    )
    reused = sorted(k for k, s in again.result.steps.items() if s.status == "reused")
    executed = sorted(k for k, s in again.result.steps.items() if s.status == "succeeded")
    check(
        set(executed) == after_failure and set(reused) == set(plan.nodes) - after_failure,
        f"round {number}: (b) reused {reused} and executed {executed}",
    )
    return Round(failed, full, again)


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(rounds: list[Round], ms_per_token: float, after_failure: list[str]) -> None:
    def row(label: str, runs: list[Measured]) -> tuple[str, float, float, int, int, str, str]:
        first = runs[0]
        stages: dict[str, int] = {}
        for stage, _ in first.calls:
            stages[stage] = stages.get(stage, 0) + 1
        by_stage = " ".join(f"{stage}×{count}" for stage, count in stages.items())
        return (
            label,
            median([run.seconds for run in runs]),
            median([run.cost for run in runs]),
            int(median([run.tokens_in for run in runs])),
            int(median([run.tokens_out for run in runs])),
            f"{first.calls_of(FAST_MODEL)}/{first.calls_of(STRONG_MODEL)}",
            by_stage,
        )

    failed = row("first run (fails)", [r.failed for r in rounds])
    full = row("(a) full rerun", [r.full for r in rounds])
    retry = row("(b) retry from failure", [r.retry for r in rounds])
    print(
        f"{EXAMPLE.relative_to(REPO)}: brief → research → draft → seo → fact_check → article; "
        f"{len(rounds)} rounds, medians"
    )
    print(
        f"fast = {FAST_MODEL} ${PRICES[FAST_MODEL].input:.2f}/${PRICES[FAST_MODEL].output:.2f}, "
        f"strong = {STRONG_MODEL} ${PRICES[STRONG_MODEL].input:.2f}/"
        f"${PRICES[STRONG_MODEL].output:.2f} per M tokens in/out; {ms_per_token:g} ms per "
        "output token"
    )
    print(
        f"the first run: {FAILING_STAGE} answered HTTP 500 on each of its attempts; then fixed; "
        f"(b) executes {', '.join(after_failure)}\n"
    )
    header = (
        f"{'scenario':<24}{'wall s':>8}{'cost $':>11}{'tokens in':>11}{'tokens out':>12}"
        f"{'calls fast/strong':>19}  calls by stage (vendor's log)"
    )
    print(header)
    print("-" * len(header))
    for label, seconds, cost, tokens_in, tokens_out, calls, by_stage in (failed, full, retry):
        print(
            f"{label:<24}{seconds:>8.2f}{cost:>11.6f}{tokens_in:>11}{tokens_out:>12}"
            f"{calls:>19}  {by_stage}"
        )
    time_ratio = retry[1] / full[1]
    cost_ratio = retry[2] / full[2]
    tokens_a, tokens_b = full[3] + full[4], retry[3] + retry[4]
    all_times = " ".join(f"{r.full.seconds:.2f}/{r.retry.seconds:.2f}" for r in rounds)
    saved_by_engine = median([r.retry.result.totals.reused_cost for r in rounds])
    print(
        f"\n(b)/(a): time {time_ratio:.3f}× ({full[1]:.2f} s → {retry[1]:.2f} s, "
        f"{(1 - time_ratio) * 100:.1f} % saved), cost {cost_ratio:.3f}× (${full[2]:.6f} → "
        f"${retry[2]:.6f}, {(1 - cost_ratio) * 100:.1f} % saved), tokens {tokens_b}/{tokens_a} "
        f"({(1 - tokens_b / tokens_a) * 100:.1f} % saved)"
    )
    print(
        f"the incident in all (failed run + recovery): (a) ${failed[2] + full[2]:.6f}, "
        f"{failed[1] + full[1]:.2f} s; (b) ${failed[2] + retry[2]:.6f}, "
        f"{failed[1] + retry[1]:.2f} s"
    )
    print(
        f"(b) reused {rounds[0].retry.result.totals.reused} steps; the engine's reused_cost "
        f"${saved_by_engine:.6f} (what they cost in the failed run)"
    )
    print(f"wall s per round, (a)/(b): {all_times}")
    print("checks: (b)'s output = (a)'s; (b)'s calls = (a)'s calls from fact_check on; engine")
    print("totals = the vendor's bill; the failed run made the retry policy's attempts: all passed")


async def main(repeat: int, ms_per_token: float) -> None:
    graph = json.loads(EXAMPLE.read_text())
    plan = compile_graph(graph)
    reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
    after_failure = downstream(plan, FAILING_STAGE, reads)
    roles = {
        f"You are the {node['config']['role']}.": node["id"]
        for node in graph["nodes"]
        if node["type"] == "worker"
    }
    vendor = Vendor(roles=roles, ms_per_token=ms_per_token)
    rounds: list[Round] = []
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
            for number in range(repeat):
                rounds.append(
                    await one_round(number, server, vendor, services, graph, plan, after_failure)
                )
    outputs = {json.dumps(r.full.result.output, sort_keys=True) for r in rounds}
    check(len(outputs) == 1, "(a)'s output differs between rounds: the vendor is not fixed")
    report(rounds, ms_per_token, plan.by_order(after_failure))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--ms-per-token",
        type=float,
        default=1.0,
        help="the vendor's latency per output token, in ms (default 1.0)",
    )
    args = parser.parse_args()
    if not 1 <= args.repeat <= 100 or not 0 <= args.ms_per_token <= 20:
        parser.error("--repeat in 1..100, --ms-per-token in 0..20")
    try:
        asyncio.run(main(args.repeat, args.ms_per_token))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
