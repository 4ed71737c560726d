"""The outbound guard over real sockets: what it refuses, what the allowlist admits, redirects,
size caps, and the providers' own clients going through it."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from runtime.errors import PermanentError
from runtime.outbound import (
    OutboundPolicy,
    OutboundRefused,
    ResponseTooLarge,
    address_problem,
    guarded_async_client,
)
from runtime.providers.base import ChatRequest
from runtime.providers.openai_compat import OpenAICompatibleProvider
from tests.support.echo_server import EchoServer
from tests.support.vendor_server import Completion, VendorServer


def free_port() -> int:
    """A loopback port nothing listens on: connecting there would fail, not be refused by us."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OUTBOUND_ALLOWLIST", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture
async def strict() -> AsyncIterator[httpx.AsyncClient]:
    """A client with an empty allowlist: only public addresses."""
    async with guarded_async_client(OutboundPolicy()) as client:
        yield client


@pytest.fixture
async def loopback_ok() -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_async_client(OutboundPolicy.parse(["127.0.0.1"])) as client:
        yield client


# -- refusals --------------------------------------------------------------------------------------


async def test_a_loopback_server_is_refused_by_default(
    echo: EchoServer, strict: httpx.AsyncClient
) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await strict.get(echo.url("/echo"))

    assert str(caught.value) == (
        "refused: 127.0.0.1 is a loopback address; add it to OUTBOUND_ALLOWLIST to allow"
    )
    assert echo.requests == []  # refused before a byte was sent


async def test_the_same_server_is_reached_when_allowlisted(
    echo: EchoServer, loopback_ok: httpx.AsyncClient
) -> None:
    response = await loopback_ok.get(echo.url("/echo?x=1"))

    assert response.status_code == 200
    assert response.json()["query"] == {"x": ["1"]}
    assert len(echo.requests) == 1


async def test_a_host_name_that_resolves_to_loopback_is_refused(
    echo: EchoServer, strict: httpx.AsyncClient
) -> None:
    with pytest.raises(OutboundRefused, match=r"refused: localhost \((127\.0\.0\.1|::1)\) is a "):
        await strict.get(f"http://localhost:{echo.port}/echo")
    assert echo.requests == []


async def test_the_host_name_itself_may_be_allowlisted(echo: EchoServer) -> None:
    async with guarded_async_client(OutboundPolicy.parse(["localhost"])) as client:
        response = await client.get(f"http://localhost:{echo.port}/echo")
    assert response.status_code == 200
    assert response.json()["headers"]["host"] == f"localhost:{echo.port}"  # Host kept, not the IP


@pytest.mark.parametrize(
    ("host", "shown", "problem"),
    [
        ("[::1]", "::1", "a loopback address"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1", "a loopback address in IPv6 form"),
        ("0.0.0.0", "0.0.0.0", "an unspecified address"),
        ("[::]", "::", "an unspecified address"),
        ("169.254.169.254", "169.254.169.254", "the cloud metadata address"),
        ("169.254.1.1", "169.254.1.1", "a link-local address"),
        ("[fe80::1]", "fe80::1", "a link-local address"),
        ("10.0.0.5", "10.0.0.5", "a private address"),
        ("172.16.3.4", "172.16.3.4", "a private address"),
        ("192.168.1.1", "192.168.1.1", "a private address"),
        ("[fd00::1]", "fd00::1", "a private address"),
        ("100.64.0.1", "100.64.0.1", "a non-public address"),
        ("224.0.0.1", "224.0.0.1", "a multicast address"),
        ("240.0.0.1", "240.0.0.1", "a reserved address"),
        ("[2002:7f00:1::]", "2002:7f00:1::", "a loopback address in IPv6 form"),  # 6to4
        ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "the cloud metadata address in IPv6 form"),
        ("2130706433", "2130706433 (127.0.0.1)", "a loopback address"),  # decimal IPv4
        ("0x7f.1", "0x7f.1 (127.0.0.1)", "a loopback address"),
    ],
)
async def test_every_form_of_a_non_public_address_is_refused(
    strict: httpx.AsyncClient, host: str, shown: str, problem: str
) -> None:
    # Nothing listens on the port: were the guard to let it through, this would be ConnectError.
    with pytest.raises(OutboundRefused) as caught:
        await strict.get(f"http://{host}:{free_port()}/")
    assert str(caught.value) == (
        f"refused: {shown} is {problem}; add it to OUTBOUND_ALLOWLIST to allow"
    )


