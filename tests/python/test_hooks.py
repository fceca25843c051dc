"""Hooks: the verify hook (what it sees, accept/reject/raise, in memory and
over TCP with the GIL released), trace and keylog callables, and hooks that
misbehave. A hook's exception never disappears: it comes out of handshake()
as the __cause__ of a HandshakeError with code "hook"."""

from __future__ import annotations

import socket
import threading
from typing import Any, Dict, List

import pytest

import mutls

from conftest import PKI

HOST = "orders.internal"


def test_hook_sees_the_client(pki: PKI, run_pair: Any) -> None:
    seen: List[Dict[str, Any]] = []

    def hook(peer: mutls.Peer) -> bool:
        assert isinstance(peer, mutls.Peer)
        seen.append({
            "chain": peer.chain, "leaf": peer.leaf, "ok": peer.ok, "reasons": peer.reasons,
            "hostname": peer.hostname, "role": peer.role, "session": peer.session,
            # the session is readable from inside its hook
            "peer_certificate": peer.session.peer_certificate,
        })
        return True

    p = run_pair(pki.client_config(), pki.server_config(verify_hook=hook))
    assert p.ok and p.server.verified
    assert len(seen) == 1
    s = seen[0]
    assert [c.common_name for c in s["chain"]] == ["payments"]
    assert s["leaf"] == pki.client_id.certificate == s["peer_certificate"]
    assert s["ok"] is True and s["reasons"] == []
    assert s["hostname"] is None and s["role"] == "client"
    assert s["session"] is p.server
    trace = [(e.name, e.ok, e.detail) for e in p.server.trace if e.kind == "check"]
    assert ("hook", True, "accepted by the verify hook") in trace


def test_hook_sees_the_server_and_hostname(pki: PKI, run_pair: Any) -> None:
    seen: List[mutls.Peer] = []
    p = run_pair(pki.client_config(verify_hook=lambda peer: seen.append(peer) or True),
                 pki.server_config())
    assert p.ok
    assert len(seen) == 1
    assert seen[0].role == "server" and seen[0].hostname == HOST
    assert seen[0].leaf.common_name == "orders"
    assert "Peer" in repr(seen[0])


@pytest.mark.parametrize("result,reason", [
    (False, "verify_hook returned False"),
    (None, "verify_hook returned None (return True to accept)"),
    ("payments is on leave", "payments is on leave"),
    ("", "verify_hook returned an empty reason"),
    (1, "verify_hook returned int (return True to accept"),
])
def test_hook_rejects(pki: PKI, run_pair: Any, result: Any, reason: str) -> None:
    p = run_pair(pki.client_config(), pki.server_config(verify_hook=lambda peer: result))
    e = p.server_exc
    assert type(e) is mutls.CertificateVerifyError
    assert e.code == "verify-failed" and e.reasons == ["hook"] and e.alert == "access_denied"
    assert "client certificate CN=payments was rejected by the verify hook: " + reason in str(e)
    assert e.__cause__ is None
    assert isinstance(p.client_exc, mutls.PeerRejectedError)
    assert p.client_exc.alert == "access_denied"
    checks = [(ev.name, ev.ok) for ev in p.server.trace if ev.kind == "check"]
    assert ("hook", False) in checks


def test_hook_raises_in_memory_mode(pki: PKI) -> None:
    class Refused(RuntimeError):
        pass

    def hook(peer: mutls.Peer) -> bool:
        raise Refused("payments may not call orders")

    client = pki.client_config().client(server_hostname=HOST)
    server = pki.server_config(verify_hook=hook).server()
    server_error = None
    for _ in range(10):
        try:
            client.handshake()
        except mutls.WantRead:
            pass
        server.feed(client.data_to_send())
        try:
            server.handshake()
        except mutls.WantRead:
            pass
        except mutls.HandshakeError as exc:
            server_error = exc
        client.feed(server.data_to_send())
        if server_error:
            break
    assert server_error is not None
    e = server_error
    assert type(e) is mutls.HandshakeError
    assert e.code == "hook" and e.reasons == ["hook"] and e.side == "local"
    assert e.step == "client-certificate" and e.alert == "access_denied"
    assert isinstance(e.__cause__, Refused)
    assert str(e.__cause__) == "payments may not call orders"
    assert "Refused: payments may not call orders" in str(e)
    assert e.peer_certificate.common_name == "payments"
    # the peer got an alert: access_denied (TLS 1.3: on its next read)
    with pytest.raises(mutls.PeerRejectedError) as info:
        client.handshake()
        client.recv()
    pe = info.value
    assert pe.code == "peer-rejected" and pe.alert == "access_denied" and pe.side == "peer"
    # the failure is sticky, the cause is not raised twice
    with pytest.raises(mutls.HandshakeError) as again:
        server.handshake()
    assert again.value.code == "hook" and again.value.__cause__ is None


