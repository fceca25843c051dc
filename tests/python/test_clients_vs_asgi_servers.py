"""mutls clients (mutls.httpx sync and async, mutls.requests) against the
two common ASGI servers running Python's ssl with CERT_REQUIRED: uvicorn
and hypercorn. A good call (the server checked our certificate, we checked
its), a client from an unknown CA (the server refuses it; Python's asyncio ssl
closes without its alert, and the client's mutls sentence says that a
connection closed right after the handshake is how such a refusal looks), and a server with
the wrong name (the mutls client refuses it with the sentence naming both
names). Real servers on 127.0.0.1 port 0, stopped by the tests."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

import mutls

httpx = pytest.importorskip("httpx")
requests = pytest.importorskip("requests")
pytest.importorskip("urllib3", minversion="2")
import mutls.httpx  # noqa: E402
import mutls.requests  # noqa: E402

import httpservers  # noqa: E402
from conftest import PKI  # noqa: E402

from httpservers import SPIFFE_ORDERS, tls  # noqa: E402,F401  (shared fixture)

SERVERS = ["uvicorn", "hypercorn"]
CLIENTS = ["httpx", "httpx-async", "requests"]


def _start(kind: str, identity: mutls.Identity, client_ca: mutls.TestCA) -> Any:
    pytest.importorskip(kind)
    if kind == "uvicorn":
        return httpservers.UvicornSSL(identity, client_ca)
    return httpservers.Hypercorn(identity, client_ca)


@pytest.fixture(params=SERVERS)
def server(request: Any, tls: PKI) -> Iterator[Any]:
    running = _start(request.param, tls.server_id, tls.ca)
    yield running
    running.stop()


def _post(client: str, cfg: mutls.Config, url: str, body: bytes) -> Any:
    """POSTs body; returns (status, content, the mutls Session)."""
    if client == "httpx":
        with httpx.Client(transport=mutls.httpx.Transport(cfg, http2=False), timeout=10) as c:
            r = c.post(url, content=body)
            return r.status_code, r.content, r.extensions["mutls"]
    if client == "httpx-async":
        async def go() -> Any:
            async with httpx.AsyncClient(transport=mutls.httpx.AsyncTransport(cfg, http2=False),
                                         timeout=10) as c:
                r = await c.post(url, content=body)
                return r.status_code, r.content, r.extensions["mutls"]
        return asyncio.run(go())
    with requests.Session() as http:
        http.trust_env = False
        http.mount("https://", mutls.requests.Adapter(cfg))
        r = http.post(url, data=body, timeout=10)
        return r.status_code, r.content, r.mutls


def _refusal(client: str, cfg: mutls.Config, url: str, *, handshake: bool = True) -> BaseException:
    """The mutls error behind the client library's own exception: a failed
    handshake is httpx's ConnectError / requests' SSLError, a connection
    closed after it httpx's ReadError / requests' ConnectionError."""
    if client == "requests":
        expected: Any = requests.exceptions.SSLError if handshake else requests.exceptions.ConnectionError
    else:
        expected = httpx.ConnectError if handshake else httpx.ReadError
    with pytest.raises(expected) as info:
        _post(client, cfg, url, b"refused")
    cause = info.value.__cause__
    assert isinstance(cause, mutls.Error), repr(info.value)
    assert str(info.value) == str(cause)  # the library's error says the mutls sentence
    return cause


@pytest.mark.parametrize("client", CLIENTS)
def test_good_call(tls: PKI, server: Any, client: str) -> None:
    cfg = tls.client_config(peers=["uri:" + SPIFFE_ORDERS])
    status, content, session = _post(client, cfg, f"https://localhost:{server.port}/x", b"x" * 100000)
    assert status == 200 and content == b"1.1 POST " + b"x" * 100000
    assert session.verified and session.peer_certificate.uris == [SPIFFE_ORDERS]
    assert session.own_certificate == tls.client_id.certificate  # the server asked for it


@pytest.mark.parametrize("client", CLIENTS)
def test_client_from_an_unknown_ca_is_refused(tls: PKI, server: Any, client: str) -> None:
    """TLS 1.3: our handshake is over before the server checks our
    certificate. Python's asyncio ssl (both servers) then closes without
    sending its alert (its handshake failure path drops the alert OpenSSL
    wrote; Python's own ssl client sees a bare EOF too), so the mutls
    sentence is the closed connection's, saying what that means."""
    stranger = mutls.TestCA("someone else").issue(cn="payments", purpose="client")
    err = _refusal(client, tls.client_config(identity=stranger), f"https://localhost:{server.port}/x",
                   handshake=False)
    assert isinstance(err, mutls.ConnectionClosed), repr(err)
    assert str(err).startswith("server closed the connection without close_notify"), str(err)
    assert "right after the handshake and before sending anything" in str(err), str(err)
    assert "refused our certificate" in str(err), str(err)


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_server_with_the_wrong_name_is_refused(tls: PKI, kind: str, client: str) -> None:
    wrong = tls.ca.issue(cn="billing", dns=["billing.internal"], uri=[SPIFFE_ORDERS], purpose="server")
    running = _start(kind, wrong, tls.ca)
    try:
        err = _refusal(client, tls.client_config(), f"https://localhost:{running.port}/x")
    finally:
        running.stop()
    assert isinstance(err, mutls.CertificateVerifyError), repr(err)
    assert err.reasons == ["name-mismatch"], err.reasons
    assert "localhost" in str(err) and "billing.internal" in str(err), str(err)


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_server_outside_peers_is_refused(tls: PKI, kind: str, client: str) -> None:
    other = tls.ca.issue(cn="orders", dns=["localhost"], uri=["spiffe://example.org/mallory"], purpose="server")
    running = _start(kind, other, tls.ca)
    try:
        err = _refusal(client, tls.client_config(peers=["uri:" + SPIFFE_ORDERS]),
                       f"https://localhost:{running.port}/x")
    finally:
        running.stop()
    assert isinstance(err, mutls.CertificateVerifyError), repr(err)
    assert err.reasons == ["policy"], err.reasons
    assert "spiffe://example.org/mallory" in str(err) and SPIFFE_ORDERS in str(err), str(err)
