"""mutls.httpx against real servers: Python's ssl http.server with
CERT_REQUIRED, hypercorn (HTTP/2 by ALPN) and a mutls server."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

import mutls

httpx = pytest.importorskip("httpx")
import mutls.httpx  # noqa: E402

import httpservers  # noqa: E402
from conftest import PKI  # noqa: E402

from httpservers import SPIFFE_ORDERS, ssl_server, tls  # noqa: E402,F401  (shared fixtures)


def _client(tls: PKI, **kw: Any) -> httpx.Client:
    kw.setdefault("peers", ["uri:" + SPIFFE_ORDERS])
    return httpx.Client(transport=mutls.httpx.Transport(tls.client_config(**kw)), timeout=10)


def _aclient(tls: PKI, **kw: Any) -> httpx.AsyncClient:
    kw.setdefault("peers", ["uri:" + SPIFFE_ORDERS])
    return httpx.AsyncClient(transport=mutls.httpx.AsyncTransport(tls.client_config(**kw)), timeout=10)


def test_get_post_keepalive_resumption(tls: PKI, ssl_server: httpservers.SSLServer) -> None:
    base = f"https://127.0.0.1:{ssl_server.port}"
    with _client(tls) as client:
        r = client.get(base + "/hello")
        assert r.status_code == 200 and r.content == b"hello payments"
        session = r.extensions["mutls"]
        assert isinstance(session, mutls.Session)
        assert session.peer_certificate.uris == [SPIFFE_ORDERS]
        assert session.verification.ok and not session.resumed
        assert r.extensions["network_stream"].get_extra_info("mutls_session") is session
        r = client.post(base + "/echo", content=b"x" * 100000)
        assert r.content == b"got " + b"x" * 100000
        assert r.extensions["mutls"] is session  # the same connection
        assert ssl_server.connections == 1
        # a new connection to the same place resumes the TLS session
        client.get(base + "/hello", headers={"Connection": "close"})
        r = client.get(base + "/hello")
        assert r.content == b"hello payments"
        assert ssl_server.connections == 2
        assert r.extensions["mutls"] is not session
        assert r.extensions["mutls"].resumed


def test_async_get_post_keepalive_resumption(tls: PKI, ssl_server: httpservers.SSLServer) -> None:
    base = f"https://127.0.0.1:{ssl_server.port}"

    async def main() -> None:
        async with _aclient(tls) as client:
            r = await client.get(base + "/hello")
            assert r.content == b"hello payments"
            session = r.extensions["mutls"]
            assert session.peer_certificate.uris == [SPIFFE_ORDERS] and not session.resumed
            r = await client.post(base + "/echo", content=b"y" * 100000)
            assert r.content == b"got " + b"y" * 100000
            assert r.extensions["mutls"] is session
            assert ssl_server.connections == 1
            await client.get(base + "/hello", headers={"Connection": "close"})
            r = await client.get(base + "/hello")
            assert ssl_server.connections == 2
            assert r.extensions["mutls"].resumed

    asyncio.run(main())


def test_ragged_close_loses_nothing(tls: PKI, ssl_server: httpservers.SSLServer) -> None:
    base = f"https://127.0.0.1:{ssl_server.port}"
    with _client(tls) as client:
        assert client.get(base + "/big").content == httpservers.BIG

    async def main() -> bytes:
        async with _aclient(tls) as client:
            return (await client.get(base + "/big")).content

    assert asyncio.run(main()) == httpservers.BIG


def _refusals(tls: PKI) -> Any:
    other = mutls.TestCA("other root")
    yield "unknown-ca", other.issue(cn="orders", ip=["127.0.0.1"], purpose="server"), None, mutls.CertificateVerifyError
    yield "wrong-name", tls.ca.issue(cn="orders", dns=["elsewhere.internal"], uri=[SPIFFE_ORDERS],
                                     purpose="server"), None, mutls.CertificateVerifyError
    yield "outside-peers", tls.ca.issue(cn="orders", ip=["127.0.0.1"], uri=["spiffe://example.org/mallory"],
                                        purpose="server"), None, mutls.CertificateVerifyError
    # the server refuses a client from an unknown CA
    yield "client-unknown-ca", tls.server_id, other.issue(cn="payments", purpose="client"), mutls.PeerRejectedError


@pytest.mark.parametrize("case", ["unknown-ca", "wrong-name", "outside-peers", "client-unknown-ca"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_refused(tls: PKI, case: str, mode: str) -> None:
    name, server_id, client_id, error = {c[0]: c for c in _refusals(tls)}[case]
    server = httpservers.SSLServer(server_id, tls.ca)
    thread = httpservers.serve(server)
    url = f"https://127.0.0.1:{server.port}/hello"
    kw: Any = {"identity": client_id} if client_id is not None else {}
    try:
        with pytest.raises(httpx.ConnectError) as info:
            if mode == "sync":
                with _client(tls, **kw) as client:
                    client.get(url)
            else:
                async def main() -> None:
                    async with _aclient(tls, **kw) as client:
                        await client.get(url)
                asyncio.run(main())
    finally:
        httpservers.stop(server, thread)
    cause = info.value.__cause__
    assert isinstance(cause, error), repr(cause)
    assert str(info.value) == str(cause) and str(cause)
    if case == "wrong-name":
        assert "hostname" in " ".join(cause.reasons) or "name" in str(cause)
    if case == "outside-peers":
        assert "spiffe://example.org/mallory" in str(cause)


def test_mutls_server(tls: PKI) -> None:
    server = httpservers.MutlsServer(tls.server_config(peers=["uri:spiffe://example.org/payments"]))
    thread = httpservers.serve(server)
    base = f"https://127.0.0.1:{server.port}"
    try:
        with _client(tls) as client:
            assert client.get(base + "/hello").content == b"hello payments"
            assert client.post(base + "/echo", content=b"abc").content == b"got abc"
            assert server.connections == 1
    finally:
        httpservers.stop(server, thread)


def test_http_scheme_and_proxy_refused(tls: PKI) -> None:
    with _client(tls) as client:
        with pytest.raises(httpx.UnsupportedProtocol, match="https:// only"):
            client.get("http://127.0.0.1:9/")
    with pytest.raises(mutls.UsageError, match="proxies"):
        mutls.httpx.Transport(tls.client_config(), proxy="http://127.0.0.1:3128")
    with pytest.raises(TypeError, match="mutls.Config"):
        mutls.httpx.Transport(object())  # type: ignore[arg-type]


@pytest.fixture
def hypercorn(tls: PKI) -> Iterator[httpservers.Hypercorn]:
    pytest.importorskip("hypercorn")
    pytest.importorskip("h2")
    server = httpservers.Hypercorn(tls.server_id, tls.ca)
    yield server
    server.stop()


def test_http2_against_hypercorn(tls: PKI, hypercorn: httpservers.Hypercorn) -> None:
    base = f"https://127.0.0.1:{hypercorn.port}"
    with _client(tls, alpn=["h2", "http/1.1"]) as client:
        r = client.post(base + "/x", content=b"body")
        assert r.http_version == "HTTP/2" and r.content == b"2 POST body"
        assert r.extensions["mutls"].alpn == "h2"
        assert r.extensions["network_stream"].get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        r2 = client.get(base + "/y")
        assert r2.content == b"2 GET " and r2.extensions["mutls"] is r.extensions["mutls"]

    async def main() -> None:
        async with _aclient(tls, alpn=["h2", "http/1.1"]) as client:
            rs = await asyncio.gather(*(client.get(f"{base}/{i}") for i in range(5)))
            assert all(r.http_version == "HTTP/2" and r.content == b"2 GET " for r in rs)
            assert len({id(r.extensions["mutls"]) for r in rs}) == 1  # one connection

    asyncio.run(main())
    # without h2 in the Config's ALPN: HTTP/1.1
    with _client(tls) as client:
        r = client.get(base + "/z")
        assert r.http_version == "HTTP/1.1" and r.content == b"1.1 GET "


def test_doc_example(tmp_path: Any) -> None:
    out = httpservers.run_doc_example("httpx", str(tmp_path))
    lines = out.splitlines()
    assert lines[0] == "200 charged 42 EUR for orders"
    assert lines[1].startswith("['spiffe://example.org/payments'] TLSv1.3 True")
    assert lines[2] == "charged 1 EUR for orders"
    assert "spiffe://example.org/payments" in lines[3] and len(lines) == 4


def test_silent_server_is_a_connect_timeout(tls: PKI) -> None:
    import socket
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepts TCP, never answers the ClientHello
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        t0 = time.monotonic()
        with pytest.raises(httpx.ConnectTimeout) as info:
            with httpx.Client(transport=mutls.httpx.Transport(tls.client_config()), timeout=0.5) as client:
                client.get(url)
        assert isinstance(info.value.__cause__, mutls.TimeoutError)

        async def main() -> None:
            async with httpx.AsyncClient(transport=mutls.httpx.AsyncTransport(tls.client_config()),
                                         timeout=0.5) as client:
                await client.get(url)

        with pytest.raises(httpx.ConnectTimeout) as info:
            asyncio.run(main())
        assert isinstance(info.value.__cause__, mutls.TimeoutError)
        assert time.monotonic() - t0 < 5


def test_missing_httpx_names_the_extra() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['httpx'] = None\n"
            "import mutls, mutls.httpx\n"
            "try:\n    mutls.httpx.Transport(mutls.Config())\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'mutls[httpx]'" in out.stdout, out.stdout + out.stderr


def test_connection_the_server_dropped_is_not_reused(tls: PKI) -> None:
    import time

    server = httpservers.SSLServer(tls.server_id, tls.ca, idle_timeout=0.3)
    thread = httpservers.serve(server)
    base = f"https://127.0.0.1:{server.port}"
    try:
        with _client(tls) as client:
            assert client.get(base + "/hello").content == b"hello payments"
            time.sleep(0.8)  # the server closed the idle connection (no close_notify)
            assert client.get(base + "/hello").content == b"hello payments"
            assert server.connections == 2

        async def main() -> None:
            async with _aclient(tls) as client:
                assert (await client.get(base + "/hello")).content == b"hello payments"
                await asyncio.sleep(0.8)
                assert (await client.get(base + "/hello")).content == b"hello payments"

        asyncio.run(main())
        assert server.connections == 4
    finally:
        httpservers.stop(server, thread)


def test_threads_share_the_pool(tls: PKI, hypercorn: httpservers.Hypercorn) -> None:
    from concurrent.futures import ThreadPoolExecutor

    base = f"https://127.0.0.1:{hypercorn.port}"
    for alpn in (["h2", "http/1.1"], ["http/1.1"]):
        with _client(tls, alpn=alpn) as client:
            def call(i: int) -> Any:
                r = client.post(f"{base}/{i}", content=str(i).encode())
                return r.http_version, r.content, r.extensions["mutls"]

            with ThreadPoolExecutor(6) as pool:
                results = list(pool.map(call, range(30)))
        version = "HTTP/2" if alpn[0] == "h2" else "HTTP/1.1"
        prefix = b"2" if alpn[0] == "h2" else b"1.1"
        assert all(v == version for v, _, _ in results)
        assert [c for _, c, _ in results] == [prefix + b" POST " + str(i).encode() for i in range(30)]
        sessions = {id(s) for _, _, s in results}
        assert len(sessions) <= 6 and (version == "HTTP/1.1" or len(sessions) <= 2)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_mutls_server_refusals_both_sides(tls: PKI, mode: str) -> None:
    """A mutls server refusing us, and us refusing a mutls server: both sides
    hold the mutls error with its sentence."""

    def call(url: str, **kw: Any) -> None:
        if mode == "sync":
            with _client(tls, **kw) as client:
                client.get(url)
        else:
            async def main() -> None:
                async with _aclient(tls, **kw) as client:
                    await client.get(url)
            asyncio.run(main())

    # the server's policy does not allow payments
    server = httpservers.MutlsServer(tls.server_config(peers=["uri:spiffe://example.org/billing"]))
    thread = httpservers.serve(server)
    try:
        with pytest.raises(httpx.ConnectError) as info:
            call(f"https://127.0.0.1:{server.port}/hello")
    finally:
        httpservers.stop(server, thread)
    assert isinstance(info.value.__cause__, mutls.PeerRejectedError)
    assert str(info.value) == str(info.value.__cause__)
    [refusal] = httpservers.handshake_errors(server)
    assert isinstance(refusal, mutls.CertificateVerifyError)
    assert "spiffe://example.org/payments" in str(refusal)

    # our policy does not allow the server
    server = httpservers.MutlsServer(tls.server_config())
    thread = httpservers.serve(server)
    try:
        with pytest.raises(httpx.ConnectError) as info:
            call(f"https://127.0.0.1:{server.port}/hello", peers=["uri:spiffe://example.org/billing"])
    finally:
        httpservers.stop(server, thread)
    assert isinstance(info.value.__cause__, mutls.CertificateVerifyError)
    assert SPIFFE_ORDERS in str(info.value)
    [refused] = httpservers.handshake_errors(server)
    assert isinstance(refused, mutls.PeerRejectedError) and str(refused)


def test_server_chose_h2_without_the_h2_package(tls: PKI, hypercorn: httpservers.Hypercorn, tmp_path: Any) -> None:
    import subprocess
    import sys

    for name, pem in (("ca.pem", tls.ca.cert_pem), ("cert.pem", tls.client_id.chain_pem),
                      ("key.pem", tls.client_id.key_pem)):
        (tmp_path / name).write_text(pem)
    code = f"""