def test_hook_raises_over_tcp(pki: PKI, tcp_server: Any) -> None:
    """Socket mode: the handshake runs without the GIL, the hook takes it."""
    caught: Dict[str, BaseException] = {}

    def hook(peer: mutls.Peer) -> bool:
        return {}["no such key"]

    scfg = pki.server_config(verify_hook=hook)

    served = threading.Event()

    def serve(conn: socket.socket) -> None:
        s = scfg.server(conn)
        try:
            s.handshake()
        except mutls.Error as exc:
            caught["server"] = exc
        finally:
            served.set()

    host, port = tcp_server(serve)
    with socket.create_connection((host, port), timeout=10) as sock:
        c = pki.client_config().client(sock, server_hostname=HOST)
        with pytest.raises(mutls.PeerRejectedError) as info:
            c.handshake()
            c.recv()  # TLS 1.3: the refusal arrives after our Finished
        assert info.value.alert == "access_denied"
    assert served.wait(10)
    e = caught["server"]
    assert type(e) is mutls.HandshakeError and e.code == "hook"
    assert isinstance(e.__cause__, KeyError)


def test_hook_base_exception_is_raised_as_it_is(pki: PKI, run_pair: Any) -> None:
    class Stop(BaseException):
        pass

    def hook(peer: mutls.Peer) -> bool:
        raise Stop()

    client = pki.client_config().client(server_hostname=HOST)
    server = pki.server_config(verify_hook=hook).server()
    with pytest.raises(Stop):
        for _ in range(10):
            for a, b in ((client, server), (server, client)):
                try:
                    a.handshake()
                except mutls.WantRead:
                    pass
                b.feed(a.data_to_send())


def test_hook_cannot_override_a_failed_check(pki: PKI, run_pair: Any) -> None:
    seen: List[mutls.Peer] = []
    scfg = pki.server_config(peers=["cn:billing"], verify_hook=lambda peer: seen.append(peer) or True)
    p = run_pair(pki.client_config(), scfg)
    assert len(seen) == 1
    assert seen[0].reasons == ["policy"] and seen[0].ok is False
    assert type(p.server_exc) is mutls.CertificateVerifyError
    assert p.server_exc.reasons == ["policy"]


def test_hook_calling_back_into_its_session_is_refused(pki: PKI, run_pair: Any) -> None:
    def hook(peer: mutls.Peer) -> bool:
        peer.session.handshake()  # re-entering the core from inside it
        return True

    p = run_pair(pki.client_config(), pki.server_config(verify_hook=hook))
    e = p.server_exc
    assert type(e) is mutls.HandshakeError and e.code == "hook"
    assert isinstance(e.__cause__, mutls.UsageError)
    assert "already in a call" in str(e.__cause__)


# ---- trace --------------------------------------------------------------------


def test_trace_callable_sees_every_event(pki: PKI, run_pair: Any) -> None:
    events: List[mutls.TraceEvent] = []
    p = run_pair(pki.client_config(trace=events.append), pki.server_config())
    assert p.ok
    assert events == p.client.trace
    kinds = {e.kind for e in events}
    assert kinds == {"message", "check", "info"}
    names = [e.name for e in events if e.kind == "message"]
    assert names[:2] == ["ClientHello", "ServerHello"]
    assert "CertificateRequest" in names and "Finished" in names
    hello = events[0]
    assert hello.outgoing is True and hello.message_type == 1 and hello.length > 100
    assert isinstance(hello, tuple) and hello.kind == hello[0]
    checks = {e.name: e.ok for e in events if e.kind == "check"}
    assert checks == {"presence": True, "validity": True, "name": True, "chain": True, "purpose": True}
    info = {e.name: e.detail for e in events if e.kind == "info"}
    assert info["version"] == "TLSv1.3"


