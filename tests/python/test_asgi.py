"""mutls.asgi: a FastAPI app served over mTLS by uvicorn's protocol on
mutls.aio transports, called by httpx (mutls.httpx sync and async, and plain
ssl), requests (mutls.requests.Adapter) and curl."""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import mutls

pytest.importorskip("uvicorn")
fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
import mutls.asgi  # noqa: E402
import mutls.httpx  # noqa: E402

from conftest import PKI, logged_text  # noqa: E402

SPIFFE_PAYMENTS = "spiffe://example.org/payments"


def make_app(calls: List[dict]) -> Any:
    app = fastapi.FastAPI()

    @app.get("/whoami")
    async def whoami(request: fastapi.Request) -> Any:
        scope = request.scope
        tls = scope["extensions"]["tls"]
        m = scope["extensions"]["mutls"]
        calls.append(scope)
        return {"scheme": scope["scheme"], "tls": tls,
                "mutls": {k: v for k, v in m.items() if k != "session"}}

    @app.get("/big")
    async def big() -> Any:
        return fastapi.Response(content=b"z" * 300000, media_type="application/octet-stream")

    return app


class Running:
    """A mutls.asgi.Server on its own event loop in a thread."""

    def __init__(self, app: Any, config: mutls.Config, **kw: Any) -> None:
        self.server = mutls.asgi.Server(app, config=config, port=0, **kw)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        self.port = self.server.port

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(timeout=2), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def pki() -> PKI:
    return PKI()


@pytest.fixture
def calls() -> List[dict]:
    return []


@pytest.fixture
def server(pki: PKI, calls: List[dict]) -> Iterator[Running]:
    cfg = pki.server_config(peers=["uri:" + SPIFFE_PAYMENTS])
    running = Running(make_app(calls), cfg, lifespan="off")
    yield running
    running.close()


def _check_seen(body: dict, pki: PKI) -> None:
    assert body["scheme"] == "https"
    tls = body["tls"]
    assert tls["server_cert"] == pki.server_id.cert_pem
    assert tls["client_cert_chain"][0] == pki.client_id.cert_pem
    assert tls["client_cert_name"] == "CN=payments"
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] == mutls.asgi.CIPHER_SUITES[body["mutls"]["cipher"]]
    m = body["mutls"]
    assert m["verified"] is True and m["reasons"] == []
    assert m["spiffe_id"] == SPIFFE_PAYMENTS and m["common_name"] == "payments"
    assert m["version"] == "TLSv1.3" and "payments" in m["explanation"]


def test_httpx_over_mutls_sync_and_async(pki: PKI, server: Running, calls: List[dict]) -> None:
    url = f"https://127.0.0.1:{server.port}/whoami"
    cfg = pki.client_config()
    with httpx.Client(transport=mutls.httpx.Transport(cfg), timeout=10) as client:
        r = client.get(url)
        assert r.status_code == 200
        _check_seen(r.json(), pki)
        assert client.get(url).status_code == 200  # keep-alive: same connection

    async def go() -> Any:
        async with httpx.AsyncClient(transport=mutls.httpx.AsyncTransport(cfg), timeout=10) as client:
            return await client.get(url)

    r = asyncio.run(go())
    assert r.status_code == 200
    _check_seen(r.json(), pki)
    assert len(calls) == 3


def test_server_cert_is_the_leaf_sent_also_when_resumed(pki: PKI, server: Running, calls: List[dict]) -> None:
    """server_cert comes from the session (Session.own_certificate): the
    leaf the handshake sent, and on a resumed connection (no certificate
    sent) the Config's leaf it was established with."""
    url = f"https://127.0.0.1:{server.port}/whoami"
    with httpx.Client(transport=mutls.httpx.Transport(pki.client_config()), timeout=10) as client:
        first = client.get(url, headers={"Connection": "close"})
        second = client.get(url)  # a new connection, resuming the first one's session
    sessions = [c["extensions"]["mutls"]["session"] for c in calls]
    assert [s.resumed for s in sessions] == [False, True]
    assert second.extensions["mutls"].resumed
    for r in (first, second):
        assert r.json()["tls"]["server_cert"] == pki.server_id.cert_pem
        assert r.extensions["mutls"].peer_certificate.pem == pki.server_id.cert_pem


