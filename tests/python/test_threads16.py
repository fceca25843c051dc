"""Sixteen client threads sharing one client Config, sixteen server threads
sharing one server Config, 50 socket-mode mTLS handshakes per client thread
over loopback, all at once (issue 5.6).

Both Configs carry Python verify hooks (called from GnuTLS inside the
handshakes of 32 threads: they take the GIL) and peer patterns; every other
connection of a client thread resumes the previous one's session (tickets
issued by the one shared server Config). Every handshake must be verified on
both sides with the expected peer, the echoed message must be the one sent,
the hooks must have run once per handshake, and the whole run must end
within DEADLINE (a deadlock fails the test instead of hanging it)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Dict, List, Optional, Set

import mutls

THREADS = 16
HANDSHAKES = 50
DEADLINE = 120.0  # seconds for the whole run; a few seconds when all is well
IO_TIMEOUT = 15.0
CLIENT_URI = "spiffe://threads16.test/client"


def test_sixteen_threads_share_one_client_and_one_server_config() -> None:
    ca = mutls.TestCA("threads16 CA")
    lock = threading.Lock()
    hook_calls: Dict[str, int] = {"server": 0, "client": 0}
    hook_threads: Dict[str, Set[int]] = {"server": set(), "client": set()}

    def hook(peer: mutls.Peer) -> bool:
        with lock:
            hook_calls[peer.role] += 1
            hook_threads[peer.role].add(threading.get_ident())
        return peer.ok and peer.leaf is not None

    server_cfg = mutls.Config(identity=ca.issue(cn="threads16 server", dns=["localhost"], purpose="server"),
                              trust=ca, peers=[f"uri:{CLIENT_URI}"], verify_hook=hook)
    client_cfg = mutls.Config(identity=ca.issue(cn="threads16 client", uri=[CLIENT_URI], purpose="client"),
                              trust=ca, peers=["dns:localhost"], verify_hook=hook)

    listener = socket.create_server(("127.0.0.1", 0), backlog=THREADS * 4)
    listener.settimeout(0.2)
    address = listener.getsockname()[:2]
    stop = threading.Event()
    errors: List[str] = []
    counts = {"client_ok": 0, "server_ok": 0, "resumed": 0, "inflight": 0, "max_inflight": 0}
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
                    assert s.verified and peer is not None and peer.uris == [CLIENT_URI], s.explain()
                    data = s.recv()
                    s.sendall(b"echo " + data)
                    s.close()
                with lock:
                    counts["server_ok"] += 1
                    versions.add(s.version)
            except Exception as exc:  # recorded: the test fails with it
                with lock:
                    errors.append(f"server: {type(exc).__name__}: {exc}")

    def client(n: int) -> None:
        session_data: Optional[bytes] = None
        for i in range(HANDSHAKES):
            try:
                with socket.create_connection(address, timeout=IO_TIMEOUT) as sock:
                    s = client_cfg.client(sock, server_hostname="localhost",
                                          session_data=session_data if i % 2 else None)
                    with lock:
                        counts["inflight"] += 1
                        counts["max_inflight"] = max(counts["max_inflight"], counts["inflight"])
                    try:
                        s.handshake()
                    finally:
                        with lock:
                            counts["inflight"] -= 1
                    peer = s.peer_certificate
                    assert s.verified and peer is not None and peer.dns_names == ["localhost"], s.explain()
                    msg = b"thread %d handshake %d" % (n, i)
                    s.sendall(msg)
                    reply = b""
                    while len(reply) < len(msg) + 5:
                        chunk = s.recv()
                        if not chunk:
                            break
                        reply += chunk
                    assert reply == b"echo " + msg, reply
                    if i % 2 == 0:
                        session_data = s.session_data
                    s.close()
                with lock:
                    counts["client_ok"] += 1
                    counts["resumed"] += bool(s.resumed)
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
        # a server thread counts its connection after the client has left
        while counts["server_ok"] + len(errors) < counts["client_ok"] and time.monotonic() - start < DEADLINE:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in servers:
            t.join(5)
        listener.close()
    elapsed = time.monotonic() - start
    assert not [t.name for t in servers if t.is_alive()], "server threads did not stop"
    assert errors == [], errors[:10]
    total = THREADS * HANDSHAKES
    assert counts["client_ok"] == total and counts["server_ok"] == total, counts
    assert versions == {"TLSv1.3"}
    # resumption across threads through the shared server Config's tickets
    assert counts["resumed"] > 0, counts
    # the hooks ran once per handshake (resumed ones too: the stored peer is
    # re-checked), on both sides, in many threads
    assert hook_calls == {"server": total, "client": total}, (hook_calls, counts)
    assert len(hook_threads["server"]) > 1 and len(hook_threads["client"]) > 1
    # the handshakes overlapped
    assert counts["max_inflight"] >= 2, counts
    print(f"\n{THREADS} client + {THREADS} server threads, {total} mTLS handshakes ({counts['resumed']} resumed) "
          f"in {elapsed:.2f} s; at most {counts['max_inflight']} client handshakes in flight; hook calls {hook_calls}")