def test_trace_shows_a_failed_check_and_the_alert(pki: PKI, run_pair: Any) -> None:
    events: List[mutls.TraceEvent] = []
    p = run_pair(pki.client_config(trace=events.append), pki.server_config(), "billing.internal")
    assert p.client_exc.code == "verify-failed"
    failed = [e for e in events if e.kind == "check" and not e.ok]
    assert [e.name for e in failed] == ["name"]
    assert '"billing.internal"' in failed[0].detail
    alerts = [e for e in events if e.kind == "alert"]
    assert alerts and alerts[-1].name == "bad_certificate" and alerts[-1].outgoing


def test_trace_callable_raising_fails_the_handshake(pki: PKI, run_pair: Any) -> None:
    def trace(event: mutls.TraceEvent) -> None:
        if event.kind == "message" and event.name == "Certificate":
            raise ValueError("stop at the certificate")

    p = run_pair(pki.client_config(trace=trace), pki.server_config())
    e = p.client_exc
    assert type(e) is mutls.HandshakeError and e.code == "hook"
    assert str(e) == "the trace hook failed during the handshake: ValueError: stop at the certificate"
    assert e.side == "local" and e.alert == "internal_error"
    assert isinstance(e.__cause__, ValueError)
    assert isinstance(p.server_exc, mutls.Error)  # the server heard the alert


def test_trace_callable_raising_after_the_handshake_is_raised(pki: PKI, run_pair: Any) -> None:
    def trace(event: mutls.TraceEvent) -> None:
        if event.kind == "alert" and event.name == "close_notify":
            raise LookupError("seen the close")

    p = run_pair(pki.client_config(trace=trace), pki.server_config())
    assert p.ok
    with pytest.raises(LookupError):
        p.client.close()


# ---- keylog -------------------------------------------------------------------


def test_keylog_file_and_callable(pki: PKI, run_pair: Any, tmp_path: Any) -> None:
    path = tmp_path / "keys.log"
    lines: List[str] = []
    p = run_pair(pki.client_config(keylog=path), pki.server_config(keylog=lines.append))
    assert p.ok
    assert len(lines) >= 4
    for line in lines:
        label, client_random, secret = line.split(" ")
        assert label.startswith(("CLIENT_", "SERVER_", "EXPORTER_"))
        assert len(client_random) == 64
    written = path.read_text().splitlines()
    assert len(written) == len(lines)
    assert sorted(written) == sorted(lines)  # the same secrets on both sides
    p2 = run_pair(pki.client_config(keylog=str(path)), pki.server_config())
    assert p2.ok
    assert len(path.read_text().splitlines()) == 2 * len(lines)  # appended


def test_keylog_callable_raising_fails_the_handshake(pki: PKI, run_pair: Any) -> None:
    def keylog(line: str) -> None:
        raise OSError("disk full")

    p = run_pair(pki.client_config(keylog=keylog), pki.server_config())
    e = p.client_exc
    assert type(e) is mutls.HandshakeError and e.code == "hook"
    assert str(e) == "the keylog hook failed during the handshake: OSError: disk full"
    assert isinstance(e.__cause__, OSError)


def test_hooks_run_in_threads_with_the_gil(pki: PKI) -> None:
    """Two threads, socket mode, hooks on both sides: each handshake's hooks
    run in the thread of that handshake."""
    threads_seen: Dict[str, set] = {"client": set(), "server": set()}

    def hook(role: str) -> Any:
        def f(peer: mutls.Peer) -> bool:
            threads_seen[role].add(threading.get_ident())
            return peer.ok
        return f

    scfg = pki.server_config(verify_hook=hook("server"))
    ccfg = pki.client_config(verify_hook=hook("client"))
    a, b = socket.socketpair()
    result: Dict[str, Any] = {}

    def serve() -> None:
        try:
            s = scfg.server(b)
            s.handshake()
            result["server"] = s.recv()
            s.sendall(b"pong")
        except BaseException as exc:
            result["error"] = exc

    with a, b:
        a.settimeout(10)
        b.settimeout(10)
        t = threading.Thread(target=serve)
        t.start()
        c = ccfg.client(a, server_hostname=HOST)
        c.handshake()
        c.sendall(b"ping")
        assert c.recv() == b"pong"
        t.join(10)
    assert "error" not in result, result.get("error")
    assert result["server"] == b"ping"
    assert threads_seen["client"] == {threading.get_ident()}
    assert len(threads_seen["server"]) == 1 and threads_seen["server"] != threads_seen["client"]
