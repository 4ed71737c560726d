"""Real model servers: every shipped example, and structured output per mode, on llama-cpp-python's
server with Gemma 3 270M on loopback (runtime/providers/local_llm.py; the ``local-llm`` extra).

    .venv/bin/python bench/servers.py [--runs 3] [--calls 12] [--repairs 2] [--only NAME ...]

1. **Examples.** Each ``examples/*.json`` runs ``--runs`` times in process (InProcessExecutor)
   with both tiers (``fast``, ``strong``) on the server's model, as ``MODEL_FAST`` and
   ``MODEL_STRONG`` would set them, and the ``local/echo`` stand-in replaced by ``fast``
   (sub-flows included), so every model call goes to the server. A tiny model may ramble to
   the end of its context, so calls are bounded unless the example sets a limit: managers 512
   tokens, JSON workers 512, text workers 64 (as in tests/runtime/test_real_server.py).
   Printed per example: runs that succeeded with every step, steps that succeeded, how many
   JSON outputs (of json-output workers) met their schema (checked here again with
   jsonschema), mean tokens in and out over every step, model calls (HTTP requests the server
   got), tool results sent back (all runs; tools go by the prompted protocol, as the local
   model's catalogue entry says) and wall time.

2. **Structured output per mode.** ``--calls`` runs of one json-output worker (a schema with an
   enum, a string and a list; a different question each time) with the model's catalogue entry
   set to each mode: ``json_schema`` (which this server refuses: the error names the capability
   and the fix), ``json_object`` (with the schema: the server constrains the output by a
   grammar), ``instructions`` (the schema in the prompt; answers validated and repaired up to
   ``--repairs`` times), and auto (detected: json_schema refused once, then json_object). Printed
   per mode: runs that succeeded, valid at the first answer, repaired, failed, repair rate
   (repair requests ÷ runs), requests per run and wall time.

3. **Waiting threads** (``--waiting ROUNDS``, only this part): one answer of 48 tokens from a
   server whose threads spin while they wait for each other (``OMP_WAIT_POLICY=ACTIVE``), wait
   passively (``PASSIVE``, as LocalLLMServer starts it) and from one thread; tokens a second
   and the load average, per round.

The model's prose is poor, and its answers are sampled (the nodes' default temperature), so
counts vary a little between runs; ``--runs`` repeats each example. Wall times depend on what
else the 2 cores are doing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import jsonschema  # noqa: E402

from runtime.events import ListSink  # noqa: E402
from runtime.executor import InProcessExecutor  # noqa: E402
from runtime.flows import DirectoryFlows, within  # noqa: E402
from runtime.model_tiers import RoutingPolicy  # noqa: E402
from runtime.providers.capabilities import CapabilityMemory, CatalogueEntry  # noqa: E402
from runtime.providers.local_llm import (  # noqa: E402
    HARDWARE,
    INSTALL,
    MODEL_ALIAS,
    LocalLLMServer,
    missing,
)
from runtime.providers.openai_compat import OpenAICompatibleProvider  # noqa: E402
from runtime.records import RunResult  # noqa: E402
from runtime.services import Services  # noqa: E402

EXAMPLES = REPO / "examples"
MODEL = f"openai/{MODEL_ALIAS}"
MAX_TOKENS = 160
PLAN_TOKENS = 512

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kind": {"enum": ["animal", "plant", "mineral"]},
        "name": {"type": "string"},
        "facts": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["kind", "name", "facts"],
}
THINGS = [
    "an owl", "an oak", "quartz", "a salmon", "a fern", "granite", "a bee", "a tulip", "salt",
    "a fox", "moss", "copper", "a whale", "a rose", "iron", "a frog", "bamboo", "gold",
    "a crow", "a cactus",
]  # fmt: skip


class Counter:
    """Counts the requests that reach the server, and the tool results they carry back (an
    httpx event hook)."""

    def __init__(self) -> None:
        self.requests = 0
        self.tool_results = 0

    async def hook(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            self.requests += 1
            messages = json.loads(request.content).get("messages") or []
            last = messages[-1].get("content") if messages else None
            if isinstance(last, str) and last.startswith("Result of tool"):
                self.tool_results += 1


def services_for(
    server: LocalLLMServer, client: httpx.AsyncClient, mode: str | None = None
) -> Services:
    services = Services()
    services.providers["openai"] = OpenAICompatibleProvider(
        base_url=server.base_url, client=client, timeout=300.0, memory=CapabilityMemory()
    )
    services.routing = RoutingPolicy(tiers={"fast": MODEL, "strong": MODEL})
    # Tools by the prompted protocol, as the local model's built-in catalogue entry says (its
    # chat format ignores native tools); structured output as the mode asks (None: detected).
    services.prices = {
        **services.prices,
        MODEL: CatalogueEntry(0.0, 0.0, 8192, structured_output=mode, tools="prompted"),  # type: ignore[arg-type]
    }
    return services


def default_input(raw: dict[str, Any]) -> dict[str, Any]:
    fields = next(n for n in raw["nodes"] if n["type"] == "input")["config"].get("fields") or {}
    return {
        name: spec.get("default", f"a {name}")
        for name, spec in (fields.get("properties") or {}).items()
    }


# -- 1. the examples -------------------------------------------------------------------------------


@dataclass
class ExampleRow:
    name: str
    status: str
    steps_ok: int
    steps_ran: int  # not skipped
    json_valid: int
    json_total: int
    tokens_in: int
    tokens_out: int
    calls: int
    tool_results: int
    seconds: float
    error: str = ""


def on_the_server(raw: dict[str, Any]) -> dict[str, Any]:
    """Every model call on the server (the local/echo stand-in too), each one bounded."""
    for item in raw["nodes"]:
        config = item.setdefault("config", {})
        if config.get("model") == "local/echo":
            config["model"] = "fast"
        if item["type"] in ("worker", "manager"):
            # A tool loop with repairs on 2 shared cores takes minutes at worst, not 2.
            config.setdefault("timeout", 600)
        if item["type"] == "manager":
            config.setdefault("max_tokens", PLAN_TOKENS)
        elif item["type"] == "worker":
            config.setdefault("max_tokens", 512 if config.get("output_format") == "json" else 64)
    return raw


async def run_example(server: LocalLLMServer, folder: Path, name: str) -> ExampleRow:
    raw = json.loads((folder / f"{name}.json").read_text())
    counter = Counter()
    async with httpx.AsyncClient(event_hooks={"request": [counter.hook]}) as client:
        services = services_for(server, client)
        services.flows = within(DirectoryFlows(folder), name, name)
        started = time.perf_counter()
        result: RunResult = await InProcessExecutor(services=services, sink=ListSink()).run(
            raw, default_input(json.loads((EXAMPLES / f"{name}.json").read_text()))
        )
        seconds = time.perf_counter() - started
    valid = total = 0
    for item in raw["nodes"]:
        config = item.get("config") or {}
        step = result.steps.get(item["id"])
        if config.get("output_format") == "json" and step is not None and step.status != "skipped":
            total += 1
            try:
                jsonschema.validate(step.output, config["output_schema"])
                valid += 1
            except jsonschema.ValidationError:
                pass
    steps = list(result.steps.values())
    error = ""
    if result.status != "succeeded":
        error = str((result.error or {}).get("message", ""))[:160]
    error = " ".join(error.split())
    failed = [s for s in steps if s.status == "failed"]
    if failed and not error:
        error = str((failed[0].error or {}).get("message", ""))[:160]
    return ExampleRow(
        name,
        result.status,
        sum(1 for step in steps if step.status == "succeeded"),
        sum(1 for step in steps if step.status != "skipped"),
        valid,
        total,
        sum(s.tokens_in for s in steps),
        sum(s.tokens_out for s in steps),
        counter.requests,
        counter.tool_results,
        seconds,
        error,
    )


# -- 2. structured output per mode -----------------------------------------------------------------


@dataclass
class ModeRow:
    mode: str
    runs: int
    succeeded: int = 0
    first_valid: int = 0
    repaired: int = 0
    failed: int = 0
    requests: int = 0
    seconds: float = 0.0
    error: str = ""


def json_worker(thing: str, repairs: int) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {}},
            {
                "id": "ask",
                "type": "worker",
                "config": {
                    "model": "fast",
                    "instructions": f"Classify {thing}: is it an animal, a plant or a mineral? "
                    "Give its name and up to three short facts.",
                    "output_format": "json",
                    "output_schema": ANSWER_SCHEMA,
                    "max_repairs": repairs,
                    "max_tokens": MAX_TOKENS,
                    "escalate": False,
                    "retry": {"max_attempts": 1},
                },
            },
            {"id": "out", "type": "output", "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "out"},
        ],
    }


async def run_mode(server: LocalLLMServer, mode: str | None, calls: int, repairs: int) -> ModeRow:
    row = ModeRow(mode or "auto", calls)
    counter = Counter()
    async with httpx.AsyncClient(event_hooks={"request": [counter.hook]}) as client:
        services = services_for(server, client, mode)
        started = time.perf_counter()
        for index in range(calls):
            before = counter.requests
            result = await InProcessExecutor(services=services, sink=ListSink()).run(
                json_worker(THINGS[index % len(THINGS)], repairs), {}
            )
            made = counter.requests - before
            if result.status == "succeeded":
                jsonschema.validate(result.output, ANSWER_SCHEMA)
                row.succeeded += 1
                # auto: the first call's refused json_schema request is not a repair
                refused = 1 if mode is None and index == 0 else 0
                if made - refused <= 1:
                    row.first_valid += 1
                else:
                    row.repaired += 1
            else:
                row.failed += 1
                message = " ".join(str((result.error or {}).get("message", "")).split())
                row.error = row.error or message[:200]
        row.seconds = time.perf_counter() - started
    row.requests = counter.requests
    return row


# -- printing --------------------------------------------------------------------------------------


def print_examples(rows: list[ExampleRow]) -> None:
    print(
        "\n| example | runs succeeded | steps succeeded | JSON outputs valid | tokens in / out "
        "(mean) | calls (mean) | tool results | wall s (mean) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in dict.fromkeys(r.name for r in rows):
        mine = [r for r in rows if r.name == name]
        n = len(mine)
        ok = sum(r.status == "succeeded" and r.steps_ok == r.steps_ran for r in mine)
        total = sum(r.json_total for r in mine)
        valid = f"{sum(r.json_valid for r in mine)}/{total}" if total else "—"
        print(
            f"| {name} | {ok}/{n} | {sum(r.steps_ok for r in mine)}/"
            f"{sum(r.steps_ran for r in mine)} | {valid} | "
            f"{sum(r.tokens_in for r in mine) // n:,} / {sum(r.tokens_out for r in mine) // n:,} "
            f"| {sum(r.calls for r in mine) / n:.1f} | {sum(r.tool_results for r in mine)} "
            f"| {sum(r.seconds for r in mine) / n:.1f} |"
        )
    for r in rows:
        if r.error:
            print(f"  {r.name}: {r.error}")


def print_modes(rows: list[ModeRow], repairs: int) -> None:
    print(f"\n| mode | succeeded | valid first | repaired | failed | repair rate | "
          f"requests/run | wall s |  (max_repairs {repairs})")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        # repair requests: every request after a run's first, less auto's one refused request
        extra = r.requests - r.runs - (1 if r.mode == "auto" else 0)
        rate = (extra / r.runs) if r.runs and r.succeeded + r.failed else 0.0
        print(
            f"| {r.mode} | {r.succeeded}/{r.runs} | {r.first_valid} | {r.repaired} | {r.failed} "
            f"| {rate:.2f} | {r.requests / max(r.runs, 1):.2f} | {r.seconds:.1f} |"
        )
    for r in rows:
        if r.error:
            print(f"  {r.mode}: {r.error}")


def measure_waiting(rounds: int) -> None:
    """Part 3 (``--waiting``): how llama.cpp's threads wait for each other, on this machine as
    loaded as it is now. Each round starts the server with OpenMP spinning (ACTIVE), waiting
    passively (PASSIVE, what LocalLLMServer sets) and with one thread, and times one answer of
    48 tokens; printed with the load average at the time."""
    prompt = [{"role": "user", "content": "Write a long story about tea."}]
    print("| waiting | threads | tokens | seconds | tokens/s | load |")
    for _ in range(rounds):
        for policy, threads in (("ACTIVE", 2), ("PASSIVE", 2), ("PASSIVE", 1)):
            os.environ["OMP_WAIT_POLICY"] = policy
            with LocalLLMServer.start(threads=threads, n_ctx=2048) as server:
                body = {"model": server.model, "messages": prompt, "max_tokens": 48}
                began = time.perf_counter()
                answer = httpx.post(
                    f"{server.base_url}/chat/completions",
                    json={**body, "temperature": 0},
                    timeout=900,
                ).json()
                seconds = time.perf_counter() - began
            tokens = answer["usage"]["completion_tokens"]
            print(
                f"| {policy:7} | {threads} | {tokens} | {seconds:.1f} | {tokens / seconds:.2f} "
                f"| {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    os.environ.pop("OMP_WAIT_POLICY", None)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each example")
    parser.add_argument("--calls", type=int, default=12, help="runs per structured-output mode")
    parser.add_argument("--repairs", type=int, default=2, help="max_repairs of the JSON worker")
    parser.add_argument("--only", nargs="*", help="only these examples (default: all)")
    parser.add_argument("--skip-examples", action="store_true")
    parser.add_argument("--skip-modes", action="store_true")
    parser.add_argument(
        "--waiting", type=int, metavar="ROUNDS", help="only part 3: spinning or passive threads"
    )
    args = parser.parse_args()
    absent = missing()
    if absent:
        print(f"not installed: {', '.join(absent)}\ninstall with: {INSTALL}", file=sys.stderr)
        return 2
    if args.waiting:
        measure_waiting(args.waiting)
        return 0
    names = args.only or sorted(path.stem for path in EXAMPLES.glob("*.json"))
    started = time.perf_counter()
    with LocalLLMServer.start() as server:
        print(f"{MODEL} on llama-cpp-python at {server.base_url} ({HARDWARE})", flush=True)
        if not args.skip_examples:
            folder = Path(tempfile.mkdtemp(prefix="examples-"))
            for name in sorted(path.stem for path in EXAMPLES.glob("*.json")):
                raw = on_the_server(json.loads((EXAMPLES / f"{name}.json").read_text()))
                (folder / f"{name}.json").write_text(json.dumps(raw))
            rows = []
            for name in names:
                for _ in range(args.runs):
                    rows.append(await run_example(server, folder, name))
                    print(f"  {name}: {rows[-1].status} in {rows[-1].seconds:.1f}s", flush=True)
            print_examples(rows)
        if not args.skip_modes:
            modes = []
            for mode in ("json_schema", "json_object", "instructions", None):
                modes.append(await run_mode(server, mode, args.calls, args.repairs))
                print(f"  {modes[-1].mode}: {modes[-1].succeeded}/{args.calls}", flush=True)
            print_modes(modes, args.repairs)
    print(f"\ntotal {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
