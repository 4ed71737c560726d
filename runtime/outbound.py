"""The one way the engine makes HTTP requests to addresses a user may have chosen.

A URL typed into a node's settings (an HTTP request node, a provider base URL in a workspace
credential) must not reach the machine's own services, the private network or the cloud metadata
endpoint (169.254.169.254) just because the server running the flow can. Every such request goes
through :func:`guarded_async_client`, which:

- resolves the host itself, checks *every* address it resolves to, and connects to a checked
  address (a custom httpcore network backend), so a name that resolves to a public address when
  checked and to 127.0.0.1 when connected (DNS rebinding) gains nothing; TLS still verifies the
  certificate and sends SNI for the host name, because httpcore takes those from the URL, not from
  the address we hand it;
- refuses loopback, private, link-local, unspecified, multicast, reserved and shared addresses, and
  the IPv6 spellings of them (IPv4-mapped, 6to4, NAT64, Teredo), unless the operator's allowlist
  admits the host or the address;
- checks each redirect hop the same way (every hop opens its connection through the same
  backend) and follows at most a few;
- speaks only http and https, ignores proxy settings from the environment (a proxy would make the
  connection-time check see the proxy instead of the target), asks for uncompressed bodies and
  stops reading a response past a size cap.

The allowlist is the operator's: ``OUTBOUND_ALLOWLIST``
(e.g. ``127.0.0.1,10.0.0.0/8,ollama.internal``) plus the hosts of ``OPENAI_BASE_URL`` and
``ANTHROPIC_BASE_URL``, which the operator set, not a user.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import typing
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpcore
import httpx
from opentelemetry import propagate

from runtime.errors import PermanentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWLIST_ENV = "OUTBOUND_ALLOWLIST"
# Provider base URLs the operator sets in the environment: their hosts are trusted as configured.
OPERATOR_URL_ENVS = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
ALLOWED_SCHEMES = frozenset({"http", "https"})

METADATA_ADDRESS = ipaddress.ip_address("169.254.169.254")
# NAT64 prefixes embed an IPv4 address in their last 32 bits (RFC 6052 well-known, RFC 8215 local).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutboundRefused(PermanentError):
    """A request to an address the policy does not admit; retrying cannot change the answer."""

    code = "outbound_refused"


# Called with the refusal's message whenever the guard refuses a request (the app counts them
# in its metrics); the engine itself keeps no count.
refusal_listeners: list[Callable[[str], None]] = []


class ResponseTooLarge(PermanentError):
    """A response body went past the size cap; the rest was not read."""

    code = "response_too_large"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, Teredo client)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address ("a loopback address", …), or None when it is."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner = address_problem(embedded)
        return f"{inner[: -len(' address')]} address in IPv6 form" if inner else None
    # Order matters: 0.0.0.0 and ::1 also count as "private" to ipaddress; name the sharper reason.
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip == METADATA_ADDRESS:
        return "the cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:  # before "private": ipaddress lists 240.0.0.0/4 among the private ones
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        # e.g. 100.64.0.0/10 (carrier-grade NAT): not private by the RFC, not reachable publicly.
        return "a non-public address"
    return None


def _host_of(url: str) -> str | None:
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return None
    return host or None


@dataclass(frozen=True)
class OutboundPolicy:
    """Which non-public hosts and networks outbound requests may reach; public ones always may."""

    hosts: frozenset[str] = frozenset()  # exact names; ".example.internal" also admits subdomains
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "://" in entry:  # someone pasted a URL: admit its host
                host = _host_of(entry)
                if host is None:
                    raise ValueError(f"{ALLOWLIST_ENV}: {raw!r} is not a host, address or network")
                hosts_policy = cls.parse([host])
                hosts |= hosts_policy.hosts
                networks.extend(hosts_policy.networks)
                continue
            hosts.add(entry.removeprefix("*").rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OutboundPolicy:
        env = os.environ if environ is None else environ
        entries = env.get(ALLOWLIST_ENV, "").split(",")
        for name in OPERATOR_URL_ENVS:
            host = _host_of(env.get(name, "") or "")
            if host:
                entries.append(host)
        return cls.parse(entries)

    def admits_host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return True
        return any(h.startswith(".") and (name.endswith(h) or name == h[1:]) for h in self.hosts)

    def admits_address(self, ip: IPAddress) -> bool:
        candidates = [ip]
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            candidates.append(embedded)
        return any(
            c in net for c in candidates for net in self.networks if c.version == net.version
        )

    def check(self, host: str, ip: IPAddress) -> None:
        """Raise :class:`OutboundRefused` unless ``host`` (resolved to ``ip``) may be reached."""
        if self.admits_host(host) or self.admits_address(ip):
            return
        problem = address_problem(ip)
        if problem is None:
            return
        what = str(ip) if _literal_ip(host) is not None else f"{host} ({ip})"
        raise OutboundRefused(f"refused: {what} is {problem}; add it to {ALLOWLIST_ENV} to allow")


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (TCP), in the resolver's order, without duplicates."""
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"could not resolve {host}: {exc.strerror}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address: no second lookup to rebind."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self.policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
            addresses = await resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        # Refuse if any answer is refused: a name that mixes public and private answers is either
        # misconfigured or an attempt to win a race, and either way not the user's to reach.
        for ip in addresses:
            self.policy.check(host, ip)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("refused: unix sockets are not reachable from a flow")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, url: httpx.URL) -> None:
        self._inner = inner
        self._limit = limit
        self._url = url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(_too_large(self._url, self._limit))
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _too_large(url: httpx.URL, limit: int) -> str:
    return f"the response from {url.host} is larger than {limit:,} bytes; stopped reading"


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded backend, a scheme check and a response size cap."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: Any = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        http2: bool = False,
    ) -> None:
        # Not super().__init__: the pool it builds has no way to take a network backend.
        self.policy = policy
        self.max_response_bytes = max_response_bytes
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # The current span's context (a model or tool call's, on a worker) travels with the
        # request as W3C traceparent, so the server's spans join the run's trace.
        propagate.inject(request.headers)
        try:
            return await self._guarded(request)
        except OutboundRefused as refused:
            for listener in refusal_listeners:
                listener(str(refused))
            raise

    async def _guarded(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme not in ALLOWED_SCHEMES:
            # httpx turns "file:///x" into a relative URL with no scheme at all; name that too.
            what = f"{scheme}:// URLs are" if scheme else "URLs without a scheme are"
            raise OutboundRefused(f"refused: {what} not allowed (only http, https)")
        literal = _literal_ip(request.url.host)
        if literal is not None:  # refuse before touching the pool; names are checked at connect
            self.policy.check(request.url.host, literal)
        # A compressed body can inflate a thousandfold past the cap, which counts wire bytes.
        request.headers["accept-encoding"] = "identity"
        response = await super().handle_async_request(request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await response.aclose()
            raise ResponseTooLarge(
                f"the response from {request.url.host} is {encoding}-compressed although an "
                "uncompressed one was asked for; refused, as its size cannot be capped"
            )
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_response_bytes:
            await response.aclose()
            raise ResponseTooLarge(_too_large(request.url, self.max_response_bytes))
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(response.stream, self.max_response_bytes, request.url)
        return response


def guarded_async_client(
    policy: OutboundPolicy | None = None,
    *,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    verify: Any = True,
    http2: bool = False,
    **httpx_kwargs: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection and redirect hop passes ``policy``.

    ``policy`` defaults to :meth:`OutboundPolicy.from_env`. Other keyword arguments go to
    ``httpx.AsyncClient`` (``timeout``, ``headers``, ``follow_redirects``, …), except the ones that
    would bypass the guard (``transport``, ``mounts``, ``proxy``).
    """
    for forbidden in ("transport", "mounts", "proxy", "proxies", "trust_env"):
        if forbidden in httpx_kwargs:
            raise TypeError(f"guarded_async_client does not take {forbidden!r}")
    transport = GuardedTransport(
        policy if policy is not None else OutboundPolicy.from_env(),
        max_response_bytes=max_response_bytes,
        verify=verify,
        http2=http2,
    )
    httpx_kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    return httpx.AsyncClient(
        transport=transport, trust_env=False, max_redirects=max_redirects, **httpx_kwargs
    )
