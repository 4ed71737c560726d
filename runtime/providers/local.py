"""The offline ``local`` provider: deterministic answers, no network, no key, and not an AI.

It lets every example and test run with nothing installed. Its answers say plainly that they
come from an offline stand-in (:data:`LABEL`), so nobody mistakes them for a model's work. The
same request always gets the same answer, byte for byte.

What it answers, in this order:

1. **Tool calling.** When ``request.tools`` is non-empty and the last message is *not* a ``tool``
   result, it calls exactly one tool: the first tool (in ``request.tools`` order) whose name
   appears, case-insensitively, in the last user message, else the first tool. The arguments
   are :func:`~runtime.schema_instance.instance_for` of the tool's parameters schema with the
   user's text as the hint, so string arguments carry the user's text. The response has
   ``text == ""``, ``finish_reason == "tool_calls"`` and one :class:`ToolCall` whose id is
   ``"local_call_"`` plus 12 hex digits (stable for the same conversation).

   An argument named ``expression`` of type string (the ``calculator`` tool's) gets arithmetic
   instead of prose, by :func:`arithmetic_for` of the last user message: an expression written
   in the text if there is one, else one built from the numbers the text mentions.

   When the last message *is* a ``tool`` result, it answers in text (``finish_reason "stop"``):
   the usual labelled answer followed by ``"\\nTool results:\\n"`` and one line
   ``"- <tool name>: <result>"`` per trailing tool message. So a worker's tool loop ends after
   one round trip. (With a ``response_schema`` too, that text is the hint of the JSON answer.)

2. **Structured output.** When ``request.response_schema`` is given, the text is JSON that
   validates against it: :func:`~runtime.schema_instance.instance_for` of the schema, strings
   filled with the labelled answer. One schema shape gets a special answer, the **manager plan**::

       {"type": "object",
        "properties": {
            "subtasks": {"type": "array",
                         "items": {"type": "object",
                                   "properties": {"worker": {"enum": ["researcher", "writer"]},
                                                  "task": {"type": "string"}},
                                   "required": ["worker", "task"]}},
            "done": {"type": "boolean"},                    # optional
            "final_answer": {"type": ["string", "null"]}},  # optional ("string" alone is fine)
        "required": ["subtasks"]}

   ``$ref`` / ``$defs`` (as pydantic emits them), ``anyOf`` with null, and a one-worker
   ``const`` instead of ``enum`` are all understood; other properties get generic values. A
   schema this convention cannot satisfy (say a ``minLength`` on ``final_answer``) gets the
   generic instance instead, so the answer always validates.

   - **First round** (no user message starts with :data:`RESULTS_MARKER`): one subtask per
     worker in the enum, in enum order (at most the array's ``maxItems``), each with ``task`` =
     the last user message (stripped);
     ``done`` false; ``final_answer`` null when the schema allows null, else ``""``.
   - **Later rounds**: the manager node puts the results of the round it delegated into a
     *user* message whose content starts with ``"Results of round"`` (e.g. ``"Results of
     round 1:\\n..."``). When any user message starts with that marker (after leading
     whitespace), the answer is ``subtasks: []``, ``done: true`` and ``final_answer`` =
     :data:`FINAL_PREFIX` followed by every such message's content (stripped), in order, joined
     by a blank line.

3. **Anything else**: a short placeholder that says what a real model would be asked::

       <LABEL> Placeholder answer (#<digest>).
       As: <role>
       Asked: <task>
       A real model answers here: pick one in the node's Model setting.

   where role is the first line of the system prompt (at most 80 characters) and task the last
   user message with its whitespace collapsed, cut at :data:`TASK_CHARS`. Never an echo of a
   whole prompt: a manager's final answer lists each worker's placeholder by its first line.

Tokens are estimated at about four characters a token.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import re
from typing import Any

from runtime.providers.base import ChatMessage, ChatRequest, ChatResponse, ChunkCallback, ToolCall
from runtime.schema_instance import InstanceGenerator, instance_for

LABEL = "[local model: offline stand-in, not an AI]"
# A user message starting with this carries the results of a manager's earlier round.
RESULTS_MARKER = "Results of round"
FINAL_PREFIX = f"{LABEL} Final answer (placeholder): a real model would combine these results:\n"
# How much of the task a placeholder repeats: enough to recognise it, never the whole prompt.
TASK_CHARS = 160
REAL_MODEL_HINT = "A real model answers here: pick one in the node's Model setting."
# One result in a manager's results message (runtime.nodes.manager.results_message).
_RESULT_HEAD = re.compile(r"^## (?P<worker>\S+)(?P<failed> \[FAILED\])? \(task: ", re.MULTILINE)


def estimate_tokens(text: str) -> int:
    # The common rule of thumb for English text: about four characters a token.
    return max(1, (len(text) + 3) // 4) if text else 0


class LocalProvider:
    name = "local"

    def __init__(self, chunk_delay: float = 0.0) -> None:
        # A small delay between chunks makes streaming visible in demos; tests keep it at 0.
        self.chunk_delay = chunk_delay

    async def complete(
        self, request: ChatRequest, on_chunk: ChunkCallback | None = None
    ) -> ChatResponse:
        text, tool_calls = self._respond(request)
        if on_chunk is not None and text:
            words = text.split(" ")
            for index, word in enumerate(words):
                on_chunk(word if index == len(words) - 1 else word + " ")
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
        prompt = "\n".join(message.get("content", "") for message in request.messages)
        output = text + "".join(call["name"] + json.dumps(call["arguments"]) for call in tool_calls)
        return ChatResponse(
            text=text,
            model=f"local/{request.model}",
            tokens_in=estimate_tokens(prompt),
            tokens_out=estimate_tokens(output),
            finish_reason="tool_calls" if tool_calls else "stop",
            tool_calls=tool_calls,
        )

    def _respond(self, request: ChatRequest) -> tuple[str, list[ToolCall]]:
        messages = request.messages
        last_is_tool_result = bool(messages) and messages[-1]["role"] == "tool"
        if request.tools and not last_is_tool_result:
            return "", [_tool_call(request)]

        text = self._answer(request)
        if last_is_tool_result:
            text += "\nTool results:\n" + "\n".join(
                f"- {name}: {content}" for name, content in _trailing_tool_results(messages)
            )
        if request.response_schema is not None:
            value = structured_answer(request.response_schema, messages, hint=text)
            return json.dumps(value, ensure_ascii=False), []
        return text, []

    def _answer(self, request: ChatRequest) -> str:
        system = next((m.get("content", "") for m in request.messages if m["role"] == "system"), "")
        user = _last_user(request.messages)
        digest = hashlib.sha256((system + "\n" + user).encode()).hexdigest()[:8]
        role = system.splitlines()[0][:80] if system else "assistant"
        return (
            f"{LABEL} Placeholder answer (#{digest}).\nAs: {role}\nAsked: {_short(user)}\n"
            + REAL_MODEL_HINT
        )


def _short(text: str, limit: int = TASK_CHARS) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _summary(text: str) -> str:
    """One line for a worker's answer: its first line, or what a JSON answer holds."""
    if not text:
        return "(no answer)"
    try:
        value = json.loads(text)
    except ValueError:
        return _short(text.splitlines()[0], 120)
    if isinstance(value, dict):
        return _short("answered JSON with " + ", ".join(map(str, list(value)[:6])), 120)
    if isinstance(value, list):
        return f"answered a JSON list of {len(value)}"
    return _short(json.dumps(value), 120)


