"""How real OpenAI-compatible servers refuse a feature, for the loopback vendor server.

A supplement to the tests against the real server (tests/runtime/test_real_server.py): these
imitate refusals of servers the test suite cannot run here. Each body is what the server sends,
as far as its source shows; the provider must recognise the refusal by the feature it names.

    server.respond_with(refusing({"json_schema"}, LLAMA_CPP_PYTHON_SCHEMA_REFUSAL))
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.support.vendor_server import HTTPError, RecordedRequest, Scripted

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
