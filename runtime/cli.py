"""``python -m runtime``: run, validate and describe flows from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from runtime.budget import Budget
from runtime.errors import GraphValidationError
from runtime.event_log import EventLogError, parse_events, recorded_run
from runtime.events import Event
from runtime.executor import InProcessExecutor
from runtime.flows import DirectoryFlows, within
from runtime.nodes.registry import default_registry
from runtime.plan import Plan, template_reads
from runtime.reuse import NO_EDIT, ResumePoint, ReusePlan, downstream
from runtime.secrets import StaticSecrets
from runtime.services import Services
from runtime.tools.specs import StaticToolDefinitions, stdio_servers_from_env
from runtime.tools.tool_file import parse_tool_file
from runtime.validation import compile_graph, validate_graph


class _UsageError(Exception):
    pass


def _load_json_file(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _UsageError(
            f"{path} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _parse_input(text: str | None) -> Any:
    return {} if text is None else _parse_value(text, "--input")


def _parse_value(text: str, flag: str) -> Any:
    """A JSON value given on the command line, or ``@file.json``."""
    if text.startswith("@"):
        return _load_json_file(text[1:])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _UsageError(f"{flag} is not JSON: {exc.msg} (column {exc.colno})") from None


def max_tokens_argument(text: str) -> int:
    """``--max-tokens``: a whole number of tokens, at least 1 (the API's rule for a budget)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of tokens") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the token budget must be at least 1")
    return value


def max_cost_argument(text: str) -> float:
    """``--max-cost``: US dollars, 0 or more and finite (the API's rule for a budget)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of US dollars") from None
    # float() accepts "nan" and "inf"; neither is a limit anyone can mean.
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the cost budget must be a finite number of US dollars, 0 or more"
        )
    return value


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """``--max-tokens`` and ``--max-cost``, shared with ``manage.py run_workflow`` so both
    terminals spell and check a run's budget the same way. Bad values exit with code 2."""
    parser.add_argument(
        "--max-tokens",
        type=max_tokens_argument,
        metavar="N",
        help="stop the run with budget_exceeded once it has used more than N tokens "
        "(input and output together); past 80%% tiered nodes use the fast tier",
    )
    parser.add_argument(
        "--max-cost",
        type=max_cost_argument,
        metavar="USD",
        help="the same limit in US dollars of model cost",
    )


def budget_from_arguments(args: argparse.Namespace | dict[str, Any]) -> dict[str, Any] | None:
    """The run budget as the API takes it (``{"max_tokens", "max_cost"}``), or None for none."""
    values = args if isinstance(args, dict) else vars(args)
    budget = {key: values[key] for key in ("max_tokens", "max_cost") if values.get(key) is not None}
    return budget or None


class _HumanPrinter:
    """Prints events as a person reads them: one line a step change, chunks streamed inline."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.streaming: str | None = None

    def emit(self, event: Event) -> None:
        if event.type == "step.chunk":
            if self.streaming != event.step:
                self._end_stream()
                self.out.write(f"  │ {event.node}: ")
                self.streaming = event.step
            self.out.write(str(event.data["text"]))
            self.out.flush()
            return
        self._end_stream()
        line = self._describe(event)
        if line:
            self.out.write(line + "\n")
            self.out.flush()

    def _end_stream(self) -> None:
        if self.streaming is not None:
            self.out.write("\n")
            self.streaming = None

    def _describe(self, event: Event) -> str | None:
        data = event.data
        name = event.step
        if event.type == "run.started":
            return f"▶ run {event.run} started"
        if event.type == "step.started":
            attempt = f" (attempt {data['attempt']})" if data.get("attempt", 1) > 1 else ""
            return f"● {name} started{attempt}"
        if event.type == "step.succeeded":
            figures = f"{data.get('duration_ms') or 0:.1f} ms"
            if data.get("model"):
                figures += (
                    f", {data['model']}, {data['tokens_in']}→{data['tokens_out']} tokens, "
                    f"${data['cost']:.6f}"
                )
            branch = f" → {data['branch']}" if data.get("branch") not in (None, "out") else ""
            return f"✔ {name} succeeded{branch} ({figures}): {_short(data.get('output'))}"
        if event.type == "step.failed":
            return f"✘ {name} failed: {data['error']['message']}"
        if event.type == "step.retrying":
            return (
                f"↻ {name} attempt {data['attempt']} failed ({data['error']['message']}); "
                f"retrying in {data['delay']:.1f} s"
            )
        if event.type == "step.skipped":
            return f"○ {name} skipped"
        if event.type == "step.reused":
            origin = data["from"]
            where = f"run {origin['run']}" if origin.get("run") else "the command line"
            how = {"recorded": "reused from", "edited": "edited, from", "pinned": "pinned, from"}
            return f"↺ {name} {how[origin['kind']]} {where}: {_short(data.get('output'))}"
        if event.type == "step.waiting":
            return f"⏸ {name} waits for a person: {_short(data.get('request'))}"
        if event.type == "step.delegated":
            return f"⇉ {name} delegated: {', '.join(t['step'] for t in data['tasks'])}"
        if event.type == "step.cancelled":
            return f"■ {name} cancelled"
        if event.type.startswith("run."):
            return f"■ run {event.type.removeprefix('run.')}"
        return None


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _JsonLines:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seq = 0

    def emit(self, event: Event) -> None:
        self.seq += 1
        event.seq = self.seq
        self.out.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        self.out.flush()


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    graph = _load_json_file(args.flow)
    run_input = _parse_input(args.input)
    try:
        plan = compile_graph(graph)
    except GraphValidationError as exc:
        _print_issues(exc.issues, err)
        return 2
    reuse = None
    if args.reuse or args.from_step or args.output is not None:
        reuse, recorded_input = _reuse_from_arguments(args, plan)
        if args.input is None:
            run_input = recorded_input
    limits = budget_from_arguments(args)
    budget = Budget.from_dict(limits) if limits else None
    sink = _JsonLines(out) if args.json else _HumanPrinter(out)
    services = Services.from_env()
    if args.tools:
        try:
            declared = parse_tool_file(_load_json_file(args.tools), os.environ, args.tools)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
        stdio = stdio_servers_from_env().values()
        services.tool_definitions = StaticToolDefinitions(
            [*stdio, *declared.mcp_servers], declared.http_tools
        )
        services.secrets = StaticSecrets(declared.secrets)
    if args.flow != "-":
        # Sub-flows name JSON files beside this one; this file is the first link of the chain.
        path = Path(args.flow)
        services.flows = within(DirectoryFlows(path.parent), path.stem, path.stem)
    executor = InProcessExecutor(services=services, sink=sink)
    result = asyncio.run(executor.run(plan, run_input, budget=budget, reuse=reuse))
    if not args.json:
        out.write("\nOutput:\n")
        output = result.output
        out.write(
            (
                output
                if isinstance(output, str)
                else json.dumps(output, indent=2, ensure_ascii=False, default=str)
            )
            + "\n"
        )
        totals = result.totals
        reused = f" · {totals.reused} step(s) reused" if reuse is not None else ""
        out.write(
            f"\nstatus {result.status} · {totals.tokens_in}→{totals.tokens_out} tokens"
            f" · ${totals.cost:.6f}{reused}\n"
        )
        if result.error:
            err.write(f"error: {result.error.get('message')}\n")  # it names the step
    return 0 if result.status == "succeeded" else 1


def _reuse_from_arguments(args: argparse.Namespace, plan: Plan) -> tuple[ReusePlan, Any]:
    """The reuse plan of ``--reuse LOG [--from-step S [--output JSON]]``, and the recorded
    run input."""
    if not args.reuse:
        raise _UsageError("--from-step and --output need --reuse with a run's event log")
    if args.output is not None and not args.from_step:
        raise _UsageError("--output needs --from-step: the step whose output it is")
    try:
        recorded = recorded_run(parse_events(Path(args.reuse).read_text(encoding="utf-8")))
    except OSError as exc:
        raise _UsageError(f"cannot read {args.reuse}: {exc.strerror}") from None
    except (EventLogError, json.JSONDecodeError) as exc:
        raise _UsageError(f"{args.reuse}: {exc}") from None
    forced: set[str] = set()
    edited: dict[str, Any] = {}
    resume: dict[str, ResumePoint] = {}
    step = args.from_step
    if step is not None:
        # A delegated task ("<step>.<node>.<n>"): its top-level step picks up at its round.
        top = step.split(".", 1)[0]
        if top not in plan.nodes:
            raise _UsageError(f"--from-step {step}: the flow has no node {top!r}")
        if top not in recorded.steps:
            raise _UsageError(f"--from-step {step}: the event log has no finished step {top!r}")
        reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
        forced = downstream(plan, top, reads)
        output = NO_EDIT if args.output is None else _parse_value(args.output, "--output")
        if top != step:
            try:
                resume[top] = recorded.resume_point(step, output)
            except EventLogError as exc:
                raise _UsageError(f"--from-step {step}: {exc}") from None
        elif output is not NO_EDIT:
            edited[step] = output
            forced.discard(step)
    reuse = ReusePlan(
        source_run=recorded.run_id,
        recorded=recorded.steps,
        forced=frozenset(forced),
        edited=edited,
        resume=resume,
    )
    return reuse, recorded.input


def _print_issues(issues: list[Any], err: TextIO) -> None:
    err.write(f"{len(issues)} problem(s):\n")
    for issue in issues:
        err.write(f"  - [{issue.code}] {issue}\n")


def _cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    issues = validate_graph(_load_json_file(args.flow))
    if args.json:
        out.write(
            json.dumps({"valid": not issues, "errors": [i.to_dict() for i in issues]}, indent=2)
            + "\n"
        )
    elif issues:
        _print_issues(issues, err)
    else:
        out.write("valid\n")
    return 1 if issues else 0


def _cmd_node_types(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    catalogue = default_registry.catalogue()
    if args.json:
        out.write(json.dumps(catalogue, indent=2) + "\n")
        return 0
    for entry in catalogue:
        outputs = ", ".join(entry["outputs"]) or "none"
        if entry["dynamic_outputs"]:
            outputs += f" (+ one per {entry['dynamic_outputs']})"
        out.write(f"{entry['type']} — {entry['label']} [{entry['category']}]\n")
        out.write(f"  {entry['description']}\n")
        out.write(f"  inputs: {', '.join(entry['inputs']) or 'none'}; outputs: {outputs}\n")
        out.write(
            "  settings schema: " + json.dumps(entry["config_schema"], sort_keys=True) + "\n\n"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a flow in this process, printing every event")
    run.add_argument("flow", help="the flow's graph JSON file (- for stdin)")
    run.add_argument("--input", help="the run input as JSON, or @file.json")
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.add_argument(
        "--reuse",
        metavar="LOG",
        help="an earlier run's event log (--json output, or the events API's page): reuse "
        "every step whose node, settings and input are unchanged",
    )
    run.add_argument(
        "--from-step", metavar="STEP", help="with --reuse: execute this step and all after it"
    )
    run.add_argument(
        "--output",
        metavar="JSON",
        help="with --from-step: that step's output, edited (JSON or @file.json); what follows "
        "it executes",
    )
    run.add_argument(
        "--tools",
        metavar="FILE",
        help="a JSON file of MCP servers (by URL), HTTP tools and the credentials they name "
        "(values from environment variables) that the flow's tool references use",
    )
    add_budget_arguments(run)
    run.set_defaults(handler=_cmd_run)
    validate = commands.add_parser("validate", help="print every problem in a flow")
    validate.add_argument("flow")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(handler=_cmd_validate)
    node_types = commands.add_parser("node-types", help="print the node-type catalogue")
    node_types.add_argument("--json", action="store_true")
    node_types.set_defaults(handler=_cmd_node_types)
    return parser


def main(
    argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, out, err))
    except _UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2