def test_requests_adapter(pki: PKI, server: Running, calls: List[dict]) -> None:
    requests = pytest.importorskip("requests")
    import mutls.requests

    with requests.Session() as http:
        http.trust_env = False
        http.mount("https://", mutls.requests.Adapter(pki.client_config()))
        r = http.get(f"https://127.0.0.1:{server.port}/whoami", timeout=10)
    assert r.status_code == 200
    _check_seen(r.json(), pki)
    assert len(calls) == 1


def _pem_files(pki: PKI, tmp_path: Path, identity: Any = None) -> dict:
    files = (identity or pki.client_id).write_to(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_text(pki.ca.cert_pem)
    files["ca"] = str(ca)
    return files


def test_curl(pki: PKI, server: Running, calls: List[dict], tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    f = _pem_files(pki, tmp_path)
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", f["ca"], "--cert", f["cert"],
                        "--key", f["key"], f"https://localhost:{server.port}/whoami"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    import json

    _check_seen(json.loads(r.stdout), pki)
    # curl without a client certificate is refused; the app does not run
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", f["ca"],
                        f"https://localhost:{server.port}/whoami"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert len(calls) == 1


def test_httpx_over_plain_ssl(pki: PKI, server: Running, calls: List[dict], tmp_path: Path) -> None:
    f = _pem_files(pki, tmp_path)
    ctx = ssl.create_default_context(cafile=f["ca"])
    ctx.load_cert_chain(f["chain"], f["key"])
    with httpx.Client(verify=ctx, timeout=10) as client:
        r = client.get(f"https://localhost:{server.port}/whoami")
        assert r.status_code == 200
        _check_seen(r.json(), pki)
        # a ragged close loses no response bytes: a 300 kB body arrives whole
        r = client.get(f"https://localhost:{server.port}/big", headers={"Connection": "close"})
        assert r.content == b"z" * 300000


def _refused(pki: PKI, server: Running, client_cfg: mutls.Config, caplog: Any) -> mutls.Error:
    with caplog.at_level(logging.DEBUG, logger="mutls.aio"):
        with httpx.Client(transport=mutls.httpx.Transport(client_cfg), timeout=10) as client:
            with pytest.raises(httpx.ConnectError) as info:
                client.get(f"https://127.0.0.1:{server.port}/whoami")
        err = info.value.__cause__
        assert isinstance(err, mutls.Error), repr(info.value)
        for _ in range(100):  # the server logs from its own thread
            if any("handshake" in r.getMessage() for r in caplog.records):
                break
            threading.Event().wait(0.05)
    return err


def test_unknown_ca_client_is_refused_app_never_runs(pki: PKI, server: Running, calls: List[dict],
                                                      caplog: Any) -> None:
    other = mutls.TestCA("someone else")
    stranger = other.issue(cn="payments", uri=[SPIFFE_PAYMENTS], purpose="client")
    err = _refused(pki, server, pki.client_config(identity=stranger), caplog)
    assert isinstance(err, mutls.PeerRejectedError) and err.alert == "unknown_ca"
    assert str(err).startswith("peer rejected our certificate")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "client certificate CN=payments was issued by an unknown CA" in logged, logged
    assert calls == []


def test_client_outside_peers_is_refused(pki: PKI, server: Running, calls: List[dict], caplog: Any) -> None:
    outsider = pki.ca.issue(cn="intruder", uri=["spiffe://example.org/intruder"], purpose="client")
    err = _refused(pki, server, pki.client_config(identity=outsider), caplog)
    assert isinstance(err, mutls.PeerRejectedError) and err.alert == "access_denied"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "CN=intruder is not allowed by the peers policy" in logged and "spiffe://example.org/intruder" in logged, logged
    assert calls == []


def test_server_with_the_wrong_name_is_refused_by_the_client(pki: PKI, calls: List[dict],
                                                              caplog: Any) -> None:
    wrong = pki.ca.issue(cn="billing", dns=["billing.internal"], purpose="server")
    running = Running(make_app(calls), pki.server_config(identity=wrong), lifespan="off")
    try:
        cfg = pki.client_config()
        with httpx.Client(transport=mutls.httpx.Transport(cfg), timeout=10) as client:
            with pytest.raises(httpx.HTTPError) as info:
                client.get(f"https://localhost:{running.port}/whoami")
        err = info.value.__cause__
        assert isinstance(err, mutls.CertificateVerifyError)
        assert "name-mismatch" in err.reasons and "localhost" in str(err)
    finally:
        running.close()
    assert calls == []


def test_cipher_suite_codes_match_gnutls() -> None:
    if shutil.which("gnutls-cli") is None:
        pytest.skip("gnutls-cli is not installed")
    listing = subprocess.run(["gnutls-cli", "--list"], capture_output=True, text=True, timeout=30).stdout
    codes = {}
    for m in re.finditer(r"^(TLS_\w+)\s+0x([0-9a-f]{2}), 0x([0-9a-f]{2})", listing, re.M | re.I):
        codes[m.group(1)] = int(m.group(2), 16) << 8 | int(m.group(3), 16)
    # GnuTLS lists its own spelling: no "_WITH_", SHA1 for SHA, no hash after CHACHA20_POLY1305
    def gnutls_name(iana: str) -> str:
        name = iana.replace("_WITH_", "_")
        name = re.sub(r"_SHA$", "_SHA1", name)
        return re.sub(r"(_(RSA|ECDSA)_CHACHA20_POLY1305)_SHA256$", r"\1", name)

    checked = 0
    for iana, code in mutls.asgi.CIPHER_SUITES.items():
        assert codes.get(gnutls_name(iana)) == code, (iana, gnutls_name(iana))
        checked += 1
    assert checked == len(mutls.asgi.CIPHER_SUITES) >= 20


def test_string_app_and_missing_uvicorn_message(pki: PKI, monkeypatch: Any) -> None:
    with pytest.raises(TypeError, match="config: expected a mutls.Config"):
        mutls.asgi.Server(make_app([]), config="cfg")  # type: ignore[arg-type]
    import builtins

    real_import = builtins.__import__

    def no_uvicorn(name: str, *args: Any, **kw: Any) -> Any:
        if name == "uvicorn" or name.startswith("uvicorn."):
            raise ImportError("No module named 'uvicorn'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    monkeypatch.delitem(__import__("sys").modules, "uvicorn")
    with pytest.raises(ImportError, match=r"mutls\[asgi\]"):
        mutls.asgi.Server(make_app([]), config=pki.server_config())


CLI_APP = '''
calls = []

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    calls.append(1)
    tls = scope["extensions"]["tls"]
    m = scope["extensions"]["mutls"]
    body = ("%s %s %s %d" % (scope["scheme"], m["spiffe_id"], tls["client_cert_name"], len(calls))).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
'''


def test_cli_serves_an_app_and_prints_refusals(tmp_path: Path) -> None:
    import os
    import select
    import signal
    import sys

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    (tmp_path / "ordersapp.py").write_text(CLI_APP)
    ca = mutls.TestCA("cli root")
    server = ca.issue(cn="orders", dns=["localhost"], purpose="server").write_to(tmp_path / "server")
    client = ca.issue(cn="payments", uri=[SPIFFE_PAYMENTS], purpose="client").write_to(tmp_path / "client")
    outsider = ca.issue(cn="intruder", uri=["spiffe://example.org/intruder"],
                        purpose="client").write_to(tmp_path / "outsider")
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    env = dict(os.environ, NO_COLOR="1")
    p = subprocess.Popen([sys.executable, "-m", "mutls", "asgi", "ordersapp:app", "--identity", server["chain"],
                          "--key", server["key"], "--trust", str(tmp_path / "ca.pem"), "--port", "0",
                          "--peers", "uri:" + SPIFFE_PAYMENTS], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        ready, _, _ = select.select([p.stdout], [], [], 20)
        first = p.stdout.readline() if ready else ""
        m = re.match(r"listening on https://127\.0\.0\.1:(\d+)$", first.strip())
        assert m, first + (p.stderr.read() if p.poll() is not None and p.stderr else "")
        url = f"https://localhost:{m.group(1)}/"

        def curl(who: dict) -> subprocess.CompletedProcess:
            return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(tmp_path / "ca.pem"),
                                   "--cert", who["cert"], "--key", who["key"], url],
                                  capture_output=True, text=True, timeout=20)

        good = curl(client)
        assert good.returncode == 0, good.stderr
        assert good.stdout == f"https {SPIFFE_PAYMENTS} CN=payments 1"
        assert curl(outsider).returncode != 0
        assert curl(client).stdout.endswith(" 2")  # the outsider never reached the app
    finally:
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == 0, err
    assert "refused: client certificate CN=intruder is not allowed by the peers policy" in out, out + err


def test_lifespan_runs(pki: PKI) -> None:
    events: List[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return

    running = Running(app, pki.server_config())
    running.close()
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_doc_example(tmp_path: Path) -> None:
    import httpservers

    import sys

    r = subprocess.run([sys.executable, "-c", httpservers.doc_example("ASGI (FastAPI, Starlette)")],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "server log: mutls: TLS handshake with" in r.stderr, r.stderr
    assert "CN=intruder is not allowed by the peers policy" in r.stderr, r.stderr
    assert "200 {'charged': '42 EUR', 'for': 'spiffe://example.org/orders', 'scheme': 'https', " \
           "'client': 'CN=orders', 'tls': '0x304'}" in out, out
    assert "client: peer rejected our certificate (alert access_denied)" in out, out


def test_tls12_version_and_suite_codes(pki: PKI, server: Running) -> None:
    cfg = pki.client_config(versions=("1.2",))
    with httpx.Client(transport=mutls.httpx.Transport(cfg), timeout=10) as client:
        body = client.get(f"https://127.0.0.1:{server.port}/whoami").json()
    assert body["tls"]["tls_version"] == 0x0303 and body["mutls"]["version"] == "TLSv1.2"
    # the test CA's keys are ECDSA: an ECDHE_ECDSA suite, e.g. 0xC02C for AES_256_GCM_SHA384
    assert body["mutls"]["cipher"].startswith("TLS_ECDHE_ECDSA_WITH_")
    assert body["tls"]["cipher_suite"] == mutls.asgi.CIPHER_SUITES[body["mutls"]["cipher"]]


def test_a_client_ragged_half_close_after_its_request(pki: PKI, server: Running) -> None:
    """The client half-closes TCP without close_notify right after its
    request: the whole response still arrives, and the server goes on."""
    import socket

    session = pki.client_config().connect(("127.0.0.1", server.port), server_hostname="localhost", timeout=10)
    with session:
        session.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert session.sock is not None
        session.sock.shutdown(socket.SHUT_WR)
        data = session.makefile("rb").read()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"z" * 300000
    with httpx.Client(transport=mutls.httpx.Transport(pki.client_config()), timeout=10) as client:
        assert client.get(f"https://127.0.0.1:{server.port}/big").content == b"z" * 300000


# -- every client, refused: by the server (unknown CA, outside peers=) and by
#    the client itself (a server with the wrong name) ---------------------------

CLIENTS = ["httpx-mutls", "httpx-mutls-async", "requests-mutls", "curl", "httpx-ssl"]


def _call(client: str, identity: Any, pki: PKI, port: int, tmp_path: Path) -> str:
    """Calls /whoami on localhost:port; returns "ok" or the client's error text."""
    url = f"https://localhost:{port}/whoami"
    cfg = pki.client_config(identity=identity)
    try:
        if client == "httpx-mutls":
            with httpx.Client(transport=mutls.httpx.Transport(cfg), timeout=10) as c:
                c.get(url).raise_for_status()
        elif client == "httpx-mutls-async":
            async def go() -> None:
                async with httpx.AsyncClient(transport=mutls.httpx.AsyncTransport(cfg), timeout=10) as c:
                    (await c.get(url)).raise_for_status()
            asyncio.run(go())
        elif client == "requests-mutls":
            requests = pytest.importorskip("requests")
            adapters = importlib.import_module("mutls.requests")
            with requests.Session() as http:
                http.trust_env = False
                http.mount("https://", adapters.Adapter(cfg))
                http.get(url, timeout=10).raise_for_status()
        else:
            f = _pem_files(pki, tmp_path, identity)
            if client == "curl":
                if shutil.which("curl") is None:
                    pytest.skip("curl is not installed")
                r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", f["ca"], "--cert", f["cert"],
                                    "--key", f["key"], url], capture_output=True, text=True, timeout=20)
                return "ok" if r.returncode == 0 else f"curl exit {r.returncode}: {r.stderr}"
            ctx = ssl.create_default_context(cafile=f["ca"])
            ctx.load_cert_chain(f["chain"], f["key"])
            with httpx.Client(verify=ctx, timeout=10) as c:
                c.get(url).raise_for_status()
    except Exception as exc:  # the client's own error type: checked by the caller
        cause = exc.__cause__ or exc.__context__
        return f"{type(exc).__name__}: {exc} / {type(cause).__name__}: {cause}"
    return "ok"


@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_good_and_refused(pki: PKI, server: Running, calls: List[dict], client: str,
                                       tmp_path: Path, caplog: Any) -> None:
    assert _call(client, pki.client_id, pki, server.port, tmp_path / "good") == "ok"
    assert len(calls) == 1
    _check_seen({"scheme": calls[0]["scheme"], "tls": calls[0]["extensions"]["tls"],
                 "mutls": calls[0]["extensions"]["mutls"]}, pki)
    stranger = mutls.TestCA("someone else").issue(cn="payments", uri=[SPIFFE_PAYMENTS], purpose="client")
    outsider = pki.ca.issue(cn="intruder", uri=["spiffe://example.org/intruder"], purpose="client")
    with caplog.at_level(logging.DEBUG, logger="mutls.aio"):
        for name, identity, sentence in [
                ("stranger", stranger, "client certificate CN=payments was issued by an unknown CA"),
                ("outsider", outsider, "client certificate CN=intruder is not allowed by the peers policy")]:
            caplog.clear()
            said = _call(client, identity, pki, server.port, tmp_path / name)
            assert said != "ok"
            if client.endswith("mutls"):
                assert "PeerRejectedError: peer rejected our certificate" in said, said
            logged = logged_text(caplog)
            assert sentence in logged, logged
    assert len(calls) == 1  # the refused clients never reached the app


@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_refuses_a_server_with_the_wrong_name(pki: PKI, calls: List[dict], client: str,
                                                           tmp_path: Path, caplog: Any) -> None:
    wrong = pki.ca.issue(cn="billing", dns=["billing.internal"], purpose="server")
    running = Running(make_app(calls), pki.server_config(identity=wrong), lifespan="off")
    try:
        with caplog.at_level(logging.DEBUG, logger="mutls.aio"):
            said = _call(client, pki.client_id, pki, running.port, tmp_path)
            logged = logged_text(caplog)  # the server logs from its own thread
    finally:
        running.close()
    assert said != "ok" and calls == []
    # the refused server has the sentence too: the client's alert, in mutls's
    # words. curl (OpenSSL) checks the name after a complete handshake and
    # then sends close_notify, no alert: the server sees a client that left.
    if client != "curl":
        assert "peer rejected our certificate (alert " in logged, logged
    if "mutls" in client:
        assert "CertificateVerifyError" in said and "localhost" in said, said
    elif client == "curl":
        assert said.startswith("curl exit 60"), said  # peer certificate cannot be authenticated
    else:
        assert "SSLCertVerificationError" in said or "CERTIFICATE_VERIFY_FAILED" in said, said


def test_websocket_scope_is_wss_with_the_tls_extension(pki: PKI) -> None:
    wsproto = pytest.importorskip("wsproto")
    from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        ext = scope["extensions"]
        await send({"type": "websocket.send", "text": "%s %s %s" % (
            scope["scheme"], ext["mutls"]["spiffe_id"], ext["tls"]["client_cert_name"])})
        await send({"type": "websocket.close"})

    running = Running(app, pki.server_config(), lifespan="off", ws="wsproto")
    try:
        session = pki.client_config().connect(("127.0.0.1", running.port), server_hostname="localhost",
                                              timeout=10)
        with session:
            ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
            session.sendall(ws.send(Request(host="localhost", target="/ws")))
            seen: List[Any] = []
            while not any(isinstance(e, CloseConnection) for e in seen):
                data = session.recv(65536)
                assert data, seen
                ws.receive_data(data)
                seen.extend(ws.events())
    finally:
        running.close()
    assert isinstance(seen[0], AcceptConnection)
    texts = [e.data for e in seen if isinstance(e, TextMessage)]
    assert texts == [f"wss {SPIFFE_PAYMENTS} CN=payments"]


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_both_uvicorn_http_protocols(pki: PKI, calls: List[dict], http: str) -> None:
    pytest.importorskip(http)
    running = Running(make_app(calls), pki.server_config(), lifespan="off", http=http)
    try:
        url = f"https://127.0.0.1:{running.port}"
        with httpx.Client(transport=mutls.httpx.Transport(pki.client_config()), timeout=10) as client:
            _check_seen(client.get(url + "/whoami").json(), pki)
            r = client.get(url + "/whoami")  # keep-alive: the second request of the connection
            _check_seen(r.json(), pki)
            assert client.get(url + "/big").content == b"z" * 300000
    finally:
        running.close()
    assert len(calls) == 2 and calls[0]["extensions"]["mutls"]["session"] is calls[1]["extensions"]["mutls"]["session"]


def test_keep_alive_requests_get_their_own_copy_of_the_extensions(pki: PKI, monkeypatch: Any) -> None:
    """The extensions are built once per connection (bench: per request they
    cost keep-alive throughput); each request still gets its own copy, so
    an app that changes its scope changes no later request's."""
    seen: List[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        ext = scope["extensions"]
        seen.append((ext["mutls"]["session"], {k: list(v) if isinstance(v, list) else v for k, v in ext["tls"].items()},
                     list(ext["mutls"]["uris"])))
        ext["tls"]["client_cert_chain"].clear()      # an app scribbling on its scope
        ext["tls"]["client_cert_name"] = "CN=forged"
        ext["mutls"]["uris"].append("spiffe://example.org/forged")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    built = []
    real_tls_scope = mutls.asgi.tls_scope

    def counting_tls_scope(*args: Any) -> Any:
        built.append(1)
        return real_tls_scope(*args)

    monkeypatch.setattr(mutls.asgi, "tls_scope", counting_tls_scope)
    running = Running(app, pki.server_config(), lifespan="off")
    try:
        with httpx.Client(transport=mutls.httpx.Transport(pki.client_config()), timeout=10) as client:
            for _ in range(3):
                assert client.get(f"https://127.0.0.1:{running.port}/").text == "ok"
    finally:
        running.close()
    assert len(seen) == 3 and seen[0][0] is seen[1][0] is seen[2][0]  # one connection
    assert len(built) == 1  # built once for the connection, not per request
    for session, tls, uris in seen:
        assert tls["client_cert_name"] == "CN=payments"
        assert tls["client_cert_chain"] and tls["client_cert_chain"][0] == pki.client_id.cert_pem
        assert uris == [SPIFFE_PAYMENTS]


def test_client_cert_error_with_an_optional_client_certificate(pki: PKI, calls: List[dict], tmp_path: Path,
                                                                caplog: Any) -> None:
    """client_cert_error: with peer_certificate="request" (the one mode where a
    client certificate is optional), an anonymous client reaches the app
    with an empty chain and client_cert_error None (nothing failed), a good
    one with its chain and None, and a certificate that fails verification
    is still refused in the handshake: the app never sees it, so mutls never
    hands an app a client_cert_error (docs/python-http.md, "client_cert_error")."""
    running = Running(make_app(calls), pki.server_config(peer_certificate="request"), lifespan="off")
    try:
        f = _pem_files(pki, tmp_path)
        anonymous = ssl.create_default_context(cafile=f["ca"])  # no certificate of its own
        with httpx.Client(verify=anonymous, timeout=10) as client:
            seen = client.get(f"https://localhost:{running.port}/whoami").json()
        tls, m = seen["tls"], seen["mutls"]
        assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
        assert tls["client_cert_error"] is None
        assert tls["server_cert"] == pki.server_id.cert_pem
        assert m["verified"] is False and m["spiffe_id"] is None
        assert m["message"] == "client presented no certificate (allowed: peer_certificate=request)"

        with httpx.Client(transport=mutls.httpx.Transport(pki.client_config()), timeout=10) as client:
            seen = client.get(f"https://localhost:{running.port}/whoami").json()
        assert seen["tls"]["client_cert_error"] is None and seen["mutls"]["verified"] is True
        assert seen["tls"]["client_cert_chain"][0] == pki.client_id.cert_pem
        assert len(calls) == 2

        stranger = mutls.TestCA("someone else").issue(cn="payments", uri=[SPIFFE_PAYMENTS], purpose="client")
        err = _refused(pki, running, pki.client_config(identity=stranger), caplog)
        assert isinstance(err, mutls.PeerRejectedError) and err.alert == "unknown_ca"
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "client certificate CN=payments was issued by an unknown CA" in logged, logged
        assert len(calls) == 2  # the refused client never reached the app
    finally:
        running.close()


def test_client_cert_error_with_peer_certificate_observe(pki: PKI, calls: List[dict]) -> None:
    """peer_certificate="observe": a client whose certificate fails the checks
    reaches the app unverified, and client_cert_error is the mutls sentence
    the refusal would have given; a good client gets None."""
    cfg = pki.server_config(peer_certificate="observe", peers=["uri:" + SPIFFE_PAYMENTS])
    running = Running(make_app(calls), cfg, lifespan="off")
    try:
        stranger = mutls.TestCA("someone else").issue(cn="payments", uri=[SPIFFE_PAYMENTS], purpose="client")
        outsider = pki.ca.issue(cn="intruder", uri=["spiffe://example.org/intruder"], purpose="client")
        seen = {}
        for name, identity in [("good", pki.client_id), ("stranger", stranger), ("outsider", outsider)]:
            transport = mutls.httpx.Transport(pki.client_config(identity=identity))
            with httpx.Client(transport=transport, timeout=10) as client:
                seen[name] = client.get(f"https://localhost:{running.port}/whoami").json()
    finally:
        running.close()
    assert seen["good"]["tls"]["client_cert_error"] is None and seen["good"]["mutls"]["verified"] is True
    tls, m = seen["stranger"]["tls"], seen["stranger"]["mutls"]
    assert tls["client_cert_chain"][0] == stranger.cert_pem and tls["client_cert_name"] == "CN=payments"
    assert tls["client_cert_error"] == m["message"]
    assert tls["client_cert_error"].startswith("client certificate CN=payments was issued by an unknown CA")
    assert m["verified"] is False and "unknown-issuer" in m["reasons"]
    tls, m = seen["outsider"]["tls"], seen["outsider"]["mutls"]
    assert "CN=intruder is not allowed by the peers policy" in tls["client_cert_error"]
    assert m["verified"] is False and m["reasons"] == ["policy"]
    assert len(calls) == 3


def test_client_cert_error_is_the_verdict_of_a_failed_check(pki: PKI) -> None:
    """tls_scope maps a session's verdict: a session that holds a failed
    verdict with a certificate (what peer_certificate="observe" lets
    through; here Config.check_peer, the same checks a handshake makes)
    gives the mutls sentence as client_cert_error."""
    cfg = pki.server_config(peers=["uri:" + SPIFFE_PAYMENTS])
    good = cfg.check_peer(pki.client_id.chain)
    assert good.verified
    ext = mutls.asgi.tls_scope(good)
    assert ext["tls"]["client_cert_error"] is None and ext["mutls"]["verified"] is True
    intruder = pki.ca.issue(cn="intruder", uri=["spiffe://example.org/intruder"], purpose="client")
    bad = cfg.check_peer(intruder.chain)
    assert not bad.verified and bad.error is not None
    ext = mutls.asgi.tls_scope(bad)
    tls = ext["tls"]
    assert tls["client_cert_error"] == bad.verification.message
    assert tls["client_cert_error"].startswith("client certificate CN=intruder is not allowed by the peers policy")
    assert tls["client_cert_name"] == "CN=intruder" and tls["client_cert_chain"][0] == intruder.cert_pem
    assert ext["mutls"]["verified"] is False and ext["mutls"]["reasons"] == ["policy"]
    # no certificate at all: no error (the spec's "was not provided")
    anonymous = mutls.Config(trust=pki.ca, peer_certificate="request").check_peer([])
    assert mutls.asgi.tls_scope(anonymous)["tls"]["client_cert_error"] is None
