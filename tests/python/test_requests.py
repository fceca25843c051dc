"""mutls.requests.Adapter against real servers: Python's ssl http.server
with CERT_REQUIRED and a mutls server."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import mutls

requests = pytest.importorskip("requests")
pytest.importorskip("urllib3", minversion="2")
import mutls.requests  # noqa: E402

import httpservers  # noqa: E402
from conftest import PKI  # noqa: E402

from httpservers import SPIFFE_ORDERS, ssl_server, tls  # noqa: E402,F401  (shared fixtures)


def _session(tls: PKI, **kw: Any) -> requests.Session:
    kw.setdefault("peers", ["uri:" + SPIFFE_ORDERS])
    http = requests.Session()
    http.trust_env = False
    http.mount("https://", mutls.requests.Adapter(tls.client_config(**kw)))
    return http


def test_get_post_keepalive_resumption(tls: PKI, ssl_server: httpservers.SSLServer) -> None:
    base = f"https://127.0.0.1:{ssl_server.port}"
    with _session(tls) as http:
        r = http.get(base + "/hello", timeout=10)
        assert r.status_code == 200 and r.content == b"hello payments"
        session = r.mutls
        assert isinstance(session, mutls.Session)
        assert session.peer_certificate.uris == [SPIFFE_ORDERS]
        assert session.verification.ok and not session.resumed
        r = http.post(base + "/echo", data=b"x" * 100000, timeout=10)
        assert r.content == b"got " + b"x" * 100000
        assert r.mutls is session  # the same connection
        assert ssl_server.connections == 1
        http.get(base + "/hello", headers={"Connection": "close"}, timeout=10)
        r = http.get(base + "/hello", timeout=10)
        assert r.content == b"hello payments"
        assert ssl_server.connections == 2
        assert r.mutls is not session and r.mutls.resumed
    # the session's end closes the idle connections (close_notify), not the GC
    assert r.mutls.sock is not None and r.mutls.sock.fileno() == -1


def test_ragged_close_loses_nothing(tls: PKI, ssl_server: httpservers.SSLServer) -> None:
    base = f"https://127.0.0.1:{ssl_server.port}"
    with _session(tls) as http:
        assert http.get(base + "/big", timeout=10).content == httpservers.BIG
        r = http.get(base + "/big", stream=True, timeout=10)
        assert b"".join(r.iter_content(1000)) == httpservers.BIG


@pytest.mark.parametrize("case", ["unknown-ca", "wrong-name", "outside-peers", "client-unknown-ca"])
def test_refused(tls: PKI, case: str) -> None:
    other = mutls.TestCA("other root")
    client_id = None
    error: Any = mutls.CertificateVerifyError
    if case == "unknown-ca":
        server_id = other.issue(cn="orders", ip=["127.0.0.1"], purpose="server")
    elif case == "wrong-name":
        server_id = tls.ca.issue(cn="orders", dns=["elsewhere.internal"], uri=[SPIFFE_ORDERS], purpose="server")
    elif case == "outside-peers":
        server_id = tls.ca.issue(cn="orders", ip=["127.0.0.1"], uri=["spiffe://example.org/mallory"],
                                 purpose="server")
    else:
        server_id, client_id, error = tls.server_id, other.issue(cn="payments", purpose="client"), \
            mutls.PeerRejectedError
    server = httpservers.SSLServer(server_id, tls.ca)
    thread = httpservers.serve(server)
    kw: Any = {"identity": client_id} if client_id is not None else {}
    try:
        with pytest.raises(requests.exceptions.SSLError) as info:
            with _session(tls, **kw) as http:
                http.get(f"https://127.0.0.1:{server.port}/hello", timeout=10)
    finally:
        httpservers.stop(server, thread)
    cause = info.value.__cause__
    assert isinstance(cause, error), repr(cause)
    assert str(info.value) == str(cause) and str(cause)
    if case == "outside-peers":
        assert "spiffe://example.org/mallory" in str(cause)


def test_mutls_server(tls: PKI) -> None:
    server = httpservers.MutlsServer(tls.server_config(peers=["uri:spiffe://example.org/payments"]))
    thread = httpservers.serve(server)
    base = f"https://127.0.0.1:{server.port}"
    try:
        with _session(tls) as http:
            assert http.get(base + "/hello", timeout=10).content == b"hello payments"
            assert http.post(base + "/echo", data=b"abc", timeout=10).content == b"got abc"
            assert http.get(base + "/big", timeout=10).content == httpservers.BIG
            assert server.connections == 1
    finally:
        httpservers.stop(server, thread)


def test_http_scheme_proxy_and_bad_config_refused(tls: PKI) -> None:
    http = requests.Session()
    adapter = mutls.requests.Adapter(tls.client_config())
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    with pytest.raises(requests.exceptions.InvalidURL, match="https:// only"):
        http.get("http://127.0.0.1:9/", timeout=5)
    with pytest.raises(requests.exceptions.InvalidProxyURL, match="proxies"):
        http.get("https://127.0.0.1:9/", proxies={"https": "http://127.0.0.1:3128"}, timeout=5)
    with pytest.raises(TypeError, match="mutls.Config"):
        mutls.requests.Adapter("cfg")  # type: ignore[arg-type]


def test_doc_example(tmp_path: Any) -> None:
    out = httpservers.run_doc_example("requests", str(tmp_path))
    lines = out.splitlines()
    assert lines[0] == "200 charged 42 EUR for orders"
    assert lines[1] == "['spiffe://example.org/payments'] True"
    assert "spiffe://example.org/payments" in lines[2] and len(lines) == 3


def test_silent_server_is_a_connect_timeout(tls: PKI) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepts TCP, never answers the ClientHello
        with pytest.raises(requests.exceptions.ConnectTimeout) as info:
            with _session(tls) as http:
                http.get(f"https://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.5)
        assert isinstance(info.value.__cause__, mutls.TimeoutError)


def test_missing_requests_names_the_extra() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['requests'] = None\n"
            "try:\n    import mutls.requests\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'mutls[requests]'" in out.stdout, out.stdout + out.stderr


def test_connection_the_server_dropped_is_not_reused(tls: PKI) -> None:
    import time

    server = httpservers.SSLServer(tls.server_id, tls.ca, idle_timeout=0.3)
    thread = httpservers.serve(server)
    base = f"https://127.0.0.1:{server.port}"
    try:
        with _session(tls) as http:
            assert http.get(base + "/hello", timeout=10).content == b"hello payments"
            time.sleep(0.8)  # the server closed the idle connection (no close_notify)
            assert http.get(base + "/hello", timeout=10).content == b"hello payments"
            assert server.connections == 2
    finally:
        httpservers.stop(server, thread)


def test_against_hypercorn(tls: PKI) -> None:
    pytest.importorskip("hypercorn")
    server = httpservers.Hypercorn(tls.server_id, tls.ca)
    try:
        with _session(tls) as http:
            r = http.post(f"https://127.0.0.1:{server.port}/x", data=b"body", timeout=10)
            assert r.content == b"1.1 POST body" and r.mutls.alpn in (None, "http/1.1")
            r.close()
            r = http.get(f"https://127.0.0.1:{server.port}/y", timeout=10)
            assert r.content == b"1.1 GET "
            r.close()  # back to the pool, which the session's end closes (close_notify)
    finally:
        server.stop()


def test_mutls_server_refusals_both_sides(tls: PKI) -> None:
    server = httpservers.MutlsServer(tls.server_config(peers=["uri:spiffe://example.org/billing"]))
    thread = httpservers.serve(server)
    try:
        with pytest.raises(requests.exceptions.SSLError) as info:
            with _session(tls) as http:
                http.get(f"https://127.0.0.1:{server.port}/hello", timeout=10)
    finally:
        httpservers.stop(server, thread)
    assert isinstance(info.value.__cause__, mutls.PeerRejectedError)
    assert str(info.value) == str(info.value.__cause__)
    [refusal] = httpservers.handshake_errors(server)
    assert isinstance(refusal, mutls.CertificateVerifyError)
    assert "spiffe://example.org/payments" in str(refusal)

    server = httpservers.MutlsServer(tls.server_config())
    thread = httpservers.serve(server)
    try:
        with pytest.raises(requests.exceptions.SSLError) as info:
            with _session(tls, peers=["uri:spiffe://example.org/billing"]) as http:
                http.get(f"https://127.0.0.1:{server.port}/hello", timeout=10)
    finally:
        httpservers.stop(server, thread)
    assert isinstance(info.value.__cause__, mutls.CertificateVerifyError)
    assert SPIFFE_ORDERS in str(info.value)
    [refused] = httpservers.handshake_errors(server)
    assert isinstance(refused, mutls.PeerRejectedError) and str(refused)
