"""Real HTTPS servers for the HTTP client tests (mutls.httpx, mutls.requests):
Python's ssl http.server requiring client certificates, hypercorn (HTTP/2)
and a mutls server serving http.server handlers. Bound to 127.0.0.1 port 0,
stopped by the tests' fixtures."""

from __future__ import annotations

import asyncio
import http.server
import os
import socket
import socketserver
import ssl
import tempfile
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import mutls
from conftest import PKI

BIG = bytes(range(256)) * 4096  # 1 MiB, sent without Content-Length, then a ragged close

SPIFFE_ORDERS = "spiffe://example.org/orders"


@pytest.fixture
def tls() -> PKI:
    """A server identity with a SPIFFE ID, a client config allowing it."""
    pki = PKI()
    pki.server_id = pki.ca.issue(cn="orders", dns=["orders.internal", "localhost"], ip=["127.0.0.1"],
                                 uri=[SPIFFE_ORDERS], purpose="server")
    return pki


@pytest.fixture
def ssl_server(tls: PKI) -> Iterator["SSLServer"]:
    server = SSLServer(tls.server_id, tls.ca)
    thread = serve(server)
    yield server
    stop(server, thread)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _peer(self) -> str:
        get = getattr(self.connection, "getpeercert", None)
        if get is not None:  # ssl
            cert = get()
            return ",".join(v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName")
        session = getattr(self.server, "current_session", {}).get(threading.get_ident())
        return session.peer_certificate.common_name if session is not None else "?"

    def _reply(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BIG)
            self.wfile.flush()
            self.close_connection = True
            return
        self._reply(b"hello " + self._peer().encode())

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self._reply(b"got " + body)


class _Counting:
    connections = 0

    def count(self) -> None:
        self.connections += 1


class SSLServer(http.server.ThreadingHTTPServer):
    """Python's ssl, CERT_REQUIRED: the handshake runs in the handler's thread;
    Python's ssl closes without close_notify (a ragged close)."""

    daemon_threads = True

    def __init__(self, identity: mutls.Identity, client_ca: mutls.TestCA,
                 idle_timeout: Optional[float] = None) -> None:
        # idle_timeout: the server drops a keep-alive connection idle that long
        handler = type("IdleHandler", (Handler,), {"timeout": idle_timeout}) if idle_timeout else Handler
        super().__init__(("127.0.0.1", 0), handler)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        identity.configure_cert(self.ctx)
        client_ca.configure_trust(self.ctx)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.connections = 0
        self.handshake_errors: List[BaseException] = []

    def get_request(self) -> Any:
        sock, addr = self.socket.accept()
        self.connections += 1
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(exc)
            # A TLS 1.3 client sends its request before it reads our alert:
            # closing with that request unread resets the connection, and the
            # reset can destroy the alert (the client then sees ECONNRESET).
            from mutls._linger import linger

            linger(request, seconds=2.0)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class MutlsServer(socketserver.ThreadingTCPServer):
    """mutls (cfg.server on each accepted socket) serving the same handler
    through a small socket-like wrapper over the session."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: mutls.Config) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.config = config
        self.connections = 0
        self.current_session: dict[int, mutls.Session] = {}
        self.handshake_errors: List[BaseException] = []

    def get_request(self) -> Any:
        sock, addr = self.socket.accept()
        self.connections += 1
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        session = self.config.server(request)
        try:
            session.handshake()
        except mutls.Error as exc:
            self.handshake_errors.append(exc)
            return
        self.current_session[threading.get_ident()] = session
        try:
            self.RequestHandlerClass(_SessionSocket(session), client_address, self)
            session.close()
        except (mutls.Error, OSError):
            pass
        finally:
            self.current_session.pop(threading.get_ident(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _SessionRaw(__import__("io").RawIOBase):
    def __init__(self, session: mutls.Session) -> None:
        self.session = session

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self.session.recv(len(b))
        except mutls.ConnectionClosed:
            data = b""
        b[: len(data)] = data
        return len(data)


class _SessionWriter:
    def __init__(self, session: mutls.Session) -> None:
        self.session = session

    def write(self, data: bytes) -> int:
        self.session.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _SessionSocket:
    """What StreamRequestHandler needs of its connection."""

    def __init__(self, session: mutls.Session) -> None:
        self.session = session

    def makefile(self, mode: str, bufsize: int = -1) -> Any:
        import io
        if "r" in mode:
            return io.BufferedReader(_SessionRaw(self.session))
        return _SessionWriter(self.session)

    def sendall(self, data: bytes) -> None:
        self.session.sendall(data)

    def settimeout(self, t: Optional[float]) -> None:
        pass


def serve(server: socketserver.BaseServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    return t


def stop(server: socketserver.BaseServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- hypercorn (HTTP/2), if installed ---------------------------------------

async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reply = f"{scope['http_version']} {scope['method']} ".encode() + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(reply)).encode())]})
    await send({"type": "http.response.body", "body": reply})


def _ssl_server_files(identity: mutls.Identity, client_ca: mutls.TestCA
                      ) -> Tuple[tempfile.TemporaryDirectory, Dict[str, str], str, socket.socket]:
    """What a server on Python's ssl reads: the identity's files and the
    client CA's certificate in a temporary directory; and its listening
    socket, 127.0.0.1 port 0."""
    tmp = tempfile.TemporaryDirectory()
    paths = identity.write_to(tmp.name)
    ca_path = os.path.join(tmp.name, "client-ca.pem")
    with open(ca_path, "w") as f:
        f.write(client_ca.cert_pem)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return tmp, paths, ca_path, sock


class Hypercorn:
    """hypercorn with Python's ssl (CERT_REQUIRED), h2 and http/1.1 by ALPN,
    in a thread with its own event loop."""

    def __init__(self, identity: mutls.Identity, client_ca: mutls.TestCA) -> None:
        import hypercorn.asyncio
        import hypercorn.config

        self._dir, paths, ca_path, self._sock = _ssl_server_files(identity, client_ca)
        self.port = self._sock.getsockname()[1]
        config = hypercorn.config.Config()
        config.bind = [f"fd://{self._sock.fileno()}"]
        config.certfile = paths["chain"]  # leaf first, then the issuers
        config.keyfile = paths["key"]
        config.ca_certs = ca_path
        config.verify_mode = ssl.CERT_REQUIRED
        config.loglevel = "WARNING"
        config.accesslog = None
        config.errorlog = None
        self._serve = hypercorn.asyncio.serve
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._stopping: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stopping = asyncio.Event()
            self._ready.set()
            await self._serve(asgi_app, self._config, shutdown_trigger=self._stopping.wait)  # type: ignore[arg-type]

        self._loop.run_until_complete(main())

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
        try:
            self._sock.close()
        except OSError:  # hypercorn closed the listening socket itself
            pass
        self._dir.cleanup()


class UvicornSSL:
    """uvicorn with Python's ssl (CERT_REQUIRED: ssl_cert_reqs, ssl_ca_certs),
    HTTP/1.1, serving asgi_app in a thread with its own event loop."""

    def __init__(self, identity: mutls.Identity, client_ca: mutls.TestCA) -> None:
        import uvicorn

        self._dir, paths, ca_path, self._sock = _ssl_server_files(identity, client_ca)
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(asgi_app, ssl_certfile=paths["chain"], ssl_keyfile=paths["key"],
                                ssl_ca_certs=ca_path, ssl_cert_reqs=ssl.CERT_REQUIRED, lifespan="off",
                                log_config=None, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                break
            threading.Event().wait(0.05)
        assert self._server.started, "uvicorn did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve(sockets=[self._sock]))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        try:
            self._sock.close()
        except OSError:
            pass
        self._loop.close()
        self._dir.cleanup()


# -- the examples of docs/python-http.md ---------------------------------------

def doc_example(section: str) -> str:
    """The ```python block of the section ``## <section>`` of docs/python-http.md."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "python-http.md").read_text()
    part = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"^```python\n(.*?)^```$", part, re.S | re.M)
    assert m is not None, f"no python example in section {section}"
    return m.group(1)


def run_doc_example(section: str, tmp: str) -> str:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", doc_example(section)], capture_output=True, text=True,
                       timeout=60, cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def handshake_errors(server: Any, timeout: float = 5.0) -> List[BaseException]:
    """The server's handshake failures, once there is one (its handler thread
    records it after sending the alert the client reacts to)."""
    import time

    deadline = time.monotonic() + timeout
    while not server.handshake_errors and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.handshake_errors)