def final_answer(results: list[str]) -> str:
    """A manager's placeholder final answer: one line per worker result of every round (its
    first line after the label), not the results messages over again."""
    lines = []
    for message in results:
        heads = list(_RESULT_HEAD.finditer(message))
        if not heads:  # a results message in another shape: what follows its first line, cut
            lines.append(f"- {_short(message.partition(':')[2] or message, 200)}")
        for index, head in enumerate(heads):
            end = heads[index + 1].start() if index + 1 < len(heads) else len(message)
            # the result: after its header line, up to the next result's header
            body = message[head.end() : end].split("\n", 1)
            text = (body[1] if len(body) > 1 else "").strip().removeprefix(LABEL).strip()
            asked = next((ln for ln in text.splitlines() if ln.startswith("Asked: ")), None)
            mark = " (failed)" if head.group("failed") else ""
            if asked is not None:  # another placeholder: what its worker was asked
                said = f"was asked: {_short(asked.removeprefix('Asked: '), 120)}"
            else:
                said = _summary(text)
            lines.append(
                f"- {head.group('worker')}{mark} {said}"
                if asked
                else f"- {head.group('worker')}{mark}: {said}"
            )
    return FINAL_PREFIX + "\n".join(lines)


# -- tool calling ----------------------------------------------------------------------------------


