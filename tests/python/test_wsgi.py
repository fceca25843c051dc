"""mutls.wsgi: an http.server handler and a wsgiref app over mTLS, called
by requests over mutls.requests.Adapter, by curl and by a raw mutls client."""

from __future__ import annotations

import http.server
import json
import logging
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import mutls
import mutls.wsgi

from conftest import PKI, logged_text, mutls_cause

SPIFFE_PAYMENTS = "spiffe://example.org/payments"
BODY = bytes(range(256)) * 2000  # 512000 bytes


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls: List[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        session = self.connection
        assert isinstance(session, mutls.Session)
        self.calls.append(self.path)
        if self.path == "/big":
            body = BODY
        else:
            cert = session.peer_certificate
            body = json.dumps({"cn": cert.common_name, "uris": cert.uris,
                               "ok": session.verification.ok}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def wsgi_app(calls: List[dict]) -> Any:
    def app(environ: dict, start_response: Any) -> Any:
        calls.append(environ)
        if environ["PATH_INFO"] == "/big":
            body = BODY
        else:
            body = json.dumps({k: environ.get(k) for k in (
                "wsgi.url_scheme", "HTTPS", "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN",
                "SSL_CLIENT_S_DN_CN", "SSL_CLIENT_CERT", "SSL_PROTOCOL", "SSL_CIPHER", "mutls.spiffe_id")}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return app


def _run(server: mutls.wsgi.MTLSServer) -> Iterator[mutls.wsgi.MTLSServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def pki() -> PKI:
    return PKI()


@pytest.fixture
def handler_server(pki: PKI) -> Iterator[mutls.wsgi.MTLSServer]:
    Handler.calls = []
    server = mutls.wsgi.MTLSServer(("127.0.0.1", 0), Handler,
                                   config=pki.server_config(peers=["uri:" + SPIFFE_PAYMENTS]))
    yield from _run(server)


@pytest.fixture
def wsgi_calls() -> List[dict]:
    return []


@pytest.fixture
def wsgi_server(pki: PKI, wsgi_calls: List[dict]) -> Iterator[mutls.wsgi.MTLSServer]:
    server = mutls.wsgi.make_server("127.0.0.1", 0, wsgi_app(wsgi_calls),
                                    config=pki.server_config(peers=["uri:" + SPIFFE_PAYMENTS]))
    yield from _run(server)


def _requests(cfg: mutls.Config) -> Any:
    requests = pytest.importorskip("requests")
    import mutls.requests

    http = requests.Session()
    http.trust_env = False
    http.mount("https://", mutls.requests.Adapter(cfg))
    return http


def test_http_server_handler_with_requests(pki: PKI, handler_server: mutls.wsgi.MTLSServer) -> None:
    with _requests(pki.client_config()) as http:
        base = f"https://127.0.0.1:{handler_server.port}"
        r = http.get(base + "/who", timeout=10)
        assert r.json() == {"cn": "payments", "uris": [SPIFFE_PAYMENTS], "ok": True}
        assert r.mutls is http.get(base + "/who", timeout=10).mutls  # keep-alive
        assert http.get(base + "/big", timeout=10).content == BODY
    assert Handler.calls == ["/who", "/who", "/big"]


def test_wsgi_app_environ_with_requests(pki: PKI, wsgi_server: mutls.wsgi.MTLSServer,
                                        wsgi_calls: List[dict]) -> None:
    with _requests(pki.client_config()) as http:
        r = http.get(f"https://127.0.0.1:{wsgi_server.port}/who", timeout=10)
    env = r.json()
    assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == "CN=payments" and env["SSL_CLIENT_S_DN_CN"] == "payments"
    assert env["SSL_CLIENT_I_DN"] == mutls.Certificate.from_pem(pki.ca.cert_pem).subject
    assert env["SSL_CLIENT_CERT"] == pki.client_id.cert_pem
    assert env["SSL_PROTOCOL"] == "TLSv1.3" and env["SSL_CIPHER"].startswith("TLS_")
    assert env["mutls.spiffe_id"] == SPIFFE_PAYMENTS
    assert isinstance(wsgi_calls[0]["mutls.session"], mutls.Session)


def _pem_files(pki: PKI, tmp_path: Path) -> dict:
    files = pki.client_id.write_to(tmp_path)
    (tmp_path / "ca.pem").write_text(pki.ca.cert_pem)
    files["ca"] = str(tmp_path / "ca.pem")
    return files


@pytest.mark.parametrize("route", ["handler", "wsgi"])
def test_curl(pki: PKI, tmp_path: Path, route: str, request: Any) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    server = request.getfixturevalue("handler_server" if route == "handler" else "wsgi_server")
    f = _pem_files(pki, tmp_path)
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", f["ca"], "--cert", f["cert"],
                        "--key", f["key"], f"https://localhost:{server.port}/who"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body.get("cn", body.get("SSL_CLIENT_S_DN_CN")) == "payments"


@pytest.mark.parametrize("route", ["handler", "wsgi"])
@pytest.mark.parametrize("who", ["unknown-ca", "outside-peers"])
def test_refused_clients_never_reach_the_app(pki: PKI, route: str, who: str, request: Any,
                                             caplog: Any) -> None:
    server = request.getfixturevalue("handler_server" if route == "handler" else "wsgi_server")
    calls = Handler.calls if route == "handler" else request.getfixturevalue("wsgi_calls")
    if who == "unknown-ca":
        identity = mutls.TestCA("someone else").issue(cn="payments", uri=[SPIFFE_PAYMENTS], purpose="client")
        alert, sentence = "unknown_ca", "client certificate CN=payments was issued by an unknown CA"
    else:
        identity = pki.ca.issue(cn="intruder", uri=["spiffe://example.org/intruder"], purpose="client")
        alert, sentence = "access_denied", "client certificate CN=intruder is not allowed by the peers policy"
    requests = pytest.importorskip("requests")
    with caplog.at_level(logging.INFO, logger="mutls.wsgi"):
        with _requests(pki.client_config(identity=identity)) as http:
            with pytest.raises(requests.exceptions.RequestException) as info:
                http.get(f"https://127.0.0.1:{server.port}/who", timeout=10)
        logged = logged_text(caplog)
    err = mutls_cause(info.value)
    assert isinstance(err, mutls.PeerRejectedError) and err.alert == alert, repr(info.value)
    assert sentence in logged, logged
    assert calls == []


@pytest.mark.parametrize("route", ["handler", "wsgi"])
def test_client_refuses_a_server_with_the_wrong_name(pki: PKI, route: str, caplog: Any) -> None:
    """requests over mutls.requests refuses a server whose certificate does
    not name the host it called: the client's error is the mutls sentence,
    the server logs the client's refusal, and the app never runs."""
    requests = pytest.importorskip("requests")
    wrong = pki.ca.issue(cn="billing", dns=["billing.internal"], purpose="server")
    Handler.calls = []
    wsgi_calls: List[dict] = []
    if route == "handler":
        server = mutls.wsgi.MTLSServer(("127.0.0.1", 0), Handler, config=pki.server_config(identity=wrong))
    else:
        server = mutls.wsgi.make_server("127.0.0.1", 0, wsgi_app(wsgi_calls),
                                        config=pki.server_config(identity=wrong))
    with caplog.at_level(logging.INFO, logger="mutls.wsgi"):
        for running in _run(server):
            with _requests(pki.client_config()) as http:
                with pytest.raises(requests.exceptions.RequestException) as info:
                    http.get(f"https://localhost:{running.port}/who", timeout=10)
            logged = logged_text(caplog)
    err = mutls_cause(info.value)
    assert isinstance(err, mutls.CertificateVerifyError), repr(info.value)
    assert "name-mismatch" in err.reasons and "localhost" in str(err)
    assert "rejected our certificate" in logged, logged
    assert Handler.calls == [] and wsgi_calls == []


@pytest.mark.parametrize("route", ["handler", "wsgi"])
def test_a_ragged_close_loses_no_response_bytes(pki: PKI, route: str, request: Any) -> None:
    """The client half-closes TCP without close_notify after its request:
    the server still reads the request and sends the whole response."""
    server = request.getfixturevalue("handler_server" if route == "handler" else "wsgi_server")
    session = pki.client_config().connect(("127.0.0.1", server.port), server_hostname="localhost", timeout=10)
    with session:
        session.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert session.sock is not None
        session.sock.shutdown(socket.SHUT_WR)  # no close_notify
        data = session.makefile("rb").read()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] + b" "
    assert body == BODY


def test_bad_config_is_named() -> None:
    with pytest.raises(TypeError, match="config: expected a mutls.Config"):
        mutls.wsgi.MTLSServer(("127.0.0.1", 0), Handler, config=None)  # type: ignore[arg-type]


def test_doc_example(tmp_path: Path) -> None:
    pytest.importorskip("requests")
    import httpservers

    out = httpservers.run_doc_example("WSGI and http.server", str(tmp_path))
    assert "{'scheme': 'https', 'verify': 'SUCCESS', 'client': 'CN=orders', " \
           "'spiffe': 'spiffe://example.org/orders'}" in out, out
