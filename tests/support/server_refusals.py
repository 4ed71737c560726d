"""How real OpenAI-compatible servers refuse a feature, for the loopback vendor server.

A supplement to the tests against the real server (tests/runtime/test_real_server.py): these
imitate refusals of servers the test suite cannot run here. Each body is what the server sends,
as far as its source shows; the provider must recognise the refusal by the feature it names.

    server.respond_with(refusing({"json_schema"}, LLAMA_CPP_PYTHON_SCHEMA_REFUSAL))
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.support.vendor_server import HTTPError, RecordedRequest, Scripted, ToolCalls

# llama-cpp-python 0.3.36's server (its request model takes response_format type "text" or
# "json_object" only): a 500 with the validation error as the message, as it sends it.
LLAMA_CPP_PYTHON_SCHEMA_REFUSAL = HTTPError(
    500,
    body=json.dumps(
        {
            "error": {
                "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
                "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
                "'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n"
                '  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n'
                "    POST /v1/chat/completions",
                "type": "internal_server_error",
                "param": None,
                "code": None,
            }
        }
    ),
)

# LM Studio: json_schema only.
LM_STUDIO_OBJECT_REFUSAL = HTTPError(400, "'response_format.type' must be 'json_schema' or 'text'")

# A gateway in front of a model without constrained decoding (and older vLLM/Groq builds).
NO_RESPONSE_FORMAT = HTTPError(400, "response_format is not supported by this model")

# OpenAI-style proxies and Azure's older API versions: stream_options is unknown.
STREAM_OPTIONS_REFUSAL = HTTPError(
    400, "Unrecognized request argument supplied: stream_options", error_type="invalid_request"
)


def refusing(
    formats: set[str], refusal: HTTPError, then: Scripted | None = None
) -> Callable[[RecordedRequest], Scripted | None]:
    """A responder that refuses requests whose response_format type is in ``formats`` (and
    requests with stream_options when "stream_options" is among them); others get ``then``
    (None: the server's echo)."""

    def respond(request: RecordedRequest) -> Scripted | None:
        body = request.body if isinstance(request.body, dict) else {}
        response_format = body.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind in formats or ("stream_options" in formats and "stream_options" in body):
            return refusal
        return then

    return respond


# Ollama, for a model whose template has no tools: a 400 naming them.
OLLAMA_TOOLS_REFUSAL = HTTPError(400, "registry.ollama.ai/library/gemma:2b does not support tools")

# vLLM started without tool parsing.
VLLM_TOOLS_REFUSAL = HTTPError(
    400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
)

# An OpenAI-compatible server answering for a model it does not serve (OpenAI's words and code).
UNKNOWN_MODEL = HTTPError(
    404,
    "The model `no-such-model` does not exist or you do not have access to it.",
    error_type="invalid_request_error",
)

# A key the server does not take.
BAD_KEY = HTTPError(401, "Incorrect API key provided.", error_type="invalid_request_error")


def refusing_each(
    refusals: dict[str, HTTPError], then: Scripted | None = None
) -> Callable[[RecordedRequest], Scripted | None]:
    """A responder for a server that refuses several features, each with its own error: keys are
    response_format types, "stream_options" and "tools"; the first feature a request carries
    that is among them (in that order) is refused; others get ``then`` (None: the echo)."""

    def respond(request: RecordedRequest) -> Scripted | None:
        body = request.body if isinstance(request.body, dict) else {}
        response_format = body.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        carried = [kind, "stream_options" if "stream_options" in body else None]
        carried.append("tools" if "tools" in body else None)
        for feature in carried:
            if feature in refusals:
                return refusals[feature]
        return then

    return respond


def calling_offered_tools(
    then: Callable[[RecordedRequest], Scripted | None] | None = None,
) -> Callable[[RecordedRequest], Scripted | None]:
    """A responder for a server whose chat template passes native tools to the model: a request
    that offers tools gets a call of the first one; others go to ``then`` (None: the echo)."""

    def respond(request: RecordedRequest) -> Scripted | None:
        body = request.body if isinstance(request.body, dict) else {}
        tools = body.get("tools")
        if isinstance(tools, list) and tools:
            return ToolCalls([{"name": tools[0]["function"]["name"], "arguments": {}}])
        return then(request) if then is not None else None

    return respond
