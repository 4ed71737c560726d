"""An HTTP API called as a tool: the model's arguments fill the URL, header and body templates;
the request goes through the outbound guard; the answer (status and body) is the tool's result.

A status outside 2xx is an error result naming the status and the start of the body, so the
model can read it and try otherwise; the step goes on either way.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from runtime.errors import StepError
from runtime.outbound import OutboundPolicy, guarded_async_client
from runtime.sandbox import compile_template
from runtime.secrets import Secret
from runtime.tools.credentials import auth_headers, scrub
from runtime.tools.specs import HttpToolSpec

MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_ERROR_BODY = 500
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class HttpToolError(Exception):
    """What the model reads when the call did not give an answer."""


def _render(source: str, arguments: dict[str, Any], where: str) -> str:
    try:
        return compile_template(source).render({**arguments, "args": arguments})
    except StepError as exc:
        raise HttpToolError(f"{where}: {exc}") from None


async def call_http_tool(
    spec: HttpToolSpec,
    arguments: dict[str, Any],
    *,
    secret: Secret | None,
    timeout: float,
    idempotency_key: str,
    policy: OutboundPolicy | None = None,
) -> tuple[bool, str]:
    """(ok, text): the response body (JSON as it came, or text), or why there is none."""
    url = _render(spec.url, arguments, "url").strip()
    headers = {k: _render(v, arguments, f"headers.{k}") for k, v in spec.headers.items()}
    content: str | None = None
    if spec.body:
        content = _render(spec.body, arguments, "body")
    elif spec.method in BODY_METHODS:
        content = json.dumps(arguments, ensure_ascii=False)
        headers.setdefault("Content-Type", "application/json")
    if not any(name.lower() == "idempotency-key" for name in headers):
        headers["Idempotency-Key"] = idempotency_key
    headers.update(auth_headers(secret))
    try:
        async with guarded_async_client(
            policy,
            timeout=httpx.Timeout(min(spec.timeout, timeout)),
            follow_redirects=True,
            max_response_bytes=MAX_RESPONSE_BYTES,
        ) as client:
            response = await client.request(spec.method, url, headers=headers, content=content)
    except httpx.TimeoutException:
        raise HttpToolError(f"no answer within {min(spec.timeout, timeout):g}s") from None
    except httpx.InvalidURL as exc:
        raise HttpToolError(f"the URL {url!r} is not valid: {exc}") from None
    except (httpx.RequestError, StepError) as exc:  # StepError: the guard's refusal, too large
        raise HttpToolError(scrub(f"the request failed: {exc}", secret)) from None
    text = scrub(response.text, secret)
    if not response.is_success:
        return False, f"HTTP {response.status_code}: {text[:MAX_ERROR_BODY]}"
    return True, text
