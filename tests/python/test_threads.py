"""Eight threads doing 200 socket-mode mTLS handshakes each, concurrently,
against one shared server Config and one shared client Config: every
handshake verified on both sides, data exchanged, no deadlock (bounded)."""

from __future__ import annotations

import socket
import threading
import time
from typing import List, Optional, Set

import mutls

THREADS = 8
HANDSHAKES = 200
# A hang guard for the whole run, not a speed target: it takes a few
# seconds when all is well, and a loaded host or ASan may take minutes; a
# deadlock or a stall still fails (the threads still running at the end).
DEADLINE = 600.0
IO_TIMEOUT = 10.0
CLIENT_URI = "spiffe://threads.test/client"


def test_eight_threads_two_hundred_handshakes_each() -> None:
    ca = mutls.TestCA("threads CA")
    server_cfg = mutls.Config(identity=ca.issue(cn="threads server", dns=["localhost"]), trust=ca,
                              peers=[f"uri:{CLIENT_URI}"])
    client_cfg = mutls.Config(identity=ca.issue(cn="threads client", uri=[CLIENT_URI]), trust=ca,
                              peers=["dns:localhost"])

    listener = socket.create_server(("127.0.0.1", 0), backlog=THREADS * 4)
    listener.settimeout(0.5)
    address = listener.getsockname()[:2]
    stop = threading.Event()
    lock = threading.Lock()
    server_ok = [0]
    client_ok = [0]
    errors: List[str] = []
    versions: Set[Optional[str]] = set()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            try:
                with conn:
                    conn.settimeout(IO_TIMEOUT)
                    s = server_cfg.server(conn)
                    s.handshake()
                    peer = s.peer_certificate
                    assert s.verified and peer is not None and peer.uris == [CLIENT_URI]
                    data = s.recv()
                    s.sendall(data)
                    s.close()
                with lock:
                    server_ok[0] += 1
                    versions.add(s.version)
            except Exception as exc:  # recorded: the test fails with it
                with lock:
                    errors.append(f"server: {type(exc).__name__}: {exc}")

    def client(n: int) -> None:
        for i in range(HANDSHAKES):
            try:
                with client_cfg.connect(address, server_hostname="localhost", timeout=IO_TIMEOUT) as s:
                    peer = s.peer_certificate
                    assert s.verified and peer is not None and peer.dns_names == ["localhost"]
                    msg = b"%d/%d" % (n, i)
                    s.sendall(msg)
                    assert s.recv() == msg
                # the with block sent close_notify and closed the socket
                with lock:
                    client_ok[0] += 1
            except Exception as exc:
                with lock:
                    errors.append(f"client {n}/{i}: {type(exc).__name__}: {exc}")
                return

    servers = [threading.Thread(target=serve, daemon=True, name=f"server-{i}") for i in range(THREADS)]
    clients = [threading.Thread(target=client, args=(i,), daemon=True, name=f"client-{i}") for i in range(THREADS)]
    start = time.monotonic()
    try:
        for t in servers + clients:
            t.start()
        for t in clients:
            t.join(max(0.0, DEADLINE - (time.monotonic() - start)))
        hung = [t.name for t in clients if t.is_alive()]
        assert not hung, f"deadlock or stall: {hung} still running after {DEADLINE} s; errors: {errors[:5]}"
        # The server records a connection after the client closed it: wait for the last ones.
        while server_ok[0] + len(errors) < client_ok[0] and time.monotonic() - start < DEADLINE:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in servers:
            t.join(5)
        listener.close()
    elapsed = time.monotonic() - start
    assert not [t.name for t in servers if t.is_alive()], "server threads did not stop"
    assert errors == [], errors[:10]
    assert client_ok[0] == THREADS * HANDSHAKES
    assert server_ok[0] == THREADS * HANDSHAKES
    assert versions == {"TLSv1.3"}
    rate = 2 * THREADS * HANDSHAKES / elapsed
    print(f"\n{THREADS}x{HANDSHAKES} mTLS handshakes in {elapsed:.2f} s ({rate:.0f} handshake sides/s)")
