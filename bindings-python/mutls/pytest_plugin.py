"""pytest fixtures for mTLS tests (registered as the ``mutls`` pytest plugin).

- ``mutls_ca``: a fresh :class:`mutls.TestCA` for each test.
- ``mutls_echo_server``: a factory that starts an mTLS echo server on
  127.0.0.1 (a free port) in a background thread, stopped when the test ends::

      def test_payments_client(mutls_echo_server):
          server = mutls_echo_server(peers=["uri:spiffe://example.org/payments"])
          ident = server.ca.issue(uri=["spiffe://example.org/payments"])
          with server.connect(server.client_config(ident)) as s:
              s.sendall(b"ping")
              assert s.recv() == b"ping"
          (rec,) = server.wait_seen(1)
          assert rec["ok"] and rec["identity"] == "spiffe://example.org/payments"

The server presents a certificate from the test's ``mutls_ca`` for
``localhost`` and ``127.0.0.1``, requires (by default) and verifies the
client's certificate, and echoes every byte until the client closes. Each
connection adds one record to ``server.seen``::

    {"ok": bool, "peer": Certificate | None, "identity": str | None,
     "error": code | None, "message": str, "reasons": [...], "version": str | None}

``identity`` is the peer leaf's first URI SAN, else its first DNS SAN, else
its common name.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Callable, Iterator, List, Literal, Optional, Sequence, Type, TypedDict

import pytest

import mutls

__all__ = ["EchoServer", "SeenRecord", "mutls_ca", "mutls_echo_server", "peer_identity"]

PeerMode = Literal["require", "request", "none", "observe"]

_SERVER_NAMES = ["localhost"]
_SERVER_IPS = ["127.0.0.1"]
_IO_TIMEOUT = 10.0  # seconds one connection may wait for its peer
_MAX_CONNECTIONS = 64  # handled at once; more wait in the listen backlog


class SeenRecord(TypedDict):
    ok: bool
    peer: Optional[mutls.Certificate]
    identity: Optional[str]
    error: Optional[str]
    message: str
    reasons: List[str]
    version: Optional[str]


def peer_identity(cert: Optional[mutls.Certificate]) -> Optional[str]:
    """The leaf's first URI SAN, else its first DNS SAN, else its CN."""
    if cert is None:
        return None
    if cert.uris:
        return cert.uris[0]
    if cert.dns_names:
        return cert.dns_names[0]
    return cert.common_name


