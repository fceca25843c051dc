"""Shared fixtures of the Python tests: a test PKI like tests/c/pair.c's, and
a memory-mode pair driver (real handshakes, no sockets, bounded)."""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, List, Optional

import pytest

import mutls

DAY = 86400


class PKI:
    """A root CA, a server identity and a client identity (tests/c/pair.c):

    server: CN orders, DNS orders.internal + localhost, IP 127.0.0.1 + ::1, purpose server
    client: CN payments, URI spiffe://example.org/payments, purpose client
    """

    def __init__(self) -> None:
        self.ca = mutls.TestCA("mutls test root")
        self.server_id = self.ca.issue(
            cn="orders",
            dns=["orders.internal", "localhost"],
            ip=["127.0.0.1", "::1"],
            purpose="server",
        )
        self.client_id = self.ca.issue(
            cn="payments", uri=["spiffe://example.org/payments"], purpose="client"
        )

    def server_config(self, identity: Any = None, **kw: Any) -> mutls.Config:
        kw.setdefault("trust", self.ca)
        return mutls.Config(identity=identity or self.server_id, **kw)

    def client_config(self, identity: Any = None, **kw: Any) -> mutls.Config:
        kw.setdefault("trust", self.ca)
        return mutls.Config(identity=identity or self.client_id, **kw)

    def leaf(self, ca: Optional[mutls.TestCA] = None, **kw: Any) -> mutls.Identity:
        return (ca or self.ca).issue(**kw)


def logged_text(caplog: Any, seconds: float = 5.0) -> str:
    """The messages caplog holds, once it holds any (a server logs from its
    connection's thread, after the client has its answer), bounded."""
    for _ in range(int(seconds / 0.05)):
        if caplog.records:
            break
        threading.Event().wait(0.05)
    return " ".join(r.getMessage() for r in caplog.records)


def mutls_cause(exc: Optional[BaseException]) -> Optional[BaseException]:
    """The first mutls.Error in exc's chain of causes (an HTTP library's
    error wraps ours), or None."""
    while exc is not None and not isinstance(exc, mutls.Error):
        exc = exc.__cause__ or exc.__context__
    return exc


def move(src: mutls.Session, dst: mutls.Session) -> int:
    """Moves what src has to send into dst; returns the byte count."""
    data = src.data_to_send()
    if data:
        dst.feed(data)
    return len(data)


class Pair:
    """A client and a server session in memory mode, driven by hand."""

    def __init__(self, client: mutls.Session, server: mutls.Session) -> None:
        self.client = client
        self.server = server
        self.client_done = self.server_done = False
        self.client_exc: Optional[mutls.Error] = None
        self.server_exc: Optional[mutls.Error] = None

    def _step(self, side: str) -> None:
        s = getattr(self, side)
        if getattr(self, side + "_done") or getattr(self, side + "_exc") is not None:
            return
        try:
            s.handshake()
            setattr(self, side + "_done", True)
        except mutls.WantRead:
            pass
        except mutls.Error as exc:
            setattr(self, side + "_exc", exc)

    def handshake(self, rounds: int = 64) -> "Pair":
        """Drives both handshakes until neither can progress (bounded)."""
        for _ in range(rounds):
            self._step("client")
            moved = move(self.client, self.server)
            self._step("server")
            moved += move(self.server, self.client)
            if moved == 0:
                return self
        raise AssertionError("the handshake did not settle in %d rounds" % rounds)

    def run(self) -> "Pair":
        """Handshake, then (like tests/c/pair.c) one read by a client whose
        handshake succeeded while the server's failed: a TLS 1.3 client learns
        of its rejection on its next read."""
        self.handshake()
        if self.client_done and self.server_exc is not None:
            try:
                self.client.recv()
            except mutls.Error as exc:
                self.client_exc = exc
        return self

    @property
    def ok(self) -> bool:
        return self.client_done and self.server_done and not self.client_exc and not self.server_exc

    def transfer(self, src: mutls.Session, dst: mutls.Session, data: bytes) -> bytes:
        """Sends data from src, receives it on dst (everything), moves the replies back."""
        src.sendall(data)
        move(src, dst)
        got = b""
        while len(got) < len(data):
            chunk = dst.recv(len(data) - len(got))
            assert chunk, "unexpected close_notify"
            got += chunk
        move(dst, src)
        return got


@pytest.fixture
def pki() -> PKI:
    return PKI()


@pytest.fixture
def run_pair() -> Callable[..., Pair]:
    """run_pair(client_cfg, server_cfg, hostname="orders.internal", **client_kw) -> Pair,
    after the handshake (and the client's read, see Pair.run)."""

    def run(ccfg: mutls.Config, scfg: mutls.Config, hostname: Optional[str] = "orders.internal",
            handshake_only: bool = False, **client_kw: Any) -> Pair:
        p = Pair(ccfg.client(server_hostname=hostname, **client_kw), scfg.server())
        return p.handshake() if handshake_only else p.run()

    return run


@pytest.fixture
def tcp_server() -> Any:
    """tcp_server(handler) -> (host, port): a loopback listener whose thread
    accepts one connection and calls handler(conn) (conn closed after).
    Exceptions in the handler are re-raised at teardown; the thread is joined."""
    listeners: List[socket.socket] = []
    threads: List[threading.Thread] = []
    errors: List[BaseException] = []

    def start(handler: Callable[[socket.socket], None], *, listener: Optional[socket.socket] = None) -> Any:
        lsock = listener or socket.create_server(("127.0.0.1", 0))
        lsock.settimeout(10)
        listeners.append(lsock)

        def serve() -> None:
            try:
                conn, _ = lsock.accept()
                with conn:
                    conn.settimeout(10)
                    handler(conn)
            except BaseException as exc:  # reported at teardown
                errors.append(exc)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        threads.append(t)
        return lsock.getsockname()[:2]

    yield start
    for t in threads:
        t.join(15)
        assert not t.is_alive(), "server thread did not finish"
    for lsock in listeners:
        lsock.close()
    if errors:
        raise errors[0]
