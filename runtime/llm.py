"""Model calls on behalf of a step.

- :func:`chat`: one call. Resolves a tier name to a model (budget-aware,
  :mod:`runtime.model_tiers`), streams, counts tokens and cost into ``ctx.usage`` and charges the
  run's budget.
- :func:`chat_with_fallback`: the same over a chain of models; a model that is down, slow, rate
  limited, refuses our key or has no provider configured hands over to the next.
- :func:`chat_json` / :func:`repair_json`: an answer that must be JSON matching a JSON Schema,
  re-asked with the validation error when it is not.

Every call any of these makes goes through :func:`chat`, so every token is counted once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema
from jsonschema.exceptions import best_match

from runtime import telemetry
from runtime.budget import Budget
from runtime.errors import (
    NodeConfigError,
    OutputSchemaError,
    ProviderAuthError,
    RetryableError,
    StepError,
)
from runtime.providers.base import ChatMessage, ChatRequest, ChatResponse, ToolSpec
from runtime.providers.capabilities import schema_instruction
from runtime.secrets import SecretNotFound, redact
from runtime.services import Services, routing_policy
from runtime.usage import Usage, cost_of

# Errors of one model that another model may not have: it is down, slow, rate limited, or our key
# for that vendor is wrong. A bad request or an unparseable answer would fail the same way again.
FALLBACK_ERRORS: tuple[type[StepError], ...] = (RetryableError, ProviderAuthError)


class ModelCallContext(Protocol):
    """What a model call needs of the step it is made for. A node passes its
    :class:`~runtime.nodes.base.StepContext`; naming only these keeps this module below the node
    types that call it."""

    @property
    def services(self) -> Services: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def budget(self) -> Budget | None: ...

    @property
    def emit_chunk(self) -> Callable[[str], None]: ...


def choose_model(ctx: ModelCallContext, model: str | None) -> str:
    """The model id to call for a setting that is a model id, a tier name or empty (default)."""
    chosen = routing_policy(ctx.services).choose(model, ctx.budget)
    return chosen or ctx.services.default_model


async def chat(
    ctx: ModelCallContext,
    model: str | None,
    messages: list[ChatMessage],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
    stream: bool = True,
    tools: Sequence[ToolSpec] = (),
    response_schema: dict[str, Any] | None = None,
    credential: str | None = None,
) -> ChatResponse:
    """One call. ``credential`` names the workspace credential whose key to send (a node's
    ``credential`` setting); see :meth:`runtime.services.Services.resolve_call`."""
    if ctx.budget is not None:
        ctx.budget.check()  # spent by another step already: no new call
    target = ctx.services.resolve_call(choose_model(ctx, model), credential or None)
    provider, full_model = target.provider, target.model
    # The catalogue's entry may set the model's capabilities (CatalogueEntry); a plain price
    # leaves them to the provider, which detects them.
    price = ctx.services.price(full_model)
    request = ChatRequest(
        model=target.vendor_model,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        stream=stream,
        timeout=timeout,
        tools=list(tools),
        response_schema=response_schema,
        structured_output=getattr(price, "structured_output", None),
        stream_usage=getattr(price, "stream_usage", None),
        tools_mode=getattr(price, "tools", None),
    )
    with telemetry.model_call(
        full_model, target.vendor_model, temperature=temperature, max_tokens=max_tokens
    ) as span:
        try:
            response = await provider.complete(request, ctx.emit_chunk if stream else None)
        except StepError as exc:
            if target.secret is not None:
                # Providers already keep their key out of messages; this also covers a vendor
                # (or a proxy) that echoes it in some other wrapping. The message becomes the
                # step's error.
                exc.args = tuple(
                    redact(arg, [target.secret]) if isinstance(arg, str) else arg
                    for arg in exc.args
                )
            raise
        cost = cost_of(price, response.tokens_in, response.tokens_out)
        telemetry.model_answered(
            span,
            response.model,
            response.tokens_in,
            response.tokens_out,
            cost,
            response.finish_reason,
        )
    ctx.usage.add(full_model, response.tokens_in, response.tokens_out, cost)
    if ctx.budget is not None:
        ctx.budget.charge(response.tokens_in + response.tokens_out, cost)
        ctx.budget.check()
    return response


@dataclass(frozen=True, slots=True)
class Answer:
    response: ChatResponse
    model: str  # the model id that answered
    fell_back: tuple[dict[str, Any], ...] = ()  # models tried first: {"model", "error"}

    @property
    def text(self) -> str:
        return self.response.text


def _provider_missing(ctx: ModelCallContext, model: str) -> bool:
    prefix, sep, _ = model.partition("/")
    providers = getattr(ctx.services, "providers", {})
    return bool(sep) and prefix not in providers


async def chat_with_fallback(
    ctx: ModelCallContext,
    models: Sequence[str | None],
    messages: list[ChatMessage],
    **options: Any,
) -> Answer:
    """Ask the first model; on an error another model may not have, ask the next one.

    ``models`` are model ids or tier names (the primary first). When every one fails, the last
    error is raised, its message naming what the others said; its class (retryable or not)
    decides whether the step's retry policy tries the whole chain again.
    """
    chain = list(dict.fromkeys(choose_model(ctx, model) for model in models or [None]))
    failures: list[tuple[str, StepError]] = []
    for model in chain:
        try:
            response = await chat(ctx, model, messages, **options)
        except FALLBACK_ERRORS as exc:
            failures.append((model, exc))
            continue
        except NodeConfigError as exc:
            # A credential the node names but the workspace lacks is the node's mistake: the
            # next model must not quietly run without it.
            if isinstance(exc, SecretNotFound) or not _provider_missing(ctx, model):
                raise
            failures.append((model, exc))
            continue
        fell_back = tuple({"model": m, "error": e.to_dict()} for m, e in failures)
        return Answer(response, model, fell_back)
    last_model, last = failures[-1]
    if len(failures) > 1:
        others = "; ".join(f"{m}: {e}" for m, e in failures[:-1])
        last.args = (f"{last_model}: {last} (every model failed; before it {others})",)
    raise last


# -- JSON answers ---------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def parse_json(text: str) -> Any:
    """The JSON value in a model's answer: the whole text, or one fenced or embedded block."""
    candidates = [text.strip()]
    fenced = _FENCE.match(text)
    if fenced:
        candidates.append(fenced.group(1).strip())
    # The value embedded in prose: from the first bracket that opens to the last one of its kind
    # that closes. Only that one: inside a broken object, a list it holds is not the answer.
    starts = [(text.find(opening), opening, closing) for opening, closing in ("{}", "[]")]
    found = [item for item in starts if item[0] >= 0]
    if found:
        start, _, closing = min(found)
        end = text.rfind(closing)
        if start < end:
            candidates.append(text[start : end + 1])
    error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            # strict=False: a raw newline or tab inside a string is taken as it is. Models write
            # them, and grammar-constrained servers (llama.cpp's JSON grammar) let them through.
            return json.loads(candidate, strict=False)
        except json.JSONDecodeError as exc:
            error = error or exc
    detail = f"{error.msg} at line {error.lineno} column {error.colno}" if error else "empty"
    raise ValueError(f"the answer is not JSON ({detail})")


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """The most relevant way ``value`` violates ``schema``, or None when it is valid."""
    validator = jsonschema.Draft202012Validator(schema)
    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = error.json_path
    return error.message if where == "$" else f"{error.message} (at {where})"