def _tool_call(request: ChatRequest) -> ToolCall:
    user = _last_user(request.messages)
    lowered = user.lower()
    tool = next((t for t in request.tools if t.name.lower() in lowered), request.tools[0])
    arguments = instance_for(tool.parameters or {"type": "object"}, user)
    if not isinstance(arguments, dict):
        arguments = {}
    if _takes_expression(tool.parameters):
        # Prose in an arithmetic argument only ever earns a parse error from the tool; the demos
        # should show the tool computing something from the figures in the task.
        arguments["expression"] = arithmetic_for(user)
    seed = json.dumps([len(request.messages), tool.name, arguments, user], sort_keys=True)
    call_id = "local_call_" + hashlib.sha256(seed.encode()).hexdigest()[:12]
    return {"id": call_id, "name": tool.name, "arguments": arguments}


def _takes_expression(parameters: Any) -> bool:
    if not isinstance(parameters, dict):
        return False
    generator = InstanceGenerator(parameters)
    resolved = generator.resolve(parameters)
    properties = resolved.get("properties") if isinstance(resolved, dict) else None
    if not isinstance(properties, dict) or "expression" not in properties:
        return False
    expression = generator.resolve(properties["expression"])
    return isinstance(expression, dict) and generator.type_of(expression) == "string"


# A number as prose writes it: 12, 2.4, 1,840,000 or 0.5, but not the digits inside a word or a
# version (Q3, p95, v2.14.0) nor a date's pieces glued to letters.
_NUMBER = r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?!\w)(?!\.\d)"
_TOKENS = re.compile(
    rf"(?P<number>{_NUMBER})|(?P<operator>[-+*/×÷^])|(?P<paren>[()])|(?P<space>[ \t]+)"
    r"|(?P<other>.)",  # a newline is "other": an expression does not run across lines
    re.DOTALL,
)
# Dates and clock times are labels, not quantities: their pieces are left out of a built total.
_DATES_AND_TIMES = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")
_OPERATORS = {"×": "*", "÷": "/", "^": "**"}
# Words that ask for a change between two figures rather than their total.
_CHANGE = re.compile(
    r"\b(?:grow(?:s|th|n)?|grew|chang(?:e|es|ed)|increas(?:e|es|ed)|decreas(?:e|es|ed)|ris(?:e|es|en)"
    r"|rose|fall(?:s|en)?|fell|drop(?:s|ped)?|percent(?:age)?)\b|%",
    re.IGNORECASE,
)
_MAX_TERMS = 20  # of a built total: the calculator takes at most 500 characters


def arithmetic_for(text: str) -> str:
    """A valid arithmetic expression for ``text``, the same for the same text.

    1. An expression the text already holds (numbers joined by ``+ - * / × ÷ ^`` and brackets,
       such as ``(1200 - 950) / 950`` or ``100/100``): the one with the most numbers, the first
       of equals. A range such as ``3-5`` reads as a subtraction; dates do not parse and are
       skipped.
    2. Else, from the numbers it mentions: with words of change (growth, increase, fell, %…) the
       percent change from the second-to-last to the last, ``(b - a) / a * 100`` (``b - a`` when
       ``a`` is 0); otherwise their total (the first 20). Dates and clock times do not count.
       One number is itself; none is ``0``.
    """
    written = _written_expression(text)
    if written is not None:
        return written
    quantities = _DATES_AND_TIMES.sub(" ", text)
    numbers = [_literal(match.group(0)) for match in re.finditer(_NUMBER, quantities)]
    if not numbers:
        return "0"
    if len(numbers) == 1:
        return numbers[0]
    if _CHANGE.search(text):
        before, after = numbers[-2], numbers[-1]
        if float(before) == 0:
            return f"{after} - {before}"
        return f"({after} - {before}) / {before} * 100"
    return " + ".join(numbers[:_MAX_TERMS])


def _literal(number: str) -> str:
    """A number as a Python literal: no thousands commas, no leading zeros (which do not parse)."""
    plain = number.replace(",", "")
    whole, dot, fraction = plain.partition(".")
    return (whole.lstrip("0") or "0") + dot + fraction


def _written_expression(text: str) -> str | None:
    best: tuple[int, str] | None = None
    run: list[tuple[str, str]] = []
    for match in _TOKENS.finditer(text + "\n"):
        kind = match.lastgroup or "other"
        if kind != "other":
            run.append((kind, match.group(0)))
            continue
        candidate = _as_expression(run)
        run = []
        if candidate is not None and (best is None or candidate[0] > best[0]):
            best = candidate
    return best[1] if best is not None else None


