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


def test_trace_event_text_is_the_demos_line(pki: PKI, run_pair: Any) -> None:
    """mutls.trace_event_text renders in C (the same line the C and Lua
    demos print); trace_event_note says what the event teaches."""
    events: List[mutls.TraceEvent] = []
    p = run_pair(pki.client_config(trace=events.append), pki.server_config(), "billing.internal")
    assert p.client_exc.code == "verify-failed"
    text = {(e.kind, e.name): mutls.trace_event_text(e) for e in events}
    hello = events[0]
    assert text["message", "ClientHello"] == f"-> ClientHello {'':<8}{hello.length:>4} bytes  {hello.detail}"
    name_check = text["check", "name"]
    assert name_check.startswith("check name       FAIL ") and '"billing.internal"' in name_check
    assert text["alert", "bad_certificate"] == "-> alert bad_certificate (42)"
    assert text["check", "chain"].startswith("check chain      ok   ")
    assert mutls.trace_event_note(hello) == "the offer"
    assert mutls.trace_event_note(events[1]) is None  # a received ServerHello
    notes = {e.name: mutls.trace_event_note(e) for e in events if e.kind == "check"}
    assert notes["validity"] == "is today within its validity dates?"
    with pytest.raises(TypeError, match="expected a mutls.TraceEvent"):
        mutls.trace_event_text(("message", True, True, "ClientHello", "", 1, 10))  # type: ignore[arg-type]


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


# ---- issue 11: anonymous peers, late trace failures, key logging, verified ----

PAYMENTS = "uri:spiffe://example.org/payments"


def anonymous_client(pki: PKI) -> mutls.Config:
    return mutls.Config(trust=pki.ca)  # no certificate to present


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_request_anonymous_peer_meets_peers_and_hook(pki: PKI, run_pair: Any, version: str) -> None:
    seen: List[mutls.Peer] = []

    def refuse(peer: mutls.Peer) -> bool:
        seen.append(peer)
        return False

    scfg = pki.server_config(peer_certificate="request", peers=[PAYMENTS], verify_hook=refuse,
                             versions=[version])
    p = run_pair(anonymous_client(pki), scfg)
    assert len(seen) == 1
    peer = seen[0]
    assert peer.leaf is None and peer.chain == [] and peer.ok is False
    assert peer.reasons == ["policy"] and peer.role == "client"
    e = p.server_exc
    assert type(e) is mutls.CertificateVerifyError
    assert e.code == "verify-failed" and sorted(e.reasons) == ["hook", "policy"]
    assert e.alert == "access_denied" and e.step == "client-certificate"
    assert "client presented no certificate, so it cannot match the peers policy" in str(e)
    assert PAYMENTS in str(e)
    assert p.server.verified is False and not p.server.verification.ok
    assert isinstance(p.client_exc, mutls.PeerRejectedError)
    with pytest.raises(mutls.Error):
        p.server.recv()  # nothing of the client's is read


def test_request_anonymous_peer_refused_by_peers_without_hook(pki: PKI, run_pair: Any) -> None:
    scfg = pki.server_config(peer_certificate="request", peers=[PAYMENTS])
    p = run_pair(anonymous_client(pki), scfg)
    e = p.server_exc
    assert type(e) is mutls.CertificateVerifyError and e.reasons == ["policy"]
    checks = [(ev.name, ev.ok) for ev in p.server.trace if ev.kind == "check"]
    assert ("presence", True) in checks and ("policy", False) in checks


def test_request_anonymous_peer_accepted_by_the_hook(pki: PKI, run_pair: Any) -> None:
    seen: List[mutls.Peer] = []
    scfg = pki.server_config(peer_certificate="request", peers=[PAYMENTS],
                             verify_hook=lambda peer: seen.append(peer) or True)
    p = run_pair(anonymous_client(pki), scfg)
    assert p.ok and len(seen) == 1 and seen[0].leaf is None
    assert p.server.verified is False  # nobody was verified
    assert p.server.verification.reasons == []
    assert "accepted by the verify hook" in p.server.verification.message
    assert p.transfer(p.client, p.server, b"anonymous hello") == b"anonymous hello"