import sys; sys.modules['h2'] = None
import httpx, mutls, mutls.httpx
cfg = mutls.Config(certificate='cert.pem', private_key='key.pem', trust='ca.pem', alpn=['h2', 'http/1.1'])
try:
    mutls.httpx.Transport(cfg, http2=True)
except ImportError as e:
    print(e)
with httpx.Client(transport=mutls.httpx.Transport(cfg)) as client:
    try:
        client.get('https://127.0.0.1:{hypercorn.port}/')
    except httpx.ConnectError as e:
        print(e)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout + r.stderr
    assert "pip install 'mutls[httpx]'" in lines[0]
    assert "the server chose HTTP/2 (ALPN h2) but the h2 package is not installed" in lines[1]


def test_doc_example_aiohttp_section(tmp_path: Any) -> None:
    """docs/python-http.md "## aiohttp": the asyncio route it shows instead."""
    out = httpservers.run_doc_example("aiohttp", str(tmp_path)).splitlines()
    assert out == ["['/charge/0 for orders', '/charge/1 for orders', '/charge/2 for orders']",
                   "['spiffe://example.org/payments']",
                   "HTTP/1.1 200 OK /refund for orders",
                   "True"]


def test_aiohttp_refuses_a_config_for_ssl(tls: PKI) -> None:
    """What the aiohttp section says: aiohttp's ssl= takes only an
    ssl.SSLContext (bool, Fingerprint, None), so a mutls.Config is refused."""
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        with pytest.raises(TypeError, match="SSLContext"):
            aiohttp.TCPConnector(ssl=tls.client_config())
        async with aiohttp.ClientSession() as session:
            with pytest.raises(TypeError, match="SSLContext"):
                await session.get("https://127.0.0.1:9/", ssl=tls.client_config())

    asyncio.run(main())