class EchoServer:
    """An mTLS echo server on 127.0.0.1 in a background thread.

    Made by the ``mutls_echo_server`` fixture; also usable directly as a
    context manager: ``with EchoServer(ca) as server: ...``.
    """

    def __init__(
        self,
        ca: mutls.TestCA,
        config: Optional[mutls.Config] = None,
        *,
        identity: Optional[mutls.Identity] = None,
        peers: Optional[Sequence[str]] = None,
        peer_certificate: PeerMode = "require",
    ) -> None:
        self.ca = ca
        if config is None:
            if identity is None:
                identity = ca.issue(cn="mutls echo server", dns=_SERVER_NAMES, ip=_SERVER_IPS)
            config = mutls.Config(
                identity=identity, trust=ca, peers=list(peers) if peers is not None else None,
                peer_certificate=peer_certificate)
        self.identity = identity
        self.config = config
        self.seen: List[SeenRecord] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._workers: List[threading.Thread] = []
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.1)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name=f"mutls-echo-{self.port}", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    def client_config(self, identity: Optional[mutls.Identity] = None, *, anonymous: bool = False,
                      **kw: Any) -> mutls.Config:
        """A client Config that trusts this server's CA and presents
        ``identity`` (by default a fresh one from ``.ca``, CN "mutls test
        client"; ``anonymous=True`` for none). ``kw`` goes to :class:`mutls.Config`."""
        if identity is None and not anonymous:
            identity = self.ca.issue(cn="mutls test client")
        kw.setdefault("trust", self.ca)
        return mutls.Config(identity=identity, **kw)

    def connect(self, config: Optional[mutls.Config] = None, *, server_hostname: str = "localhost",
                timeout: float = _IO_TIMEOUT) -> mutls.Session:
        """Connect and handshake with ``config`` (default: ``client_config()``)."""
        if config is None:
            config = self.client_config()
        return config.connect(self.address, server_hostname=server_hostname, timeout=timeout)

    def wait_seen(self, count: int = 1, timeout: float = _IO_TIMEOUT) -> List[SeenRecord]:
        """Wait until ``count`` connections were recorded; returns ``seen``.

        The server records a connection right after its handshake; a client
        that was refused may learn it before the record is written, so wait."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.seen) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"mutls echo server saw {len(self.seen)} connection(s), expected {count}: {self.seen!r}")
                self._cond.wait(left)
            return list(self.seen)

    # -- the server threads ---------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.1):
                continue
            try:
                conn, _addr = self._listener.accept()
            except (socket.timeout, BlockingIOError):
                self._slots.release()
                continue
            except OSError:  # the listener was closed: stopping
                self._slots.release()
                break
            if self._stop.is_set():
                conn.close()
                self._slots.release()
                break
            with self._cond:
                self._conns.add(conn)
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True,
                                      name=f"mutls-echo-{self.port}-conn")
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
            worker.start()

    def _record(self, rec: SeenRecord) -> None:
        with self._cond:
            self.seen.append(rec)
            self._cond.notify_all()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(_IO_TIMEOUT)
            session = self.config.server(conn)
            try:
                session.handshake()
            except mutls.Error as exc:
                peer = exc.peer_certificate or session.peer_certificate
                self._record({"ok": False, "peer": peer, "identity": peer_identity(peer),
                              "error": exc.code, "message": str(exc), "reasons": list(exc.reasons),
                              "version": session.version})
                # drain before closing, so the client is not reset before our alert
                mutls._close_after_failure(session, exc)
                return
            peer = session.peer_certificate
            self._record({"ok": True, "peer": peer, "identity": peer_identity(peer), "error": None,
                          "message": session.explain(), "reasons": [], "version": session.version})
            while not self._stop.is_set():
                data = session.recv()
                if not data:
                    break
                session.sendall(data)
            session.close()
        except (mutls.Error, OSError):
            pass  # after the handshake: the client went away; nothing to record
        finally:
            with self._cond:
                self._conns.discard(conn)
            conn.close()
            self._slots.release()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut open connections, join every thread."""
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout)
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for w in self._workers:
            w.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in [self._thread, *self._workers] if t.is_alive()]
        if alive:
            raise RuntimeError(f"mutls echo server: {len(alive)} thread(s) did not stop within {timeout} s")

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<mutls EchoServer {self.host}:{self.port} seen={len(self.seen)}>"


EchoServerFactory = Callable[..., EchoServer]


@pytest.fixture
def mutls_ca() -> mutls.TestCA:
    """A fresh test CA (ECDSA P-256) for this test."""
    return mutls.TestCA()


@pytest.fixture
def mutls_echo_server(mutls_ca: mutls.TestCA) -> Iterator[EchoServerFactory]:
    """Factory: ``mutls_echo_server(config=None, *, identity=None, peers=None,
    peer_certificate="require") -> EchoServer``; every server it started is
    stopped at teardown."""
    servers: List[EchoServer] = []

    def start(config: Optional[mutls.Config] = None, *, identity: Optional[mutls.Identity] = None,
              peers: Optional[Sequence[str]] = None, peer_certificate: PeerMode = "require") -> EchoServer:
        server = EchoServer(mutls_ca, config, identity=identity, peers=peers,
                            peer_certificate=peer_certificate)
        servers.append(server)
        return server

    yield start
    errors = []
    for server in servers:
        try:
            server.stop()
        except RuntimeError as exc:
            errors.append(str(exc))
    if errors:
        raise RuntimeError("; ".join(errors))