def test_request_anonymous_peer_hook_raising_is_code_hook(pki: PKI, run_pair: Any) -> None:
    def hook(peer: mutls.Peer) -> bool:
        raise KeyError("who are you")

    p = run_pair(anonymous_client(pki), pki.server_config(peer_certificate="request", verify_hook=hook))
    e = p.server_exc
    assert type(e) is mutls.HandshakeError and e.code == "hook"
    assert isinstance(e.__cause__, KeyError)
    assert "anonymous client was refused because the verify hook failed" in str(e)


@pytest.mark.parametrize("event,side,version", [
    ("ClientHello", "client", None),          # early: a message
    ("chain", "server", None),                # early: a check
    ("version", "client", None),              # late: negotiated facts
    ("version", "server", "1.2"),
    ("cipher", "server", None),
    ("server-write-key", "client", "1.2"),
    ("client-write-key", "server", None),
])
def test_trace_raising_at_any_event_aborts_the_handshake(
        pki: PKI, run_pair: Any, event: str, side: str, version: Any) -> None:
    def trace(ev: mutls.TraceEvent) -> None:
        if ev.name == event:
            raise ValueError("no thanks at " + event)

    ckw: Dict[str, Any] = {"versions": [version]} if version else {}
    skw: Dict[str, Any] = {}
    (ckw if side == "client" else skw)["trace"] = trace
    p = run_pair(pki.client_config(**ckw), pki.server_config(**skw))
    s = getattr(p, side)
    e = getattr(p, side + "_exc")
    assert type(e) is mutls.HandshakeError and e.code == "hook", e
    assert str(e) == "the trace hook failed during the handshake: ValueError: no thanks at " + event
    assert e.side == "local" and e.alert == "internal_error"
    assert isinstance(e.__cause__, ValueError)
    assert s.handshake_done is False and s.verified is False and not s.verification.ok
    assert s.error is not None and s.error.code == "hook"
    with pytest.raises(mutls.HandshakeError) as again:  # sticky; the cause is not raised twice
        s.handshake()
    assert again.value.code == "hook" and again.value.__cause__ is None
    with pytest.raises(mutls.Error):
        s.send(b"data")
    other = p.server if side == "client" else p.client
    if other.handshake_done:
        with pytest.raises(mutls.Error):
            other.recv()
    assert other.error is not None  # the peer heard of it


def test_trace_raising_at_resumed_aborts_the_handshake(pki: PKI, run_pair: Any) -> None:
    ccfg = pki.client_config()
    scfg = pki.server_config()
    p = run_pair(ccfg, scfg)
    assert p.transfer(p.server, p.client, b"ticket?") == b"ticket?"
    data = p.client.session_data

    def trace(ev: mutls.TraceEvent) -> None:
        if ev.name == "resumed":
            raise ValueError("no resumption")

    p = run_pair(pki.client_config(trace=trace), scfg, session_data=data)
    e = p.client_exc
    assert type(e) is mutls.HandshakeError and e.code == "hook"
    assert isinstance(e.__cause__, ValueError) and p.client.handshake_done is False


def test_trace_raising_after_the_handshake_is_not_blamed_for_later_errors(pki: PKI, run_pair: Any) -> None:
    def trace(ev: mutls.TraceEvent) -> None:
        if ev.kind == "alert" and ev.name == "close_notify":
            raise LookupError("seen the close")

    p = run_pair(pki.client_config(), pki.server_config(trace=trace))
    assert p.ok
    with pytest.raises(LookupError):
        p.server.close()
    # a record that is not the client's: a protocol error, not the hook's
    p.server.feed(bytes([23, 3, 3, 0, 20]) + bytes(range(20)))
    with pytest.raises(mutls.Error) as info:
        p.server.recv()
    assert info.value.code == "protocol" and "hook" not in str(info.value)