def test_public_addresses_have_no_problem() -> None:
    for text in ("93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert address_problem(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "refused: ftp:// URLs are not allowed (only http, https)"),
        ("file:///etc/passwd", "refused: URLs without a scheme are not allowed (only http, https)"),
    ],
)
async def test_only_http_and_https(strict: httpx.AsyncClient, url: str, message: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await strict.get(url)
    assert str(caught.value) == message


def test_a_refusal_is_a_permanent_step_error() -> None:
    # The retry policy must not hammer a refused address: nothing about it changes on retry.
    error = OutboundRefused("refused")
    assert isinstance(error, PermanentError)
    assert error.to_dict()["code"] == "outbound_refused"


def test_options_that_would_bypass_the_guard_are_rejected() -> None:
    for option in ("transport", "mounts", "proxy", "trust_env"):
        with pytest.raises(TypeError):
            guarded_async_client(OutboundPolicy(), **{option: None})


# -- TLS: we connect to the checked address, TLS still speaks to the host name ---------------------


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for DNS:localhost only (no IP address in it), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_keeps_sni_and_certificate_checks_on_the_host_name(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment]
    client_tls = ssl.create_default_context(cafile=str(cert))
    with EchoServer(tls=server_tls) as server:
        async with guarded_async_client(
            OutboundPolicy.parse(["localhost"]), verify=client_tls
        ) as client:
            # The guard resolved "localhost" and connected to 127.0.0.1 itself; were that address
            # what TLS saw, the certificate (for DNS:localhost only) would not verify.
            response = await client.get(f"https://localhost:{server.port}/echo")
            assert response.json()["headers"]["host"] == f"localhost:{server.port}"
            # Control: by address, the same certificate does not match, so verification is on.
            client_ip = guarded_async_client(OutboundPolicy.parse(["127.0.0.1"]), verify=client_tls)
            async with client_ip:
                with pytest.raises(httpx.ConnectError, match="certificate"):
                    await client_ip.get(f"https://127.0.0.1:{server.port}/echo")
    assert sni[0] == "localhost"


# -- the allowlist ---------------------------------------------------------------------------------


def test_from_env_reads_hosts_networks_and_the_operators_base_urls() -> None:
    policy = OutboundPolicy.from_env(
        {
            "OUTBOUND_ALLOWLIST": " 127.0.0.1, 10.0.0.0/8 ,ollama.internal,.corp.example,,",
            "OPENAI_BASE_URL": "http://vllm.lan:8000/v1",
            "ANTHROPIC_BASE_URL": "http://[fd00::7]:9000",
        }
    )
    ip = ipaddress.ip_address
    assert policy.admits_address(ip("127.0.0.1"))
    assert not policy.admits_address(ip("127.0.0.2"))
    assert policy.admits_address(ip("10.200.1.1"))
    assert policy.admits_address(ip("::ffff:10.1.2.3"))  # the mapped form of an admitted address
    assert policy.admits_address(ip("fd00::7"))  # from ANTHROPIC_BASE_URL
    assert not policy.admits_address(ip("192.168.0.1"))
    assert policy.admits_host("ollama.internal")
    assert policy.admits_host("OLLAMA.internal.")
    assert not policy.admits_host("evil-ollama.internal")
    assert policy.admits_host("vllm.lan")  # from OPENAI_BASE_URL
    assert policy.admits_host("git.corp.example")  # a leading dot admits subdomains
    assert not policy.admits_host("corpexample")


def test_an_empty_environment_admits_nothing_private() -> None:
    policy = OutboundPolicy.from_env({})
    assert policy.hosts == frozenset()
    assert policy.networks == ()


async def test_an_allowlisted_network_admits_its_addresses(echo: EchoServer) -> None:
    async with guarded_async_client(OutboundPolicy.parse(["127.0.0.0/8"])) as client:
        assert (await client.get(echo.url("/text"))).text == "hello"


# -- redirects -------------------------------------------------------------------------------------


async def test_a_redirect_from_an_allowed_host_to_a_loopback_one_is_refused() -> None:
    # Loopback is a /8 on Linux: 127.0.0.2 stands for "an allowed internal host", 127.0.0.1 for
    # the machine's own services it must not bounce us to.
    with EchoServer(host="127.0.0.2") as allowed, EchoServer() as internal:
        async with guarded_async_client(
            OutboundPolicy.parse(["127.0.0.2"]), follow_redirects=True
        ) as client:
            target = internal.url("/echo")
            with pytest.raises(OutboundRefused, match=r"refused: 127\.0\.0\.1 is a loopback"):
                await client.get(allowed.url(f"/redirect?to={target}"))
            assert len(allowed.requests) == 1
            assert internal.requests == []

            # Control: the same redirect within the allowed host is followed.
            ok = await client.get(allowed.url(f"/redirect?to={allowed.url('/text')}"))
            assert ok.text == "hello"


async def test_a_redirect_to_a_host_name_of_loopback_is_refused(echo: EchoServer) -> None:
    with EchoServer(host="127.0.0.2") as allowed:
        async with guarded_async_client(
            OutboundPolicy.parse(["127.0.0.2"]), follow_redirects=True
        ) as client:
            with pytest.raises(OutboundRefused, match=r"refused: localhost \("):
                await client.get(
                    allowed.url(f"/redirect?to=http://localhost:{echo.port}/echo&status=307")
                )
    assert echo.requests == []


async def test_redirect_chains_are_capped(echo: EchoServer) -> None:
    url = echo.url("/text")
    for _ in range(4):
        url = echo.url(f"/redirect?to={httpx.URL(url)}")  # nested redirects, 4 hops
    async with guarded_async_client(
        OutboundPolicy.parse(["127.0.0.1"]), follow_redirects=True, max_redirects=3
    ) as client:
        with pytest.raises(httpx.TooManyRedirects):
            await client.get(url)


# -- response size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversize_response_is_cut_with_a_clear_error(
    echo: EchoServer, chunked: bool
) -> None:
    query = "?chunked=1" if chunked else ""
    async with guarded_async_client(
        OutboundPolicy.parse(["127.0.0.1"]), max_response_bytes=10_000
    ) as client:
        assert len((await client.get(echo.url(f"/bytes/10000{query}"))).content) == 10_000
        with pytest.raises(ResponseTooLarge) as caught:
            await client.get(echo.url(f"/bytes/1000000{query}"))
    assert str(caught.value) == (
        "the response from 127.0.0.1 is larger than 10,000 bytes; stopped reading"
    )


