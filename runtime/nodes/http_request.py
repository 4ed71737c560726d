"""``http_request``: call an HTTP API from a flow (n8n's "HTTP Request" node).

The URL, query values, header values and body are templates over earlier results, rendered in the
same sandbox as every other template. The request goes through :mod:`runtime.outbound`, so a URL
a user typed cannot reach loopback, the private network or the metadata endpoint unless the
operator's ``OUTBOUND_ALLOWLIST`` admits it. A credential is named, never written into settings;
its value is added as a header at send time and scrubbed from the output and from any error.

Output: ``{"status", "headers", "body"}``, the body parsed as JSON when the response says it is
JSON. A non-2xx status fails the step (unless ``fail_on_status`` is off): 408, 429 and 5xx as
retryable, the rest as permanent, so the node's retry policy and ``error`` handle apply.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from runtime.errors import (
    NodeConfigError,
    PermanentError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RetryableError,
    StepError,
    TemplateError,
)
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.outbound import OutboundPolicy, guarded_async_client
from runtime.retry import RetryPolicy
from runtime.sandbox import compile_template
from runtime.secrets import REDACTED, Secret

CREDENTIAL_KINDS = ("http_bearer", "http_header")
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
# How much of an error response's body goes into the step's error message.
MAX_ERROR_BODY = 300


class HTTPRequestConfig(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        default="GET", title="Method"
    )
    url: str = Field(
        min_length=1,
        max_length=8_000,
        title="URL",
        description="http(s) URL; a template over input, nodes.<id>.output and upstream",
        json_schema_extra={"widget": "template"},
    )
    query: dict[str, str] = Field(
        default_factory=dict,
        title="Query parameters",
        description="Name → value (each value a template); added to the URL's own",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        title="Headers",
        description="Name → value (each value a template). Put tokens in a credential instead",
    )
    body_type: Literal["none", "json", "text"] = Field(
        default="none",
        title="Body",
        description="json: the rendered body must be JSON and is sent as application/json",
    )
    body: str = Field(
        default="",
        max_length=100_000,
        title="Body template",
        description="The request body, a template (e.g. {{ upstream | tojson }})",
        json_schema_extra={"widget": "template"},
    )
    credential: str | None = Field(
        default=None,
        title="Credential",
        description="An http_bearer or http_header credential of the workspace, by name",
        json_schema_extra={"format": "credential", "credential_kinds": list(CREDENTIAL_KINDS)},
    )
    timeout: float = Field(default=30.0, gt=0, le=600, title="Timeout (s)")
    fail_on_status: bool = Field(
        default=True,
        title="Fail on error status",
        description="A status outside 2xx fails the step (retried for 408, 429 and 5xx)",
    )
    response_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        title="Response",
        description="auto: JSON when the Content-Type says so, else text",
    )
    follow_redirects: bool = Field(default=True, title="Follow redirects")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or any(ch in name for ch in " :\r\n\t"):
                raise ValueError(f"{name!r} is not a valid header name")
        return value


class _StatusError(StepError):
    """An error that carries the HTTP status the server answered with (in its dict, too)."""

    code = "http_status"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "status": self.status}


class HTTPStatusError(_StatusError, PermanentError):
    """The server answered with a status outside 2xx."""


class RetryableHTTPStatusError(_StatusError, RetryableError):
    """408, 429 or 5xx: the same request may well succeed later."""


def _render(source: str, ctx: StepContext, field: str) -> str:
    try:
        return compile_template(source).render(ctx.scope)
    except TemplateError as exc:
        raise TemplateError(f"{field}: {exc}") from None


def _auth_headers(secret: Secret) -> dict[str, str]:
    if secret.kind == "http_bearer":
        return {"Authorization": f"Bearer {secret.value}"}
    header = secret.config.get("header")
    if not isinstance(header, str) or not header:
        raise NodeConfigError(f"credential {secret.name!r} names no header to send")
    return {header: secret.value}


def _scrub(value: Any, secret: Secret | None) -> Any:
    """``value`` with the secret's value replaced wherever a server echoed it back."""
    if secret is None or not secret.value:
        return value
    if isinstance(value, str):
        return value.replace(secret.value, REDACTED)
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    if isinstance(value, dict):
        return {_scrub(k, secret): _scrub(v, secret) for k, v in value.items()}
    return value