KEYLOG_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import mutls
from conftest import PKI, Pair
pki = PKI()
ccfg = pki.client_config(keylog_env=sys.argv[2] == "1")
p = Pair(ccfg.client(server_hostname="orders.internal"), pki.server_config().server()).run()
assert p.ok
"""


@pytest.mark.parametrize("keylog_env", [False, True])
def test_sslkeylogfile_only_with_keylog_env(tmp_path: Any, keylog_env: bool) -> None:
    import os
    import subprocess
    import sys
    path = tmp_path / "env-keys.log"
    env = dict(os.environ, SSLKEYLOGFILE=str(path))
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, "-c", KEYLOG_CHILD, here, "1" if keylog_env else "0"],
                   env=env, check=True, timeout=60)
    if not keylog_env:
        assert not path.exists()  # GnuTLS's own writer stays off
    else:
        lines = path.read_text().splitlines()
        assert len(lines) >= 4 and all(line.startswith(("CLIENT_", "SERVER_", "EXPORTER_")) for line in lines)
        assert path.stat().st_mode & 0o777 == 0o600


def test_keylog_file_is_private(pki: PKI, run_pair: Any, tmp_path: Any) -> None:
    import os
    path = tmp_path / "keys.log"
    old = os.umask(0o022)
    try:
        cfg = pki.client_config(keylog=path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert run_pair(cfg, pki.server_config()).ok
    assert len(path.read_text().splitlines()) >= 4


def test_keylog_refuses_a_symlink(pki: PKI, tmp_path: Any) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "keys.log"
    link.symlink_to(target)
    with pytest.raises(mutls.ConfigError) as info:
        pki.client_config(keylog=link)
    assert "is a symbolic link" in str(info.value) and str(link) in str(info.value)
    assert not target.exists()
    with pytest.raises(TypeError):
        pki.client_config(keylog_env="yes")


def drop_handshake_message(data: bytes, drop: int) -> "tuple[bytes, int]":
    """Removes handshake messages of type `drop` from the plaintext handshake
    records in data (those before ChangeCipherSpec), fixing record lengths."""
    out, pos, dropped, encrypted = b"", 0, 0, False
    while pos + 5 <= len(data):
        rtype, rlen = data[pos], int.from_bytes(data[pos + 3:pos + 5], "big")
        body = data[pos + 5:pos + 5 + rlen]
        assert len(body) == rlen
        encrypted = encrypted or rtype == 20
        if rtype == 22 and not encrypted:
            kept, i = b"", 0
            while i + 4 <= len(body):
                mlen = int.from_bytes(body[i + 1:i + 4], "big")
                if body[i] == drop:
                    dropped += 1
                else:
                    kept += body[i:i + 4 + mlen]
                i += 4 + mlen
            if kept:
                out += data[pos:pos + 3] + len(kept).to_bytes(2, "big") + kept
        else:
            out += data[pos:pos + 5 + rlen]
        pos += 5 + rlen
    assert pos == len(data)
    return out, dropped


def test_verified_is_cleared_when_certificate_verify_is_dropped(pki: PKI) -> None:
    client = pki.client_config(versions=["1.2"]).client(server_hostname=HOST)
    server = pki.server_config().server()
    dropped, error = 0, None
    for _ in range(16):
        try:
            client.handshake()
        except mutls.WantRead:
            pass
        data, n = drop_handshake_message(client.data_to_send(), 15)  # CertificateVerify
        dropped += n
        server.feed(data)
        try:
            server.handshake()
        except mutls.WantRead:
            pass
        except mutls.Error as exc:
            error = exc
            break
        client.feed(server.data_to_send())
    assert dropped == 1 and error is not None
    assert error.code == "protocol"
    assert server.verified is False
    assert server.verification.ok is False and not server.verification
    assert "passed every check" not in server.verification.message
    assert "but the handshake failed" in server.verification.message