def check_json(text: str, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """(value, None) when ``text`` is JSON valid against ``schema``; (None, problem) otherwise."""
    try:
        value = parse_json(text)
    except ValueError as exc:
        return None, str(exc)
    problem = schema_problem(value, schema) if schema is not None else None
    return (None, problem) if problem else (value, None)


def json_instruction(schema: dict[str, Any] | None) -> str:
    """The prompt's JSON instruction (the same text a provider adds in the instructions mode)."""
    return schema_instruction(schema)


def repair_message(problem: str, schema: dict[str, Any] | None) -> str:
    text = f"Your answer is not valid: {problem}.\nAnswer again with the corrected JSON only."
    if schema is not None:
        text += "\nIt must match this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    return text


async def repair_json(
    ctx: ModelCallContext,
    models: Sequence[str | None],
    messages: list[ChatMessage],
    answer: Answer,
    schema: dict[str, Any] | None,
    *,
    max_repairs: int,
    what: str = "answer",
    **options: Any,
) -> tuple[Any, Answer]:
    """Validate ``answer``; while it is invalid, show the model its error and ask again.

    ``messages`` is the conversation that produced ``answer``; it is extended with each invalid
    answer and the repair request. Raises OutputSchemaError after ``max_repairs`` failed repairs.
    """
    for repairs in range(max_repairs + 1):
        value, problem = check_json(answer.text, schema)
        if problem is None:
            return value, answer
        if repairs == max_repairs:
            tail = f" after {max_repairs} repair(s)" if max_repairs else ""
            raise OutputSchemaError(f"the {what} is not valid{tail}: {problem}{_why(answer)}")
        messages.append({"role": "assistant", "content": answer.text})
        messages.append({"role": "user", "content": repair_message(problem, schema)})
        answer = await chat_with_fallback(ctx, models, messages, response_schema=schema, **options)
    raise AssertionError("unreachable")  # pragma: no cover


def _why(answer: Answer) -> str:
    """What the last answer says about why it is not valid JSON, beyond the schema's complaint."""
    response = answer.response
    if response.finish_reason == "length":
        return " (the answer was cut off at its max_tokens limit: raise the node's max_tokens)"
    if response.structured_output == "instructions":
        return (
            " (this server was asked for JSON by instructions only, which the model did not "
            "follow: a model that follows them better, or the json_object mode where the server "
            "supports it, helps)"
        )
    return ""


async def chat_json(
    ctx: ModelCallContext,
    models: Sequence[str | None],
    messages: list[ChatMessage],
    schema: dict[str, Any] | None,
    *,
    max_repairs: int = 2,
    what: str = "answer",
    **options: Any,
) -> tuple[Any, Answer]:
    """Ask for JSON matching ``schema`` (structured output), repairing invalid answers."""
    answer = await chat_with_fallback(ctx, models, messages, response_schema=schema, **options)
    return await repair_json(
        ctx, models, messages, answer, schema, max_repairs=max_repairs, what=what, **options
    )