def _parse_body(response: httpx.Response, mode: str) -> Any:
    if response.request.method == "HEAD" or not response.content:
        return None if mode != "text" else ""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    wants_json = mode == "json" or (
        mode == "auto" and (content_type == "application/json" or content_type.endswith("+json"))
    )
    if wants_json:
        try:
            return json.loads(response.content)
        except ValueError:
            if mode == "json":
                raise PermanentError("the response is not valid JSON") from None
    return response.text


class HTTPRequestNode(NodeType[HTTPRequestConfig]):
    type = "http_request"
    label = "HTTP request"
    category = "integrations"
    description = "Calls an HTTP API: templated URL, query, headers and body; JSON or text back."
    config_model = HTTPRequestConfig
    has_error_handle = True

    def templates(self, config: HTTPRequestConfig) -> dict[str, str]:
        found = {"url": config.url}
        found.update({f"query.{k}": v for k, v in config.query.items()})
        found.update({f"headers.{k}": v for k, v in config.headers.items()})
        if config.body_type != "none":
            found["body"] = config.body
        return found

    async def run(self, ctx: StepContext, config: HTTPRequestConfig) -> NodeResult:
        secret = ctx.services.secrets.get(config.credential) if config.credential else None
        if secret is not None and secret.kind not in CREDENTIAL_KINDS:
            raise NodeConfigError(
                f"credential {secret.name!r} is a {secret.kind} credential; "
                f"an HTTP request needs {' or '.join(CREDENTIAL_KINDS)}"
            )
        try:
            return await self._send(ctx, config, secret)
        except StepError as exc:
            # A server may echo the credential into an error body we quote: scrub the message.
            if secret is not None and secret.value and secret.value in str(exc):
                exc.args = (_scrub(str(exc), secret),)
            exc.__suppress_context__ = True  # httpx errors in the context carry the headers
            raise

    async def _send(
        self, ctx: StepContext, config: HTTPRequestConfig, secret: Secret | None
    ) -> NodeResult:
        url = _render(config.url, ctx, "url").strip()
        params = {k: _render(v, ctx, f"query.{k}") for k, v in config.query.items()}
        headers = {k: _render(v, ctx, f"headers.{k}") for k, v in config.headers.items()}
        content: str | None = None
        if config.body_type != "none":
            content = _render(config.body, ctx, "body")
            if config.body_type == "json":
                try:
                    json.loads(content)
                except ValueError as exc:
                    raise TemplateError(f"body: the rendered body is not JSON: {exc}") from None
                headers.setdefault("Content-Type", "application/json")
            else:
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        if not any(name.lower() == "idempotency-key" for name in headers):
            # Every attempt of the step sends the same key (see README, "At least once").
            headers["Idempotency-Key"] = ctx.idempotency_key
        if secret is not None:
            headers.update(_auth_headers(secret))  # last: a settings header cannot replace it
        try:
            request_url = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise NodeConfigError(f"url: {url!r} is not a valid URL: {exc}") from None
        if request_url.scheme not in ("http", "https") or not request_url.host:
            raise NodeConfigError(f"url: {url!r} must be an http:// or https:// URL with a host")

        policy = OutboundPolicy.from_env()
        try:
            async with guarded_async_client(
                policy,
                timeout=httpx.Timeout(config.timeout),
                follow_redirects=config.follow_redirects,
                max_response_bytes=MAX_RESPONSE_BYTES,
            ) as client:
                response = await client.request(
                    config.method,
                    request_url,
                    params=params or None,
                    headers=headers,
                    content=content,
                )
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(
                f"{request_url.host}: no answer within {config.timeout:g}s ({type(exc).__name__})"
            ) from None
        except httpx.TooManyRedirects:
            raise PermanentError(f"{request_url.host}: too many redirects") from None
        except httpx.RequestError as exc:
            # "from None": httpx errors carry the request, credential header included.
            raise ProviderUnavailableError(
                f"{request_url.host}: request failed: {type(exc).__name__}: {exc}"
            ) from None

        if config.fail_on_status and not response.is_success:
            status = response.status_code
            snippet = response.text[:MAX_ERROR_BODY].strip()
            message = f"HTTP {status} from {response.url.host}" + (
                f": {snippet}" if snippet else ""
            )
            if status in RETRYABLE_STATUSES or status >= 500:
                raise RetryableHTTPStatusError(message, status)
            raise HTTPStatusError(message, status)
        output = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": _parse_body(response, config.response_format),
        }
        return Complete(_scrub(output, secret))
