"""The MCP SDK's HTTP traffic through the one guarded client (:mod:`runtime.outbound`).

The official ``mcp`` SDK speaks HTTP with ``httpx2`` and takes an ``httpx2.AsyncClient`` for its
streamable-HTTP transport. That client gets :class:`GuardedBridge` as its transport: every
request it would send is sent by our guarded ``httpx`` client instead, so an MCP server URL a
workspace member typed is resolved, checked (loopback, private, metadata addresses refused
unless the operator allows them) and connected to exactly like an HTTP request node's, and its
responses are size-capped. Bodies stream both ways (the SDK reads server-sent events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import httpx2

from runtime.outbound import (
    OutboundPolicy,
    OutboundRefused,
    ResponseTooLarge,
    guarded_async_client,
)

# One server-sent event or JSON answer larger than this is refused; a tool result is capped far
# lower by the worker's own limit, this only keeps a server from filling the memory.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class _BridgedStream(httpx2.AsyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise httpx2.ReadTimeout(str(exc)) from None
        except httpx.RequestError as exc:
            raise httpx2.ReadError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        await self._response.aclose()


class GuardedBridge(httpx2.AsyncBaseTransport):
    """An httpx2 transport that sends each request with the guarded httpx client."""

    def __init__(self, policy: OutboundPolicy | None = None) -> None:
        # No timeout here: the SDK sets its own per request, and the tool call has its limit.
        self._client = guarded_async_client(
            policy,
            timeout=httpx.Timeout(None),
            follow_redirects=False,  # the SDK follows redirects itself, within the origin
            max_response_bytes=MAX_RESPONSE_BYTES,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        outgoing = self._client.build_request(
            request.method,
            str(request.url),
            headers=list(request.headers.multi_items()),
            content=body or None,
        )
        try:
            response = await self._client.send(outgoing, stream=True)
        except (OutboundRefused, ResponseTooLarge) as exc:
            # The SDK reports transport errors by class: a refusal is a failed connection.
            raise httpx2.ConnectError(str(exc)) from None
        except httpx.ConnectTimeout as exc:
            raise httpx2.ConnectTimeout(str(exc) or "connect timeout") from None
        except httpx.TimeoutException as exc:
            raise httpx2.ReadTimeout(str(exc) or "timeout") from None
        except httpx.ConnectError as exc:
            raise httpx2.ConnectError(str(exc) or "connection failed") from None
        except httpx.RequestError as exc:
            raise httpx2.ReadError(f"{type(exc).__name__}: {exc}") from None
        return httpx2.Response(
            response.status_code,
            headers=list(response.headers.multi_items()),
            stream=_BridgedStream(response),
            request=request,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def guarded_mcp_client(
    headers: dict[str, str] | None = None, policy: OutboundPolicy | None = None
) -> httpx2.AsyncClient:
    """The ``httpx2.AsyncClient`` the SDK's streamable-HTTP transport gets."""
    return httpx2.AsyncClient(
        transport=GuardedBridge(policy),
        headers=headers,
        timeout=httpx2.Timeout(None),
        trust_env=False,
    )