def _as_expression(run: list[tuple[str, str]]) -> tuple[int, str] | None:
    """(how many numbers, the expression) when a run of tokens is arithmetic, else None."""
    numbers = sum(1 for kind, _ in run if kind == "number")
    if numbers < 2 or not any(kind == "operator" for kind, _ in run):
        return None
    # Numbers keep their own spelling here (commas aside): 2025-01-01 must fail to parse, not
    # become 2025 - 1 - 1.
    source = "".join(
        token.replace(",", "")
        if kind == "number"
        else _OPERATORS.get(token, token)
        if kind == "operator"
        else token
        for kind, token in run
    ).strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return None
    # Brackets after a number parse as a call ("3 (4)"); only plain arithmetic will do.
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)
    if not all(isinstance(node, allowed) for node in ast.walk(tree)):
        return None
    return numbers, source


def _trailing_tool_results(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """(tool name, result) of the tool messages at the end of the conversation, in order."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls", []):
            names[call["id"]] = call["name"]
    results: list[tuple[str, str]] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        call_id = message.get("tool_call_id", "")
        name = message.get("name") or names.get(call_id) or call_id or "tool"
        results.append((name, message.get("content", "")))
    return results[::-1]


def _last_user(messages: list[ChatMessage]) -> str:
    return next((m.get("content", "") for m in reversed(messages) if m["role"] == "user"), "")


# -- structured output -----------------------------------------------------------------------------


def structured_answer(schema: dict[str, Any], messages: list[ChatMessage], hint: str) -> Any:
    """The JSON answer for a response schema: a manager plan when the schema is one, else
    :func:`instance_for` of it."""
    plan = _plan_answer(schema, messages)
    return plan if plan is not None else instance_for(schema, hint)


def _plan_answer(schema: dict[str, Any], messages: list[ChatMessage]) -> dict[str, Any] | None:
    generator = InstanceGenerator(schema)
    root = generator.resolve(schema)
    properties = root.get("properties") if isinstance(root, dict) else None
    if not isinstance(properties, dict) or "subtasks" not in properties:
        return None
    subtasks = generator.resolve(properties["subtasks"])
    items = generator.resolve(subtasks.get("items", {})) if isinstance(subtasks, dict) else {}
    item_properties = items.get("properties") if isinstance(items, dict) else None
    if not isinstance(item_properties, dict) or not {"worker", "task"} <= set(item_properties):
        return None
    workers = _choices(generator, item_properties["worker"])
    if not workers:
        return None

    results = [
        m.get("content", "").strip()
        for m in messages
        if m["role"] == "user" and m.get("content", "").lstrip().startswith(RESULTS_MARKER)
    ]
    task = next(
        (
            m.get("content", "").strip()
            for m in reversed(messages)
            if m["role"] == "user" and not m.get("content", "").lstrip().startswith(RESULTS_MARKER)
        ),
        "",
    )
    plan = instance_for(schema, task)
    if not isinstance(plan, dict):
        return None
    max_items = subtasks.get("maxItems") if isinstance(subtasks, dict) else None
    if isinstance(max_items, int):
        workers = workers[:max_items]
    finals: list[str | None]
    if results:
        plan["subtasks"] = []
        done, finals = True, [final_answer(results)]
    else:
        plan["subtasks"] = [
            {**_as_dict(instance_for(items, task, root=schema)), "worker": worker, "task": task}
            for worker in workers
        ]
        done, finals = False, [None, ""]
    if "done" in properties:
        plan["done"] = done
    if "final_answer" in properties:
        # The first final answer the schema accepts: null where allowed, else an empty string.
        for final in finals:
            if generator.valid({**plan, "final_answer": final}, schema):
                plan["final_answer"] = final
                break
    # A schema with constraints this convention cannot meet gets a generic (valid) instance.
    return plan if generator.valid(plan, schema) else None


def _choices(generator: InstanceGenerator, schema: Any) -> list[Any]:
    """The values an enum-like schema allows: ``enum``, ``const``, or ``anyOf`` of those."""
    schema = generator.resolve(schema)
    if not isinstance(schema, dict):
        return []
    if isinstance(schema.get("enum"), list):
        return [value for value in schema["enum"] if value is not None]
    if "const" in schema:
        return [schema["const"]]
    values: list[Any] = []
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or []:
            values.extend(v for v in _choices(generator, option) if v not in values)
    return values


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