async def test_a_streamed_read_stops_at_the_cap(echo: EchoServer) -> None:
    async with guarded_async_client(
        OutboundPolicy.parse(["127.0.0.1"]), max_response_bytes=50_000
    ) as client:
        received = 0
        with pytest.raises(ResponseTooLarge):
            async with client.stream("GET", echo.url("/bytes/5000000?chunked=1")) as response:
                async for chunk in response.aiter_raw():
                    received += len(chunk)
    assert received <= 50_000


async def test_it_asks_for_identity_and_refuses_compressed_bodies(
    echo: EchoServer, loopback_ok: httpx.AsyncClient
) -> None:
    seen = await loopback_ok.get(echo.url("/echo"), headers={"Accept-Encoding": "gzip"})
    assert seen.json()["headers"]["accept-encoding"] == "identity"
    # A gzip body of 100 kB inflates far past what its wire size says; it cannot be capped.
    with pytest.raises(ResponseTooLarge, match="gzip-compressed"):
        await loopback_ok.get(echo.url("/gzip"))


async def test_timeouts_apply(loopback_ok: httpx.AsyncClient) -> None:
    # A listening socket that never answers: the read timeout must end the request.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(httpx.ReadTimeout):
            await loopback_ok.get(f"http://127.0.0.1:{port}/", timeout=0.3)


# -- providers' own clients ------------------------------------------------------------------------


def chat() -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


async def test_a_providers_own_client_refuses_loopback_by_default(
    vendor_server: VendorServer,
) -> None:
    provider = OpenAICompatibleProvider(base_url=vendor_server.url, api_key="k")
    try:
        with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1 is a loopback address"):
            await provider.complete(chat())
    finally:
        await provider.aclose()
    assert vendor_server.requests == []


async def test_a_providers_own_client_reaches_an_allowlisted_server(
    vendor_server: VendorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
    vendor_server.push(Completion("allowed"))
    provider = OpenAICompatibleProvider(base_url=vendor_server.url, api_key="k")
    try:
        assert (await provider.complete(chat())).text == "allowed"
    finally:
        await provider.aclose()


async def test_the_operators_base_url_is_admitted_without_an_allowlist(
    vendor_server: VendorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", vendor_server.url)
    vendor_server.push(Completion("operator"))
    provider = OpenAICompatibleProvider.from_env()
    try:
        assert (await provider.complete(chat())).text == "operator"
    finally:
        await provider.aclose()
