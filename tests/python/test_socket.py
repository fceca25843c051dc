"""Socket mode over real loopback TCP (and socketpairs): blocking sessions with
a server thread (which only works because the GIL is released while GnuTLS
waits), the socket's own timeout, non-blocking want-read/want-write, a peer
that goes away, Config.connect and Config.accept. Mirrors tests/c/test_socket.c."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Dict, List

import pytest

import mutls

from conftest import DAY, PKI

HOST = "orders.internal"


def echo(scfg: mutls.Config, seen: Dict[str, Any]) -> Any:
    def handler(conn: socket.socket) -> None:
        s = scfg.server(conn)
        try:
            s.handshake()
        except mutls.Error as exc:
            seen["error"] = exc
            return
        seen["peer"] = s.peer_certificate
        seen["verified"] = s.verified
        while True:
            data = s.recv()
            if not data:
                break
            s.sendall(data)
        s.close()
    return handler


def test_blocking_loopback_echo(pki: PKI, tcp_server: Any) -> None:
    seen: Dict[str, Any] = {}
    host, port = tcp_server(echo(pki.server_config(), seen))
    with socket.create_connection((host, port)) as sock:
        assert sock.gettimeout() is None  # blocking: the core waits, without the GIL
        c = pki.client_config().client(sock, server_hostname="localhost")
        assert c.sock is sock
        c.handshake()
        assert c.version == "TLSv1.3" and c.verified
        c.sendall(b"ping over tcp")
        assert c.recv() == b"ping over tcp"
        c.close()
        assert c.recv() == b""  # the server's close_notify
        assert sock.fileno() >= 0  # close() leaves the socket to its owner
    assert seen["peer"].label == "CN=payments" and seen["verified"]


def test_refusal_over_tcp_reaches_both_ends(pki: PKI, tcp_server: Any) -> None:
    seen: Dict[str, Any] = {}
    expired = pki.ca.issue(cn="payments", purpose="client", not_before=-7 * DAY, not_after=-DAY)
    host, port = tcp_server(echo(pki.server_config(), seen))
    with socket.create_connection((host, port), timeout=10) as sock:
        c = pki.client_config(expired).client(sock, server_hostname="127.0.0.1")
        with pytest.raises(mutls.PeerRejectedError) as info:
            c.handshake()
            c.recv()  # TLS 1.3: the refusal arrives after our Finished
        assert str(info.value) == "peer rejected our certificate (alert certificate_expired)"
        assert info.value.reasons == ["expired"]
    # the tcp_server fixture joins the thread at teardown; wait here to read it
    for _ in range(200):
        if "error" in seen:
            break
        time.sleep(0.05)
    e = seen["error"]
    assert type(e) is mutls.CertificateVerifyError and e.reasons == ["expired"]
    assert "client certificate CN=payments expired at " in str(e)


def test_timeout_then_the_session_goes_on(pki: PKI) -> None:
    """A timeout does not break the session: the same call works once the peer comes."""
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.2)
        c = pki.client_config().client(a, server_hostname=HOST)
        start = time.monotonic()
        with pytest.raises(mutls.TimeoutError) as info:
            c.handshake()
        assert 0.15 <= time.monotonic() - start < 3
        assert "timed out after 200 ms" in str(info.value)
        assert c.error is None
        # the server arrives; the timeout is read again at each call
        result: Dict[str, Any] = {}

        def serve() -> None:
            try:
                s = pki.server_config().server(b)
                s.handshake()
                result["peer"] = s.peer_certificate
                s.sendall(s.recv())
            except BaseException as exc:
                result["error"] = exc

        b.settimeout(10)
        a.settimeout(None)  # now blocking (the session was made on a non-blocking fd)
        t = threading.Thread(target=serve)
        t.start()
        c.handshake()
        c.sendall(b"late")
        assert c.recv() == b"late"
        t.join(10)
        assert "error" not in result, result.get("error")
        assert result["peer"].common_name == "payments"


def test_timeout_on_recv(pki: PKI) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(10)
        b.settimeout(10)
        result: Dict[str, Any] = {}
        ready = threading.Event()
        release = threading.Event()

        def serve() -> None:
            s = pki.server_config().server(b)
            s.handshake()
            ready.set()
            release.wait(10)
            s.sendall(b"finally")
            result["done"] = True

        t = threading.Thread(target=serve)
        t.start()
        c = pki.client_config().client(a, server_hostname=HOST)
        c.handshake()
        assert ready.wait(10)
        a.settimeout(0.1)
        with pytest.raises(mutls.TimeoutError):
            c.recv()
        release.set()
        a.settimeout(10)
        data = c.recv()
        while data == b"":  # never: a close_notify would say b""
            data = c.recv()
        assert data == b"finally"
        t.join(10)
        assert result.get("done")


def test_peer_hangs_up_mid_handshake(pki: PKI) -> None:
    a, b = socket.socketpair()
    with a:
        a.setblocking(False)
        c = pki.client_config().client(a, server_hostname=HOST)
        with pytest.raises(mutls.WantRead):
            c.handshake()
        assert len(b.recv(4096)) > 0  # the ClientHello; no server ever answers
        b.close()
        with pytest.raises(mutls.ConnectionClosed) as info:
            c.handshake()
        assert info.value.side == "peer"
        assert "server closed the connection during the handshake" in str(info.value)


def test_nonblocking_want_read_and_want_write(pki: PKI) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.0)
        b.settimeout(0.0)
        c = pki.client_config().client(a, server_hostname=HOST)
        s = pki.server_config().server(b)
        pending = {"c": c, "s": s}
        signals = set()
        for _ in range(100):
            for key in list(pending):
                try:
                    pending[key].handshake()
                    del pending[key]
                except mutls.WantRead:
                    signals.add("read")
                except mutls.WantWrite:
                    signals.add("write")
            if not pending:
                break
        assert not pending and "read" in signals
        # nobody reads: the socket fills and send says want-write
        chunk = b"\0" * 65536
        total = 0
        saw_want_write = False
        for _ in range(200):
            try:
                total += c.send(chunk)
            except mutls.WantWrite:
                saw_want_write = True
                break
        assert total > 0 and saw_want_write
        drained = 0
        while drained < total // 2:
            drained += len(s.recv())
        assert c.send(chunk) > 0
        with pytest.raises(mutls.WantRead):
            c.recv()


def test_closed_socket_is_a_usage_error(pki: PKI) -> None:
    a, b = socket.socketpair()
    with b:
        c = pki.client_config().client(a, server_hostname=HOST)
        a.close()
        with pytest.raises(mutls.UsageError, match="socket was closed"):
            c.handshake()
        with pytest.raises(mutls.UsageError, match="socket is closed"):
            pki.client_config().client(a, server_hostname=HOST)


def test_connect_and_accept(pki: PKI) -> None:
    scfg = pki.server_config()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    result: Dict[str, Any] = {}

    def serve() -> None:
        try:
            session, address = scfg.accept(listener)
            result["address"] = address
            result["timeout"] = session.sock.gettimeout()
            with session:
                result["peer"] = session.peer_certificate
                session.sendall(session.recv())
            result["sock_closed"] = session.sock.fileno() == -1
        except BaseException as exc:
            result["error"] = exc

    with listener:
        t = threading.Thread(target=serve)
        t.start()
        s = pki.client_config().connect(("127.0.0.1", port), timeout=10)
        assert s.server_hostname == "127.0.0.1"  # defaults to the address
        assert s.verified and s.sock.gettimeout() == 10
        s.sendall(b"hello")
        assert s.recv() == b"hello"
        assert s.recv() == b""
        s.close()
        assert s.sock.fileno() == -1  # connect() made the socket: close() closes it
        t.join(10)
    assert "error" not in result, result.get("error")
    assert result["peer"].common_name == "payments"
    assert result["address"][0] == "127.0.0.1"
    assert result["timeout"] == 10  # the listening socket's timeout
    assert result["sock_closed"]


def test_connect_failure_closes_and_raises(pki: PKI) -> None:
    scfg = pki.server_config()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    result: Dict[str, Any] = {}

    def serve() -> None:
        try:
            scfg.accept(listener, timeout=10)
        except mutls.Error as exc:
            result["error"] = exc

    with listener:
        t = threading.Thread(target=serve)
        t.start()
        with pytest.raises(mutls.CertificateVerifyError) as info:
            pki.client_config().connect(("127.0.0.1", port), server_hostname="billing.internal",
                                        timeout=10)
        assert info.value.reasons == ["name-mismatch"]
        t.join(10)
    e = result["error"]
    assert isinstance(e, mutls.PeerRejectedError) and e.alert == "bad_certificate"


def test_socket_mode_releases_the_gil(pki: PKI) -> None:
    """While one thread waits in a blocking handshake, another thread runs Python."""
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(5)
        done = threading.Event()
        errors: List[BaseException] = []

        def client() -> None:
            try:
                c = pki.client_config().client(a, server_hostname=HOST)
                c.handshake()
            except BaseException as exc:
                errors.append(exc)
            done.set()

        t = threading.Thread(target=client)
        t.start()
        counter = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # the client waits for a server all this time
            counter += 1
        assert counter > 1000 and not done.is_set()
        s = pki.server_config().server(b)
        b.settimeout(5)
        s.handshake()
        t.join(10)
        assert done.is_set() and not errors, errors


def test_a_second_thread_in_the_same_session_is_refused(pki: PKI) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(1)
        c = pki.client_config().client(a, server_hostname=HOST)
        errors: List[BaseException] = []
        t = threading.Thread(target=lambda: errors.append(pytest.raises(mutls.TimeoutError, c.handshake).value))
        t.start()
        time.sleep(0.3)
        with pytest.raises(mutls.UsageError, match="already in a call"):
            c.handshake()
        with pytest.raises(mutls.UsageError, match="another thread"):
            c.peer_certificate
        t.join(10)
        assert errors and isinstance(errors[0], mutls.TimeoutError)


class Interrupted(Exception):
    pass


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs signal.setitimer")
def test_blocking_call_is_interruptible_and_goes_on(pki: PKI) -> None:
    """A blocking socket (no timeout) still lets signal handlers run (Ctrl-C):
    the core waits in slices; the interrupted session stays usable."""
    import signal

    def on_alarm(signum: int, frame: Any) -> None:
        raise Interrupted()

    a, b = socket.socketpair()
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        with a, b:
            assert a.gettimeout() is None
            c = pki.client_config().client(a, server_hostname=HOST)
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            start = time.monotonic()
            with pytest.raises(Interrupted):
                c.handshake()  # no server: would wait forever
            assert time.monotonic() - start < 3
            result: Dict[str, Any] = {}

            def serve() -> None:
                try:
                    s = pki.server_config().server(b)
                    b.settimeout(10)
                    s.handshake()
                    s.sendall(b"after the signal")
                except BaseException as exc:
                    result["error"] = exc

            t = threading.Thread(target=serve)
            t.start()
            c.handshake()
            assert c.recv() == b"after the signal"
            t.join(10)
            assert "error" not in result, result.get("error")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- handshake_timeout: a peer that accepts TCP and never answers ------------


def test_handshake_timeout_default_is_finite_and_overridable(pki: PKI) -> None:
    assert mutls.Config().handshake_timeout == 30.0
    assert pki.client_config(handshake_timeout=2.5).handshake_timeout == 2.5
    assert pki.client_config(handshake_timeout=None).handshake_timeout is None
    for bad in (0, -1, float("nan")):
        with pytest.raises(mutls.ConfigError, match="handshake_timeout must be"):
            mutls.Config(handshake_timeout=bad)
    with pytest.raises(TypeError, match="handshake_timeout"):
        mutls.Config(handshake_timeout="30")


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_connect_to_a_server_that_never_answers_times_out(pki: PKI, timeout: Any) -> None:
    """Blocking (timeout=None) or with a socket timeout longer than it, the
    handshake ends after handshake_timeout with code timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: List[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    cfg = pki.client_config(handshake_timeout=0.3)
    start = time.monotonic()
    try:
        with pytest.raises(mutls.TimeoutError) as info:
            cfg.connect(listener.getsockname(), server_hostname=HOST, timeout=timeout)
        took = time.monotonic() - start
    finally:
        thread.join(5)
        for s in accepted:
            s.close()
        listener.close()
    assert 0.25 <= took < 3.0, took
    e = info.value
    assert e.code == "timeout" and e.step == "handshake" and e.side == "local"
    assert str(e) == ("handshake timed out: the client waited 0.3 s for the server's answer to "
                      "our ClientHello, and the server sent nothing (handshake_timeout 0.3 s)")


def test_accept_of_a_client_that_never_speaks_times_out(pki: PKI) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    idle = socket.create_connection(listener.getsockname())
    try:
        start = time.monotonic()
        with pytest.raises(mutls.TimeoutError) as info:
            pki.server_config(handshake_timeout=0.3).accept(listener)
        assert time.monotonic() - start < 3.0
    finally:
        idle.close()
        listener.close()
    assert "the server waited 0.3 s for the client's ClientHello, and the client sent nothing" \
        in str(info.value)


# ---- a peer that does not speak TLS ------------------------------------------


def test_connect_to_a_plain_http_server_says_so(pki: PKI) -> None:
    """python -m http.server on port 0: it answers a ClientHello with an HTML
    error page (HTTP/0.9 style, no status line)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        port = int(line.split(" port ")[1].split()[0])
        with pytest.raises(mutls.ProtocolError) as info:
            pki.client_config().connect(("127.0.0.1", port), server_hostname=HOST, timeout=10)
    finally:
        proc.kill()
        proc.wait(10)
    assert str(info.value).startswith("the server answered with something that is not TLS (it looks like ")
    assert "An unexpected TLS packet" not in str(info.value)


def test_connect_to_an_http_server_that_answers_400(pki: PKI, tcp_server: Any) -> None:
    def http(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    address = tcp_server(http)
    with pytest.raises(mutls.ProtocolError) as info:
        pki.client_config().connect(address, server_hostname=HOST, timeout=10)
    assert str(info.value) == ("the server answered with something that is not TLS "
                               "(it looks like HTTP: 'HTTP/1.1 400 Bad Request')")


def test_accept_of_a_plain_http_client_says_so(pki: PKI) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    plain = socket.create_connection(listener.getsockname())
    plain.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
    try:
        with pytest.raises(mutls.ProtocolError) as info:
            pki.server_config().accept(listener, timeout=10)
    finally:
        plain.close()
        listener.close()
    assert str(info.value) == ("the client sent something that is not TLS "
                               "(it looks like HTTP: 'GET /metrics HTTP/1.1')")


# ---- a peer that closes without close_notify: nothing that arrived is lost ----


def ssl_http_response(pki: PKI) -> Any:
    """Python's ssl + http.server in a thread; it answers one GET and closes
    without close_notify. Returns (server, thread)."""
    import http.server
    import ssl

    body = b"x" * 150 + b"\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki.ca.issue(cn="ssl http", dns=[HOST]).configure_cert(ctx)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.timeout = 10
    thread = threading.Thread(target=httpd.handle_request, daemon=True)
    thread.start()
    return httpd, thread, body


@pytest.mark.parametrize("mode", ["socket", "memory"])
def test_data_before_a_close_without_close_notify_is_read_first(pki: PKI, mode: str) -> None:
    httpd, thread, body = ssl_http_response(pki)
    cfg = mutls.Config(trust=pki.ca)
    request = b"GET / HTTP/1.0\r\nHost: orders.internal\r\n\r\n"
    got = b""
    try:
        if mode == "socket":
            with cfg.connect(httpd.server_address, server_hostname=HOST, timeout=10) as s:
                s.sendall(request)
                time.sleep(0.3)  # the response and the close both arrive first
                with pytest.raises(mutls.ConnectionClosed) as info:
                    while True:
                        got += s.recv()
        else:
            sock = socket.create_connection(httpd.server_address, timeout=10)
            with sock:
                s = cfg.client(server_hostname=HOST)
                while True:
                    try:
                        s.handshake()
                        break
                    except mutls.WantRead:
                        sock.sendall(s.data_to_send())
                        s.feed(sock.recv(65536))
                sock.sendall(s.data_to_send())
                s.sendall(request)
                sock.sendall(s.data_to_send())
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    s.feed(data)
                s.feed_eof()
                with pytest.raises(mutls.ConnectionClosed) as info:
                    while True:
                        got += s.recv()
    finally:
        thread.join(10)
        httpd.server_close()
    assert got.startswith(b"HTTP/1.0 200 ") and got.endswith(b"\r\n\r\n" + body), got[-40:]
    assert "without close_notify" in str(info.value)
