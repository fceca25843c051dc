"""Memory mode (sans-IO): the handshake and what a session shows after it,
records, reflected records, traffic keys, the exporter, close, resumption
(and its policy re-check), ALPN. Mirrors tests/c/test_handshake.c and
test_records.c."""

from __future__ import annotations

from typing import Any, List

import pytest

import mutls

from conftest import PKI, Pair, move

HOST = "orders.internal"


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_success_and_what_each_side_sees(pki: PKI, run_pair: Any, version: str) -> None:
    p = run_pair(pki.client_config(versions=[version]), pki.server_config())
    assert p.ok
    c, s = p.client, p.server
    assert c.handshake_done and s.handshake_done
    assert c.version == s.version == "TLSv" + version
    assert c.cipher and c.cipher == s.cipher and c.cipher.startswith("TLS_")
    assert c.is_server is False and s.is_server is True
    assert c.sock is None and s.sock is None
    assert c.verified and s.verified
    assert c.verification.ok and bool(c.verification) and c.verification.reasons == []
    assert c.verification.message == "server certificate CN=orders passed every check"
    assert s.verification.message == "client certificate CN=payments passed every check"
    assert c.peer_certificate == pki.server_id.certificate
    assert s.peer_certificate == pki.client_id.certificate
    assert s.peer_certificate.uris == ["spiffe://example.org/payments"]
    assert [x.common_name for x in c.peer_chain] == ["orders"]
    # our own leaf as sent: the very certificate the peer received
    assert s.own_certificate == pki.server_id.certificate == c.peer_certificate
    assert c.own_certificate == pki.client_id.certificate == s.peer_certificate
    assert c.server_hostname == HOST and c.server_name == HOST
    assert s.server_name == HOST and s.server_hostname is None
    assert c.resumed is False and s.resumed is False
    assert c.alpn is None
    assert c.error is None and s.error is None
    assert "handshake succeeded" in c.explain() and "CN=orders" in c.explain()
    assert "handshake done" in repr(c)
    assert c.config is not None and s.config.has_identity


def test_before_the_handshake(pki: PKI) -> None:
    c = pki.client_config().client(server_hostname=HOST)
    assert c.handshake_done is False
    assert c.version is None and c.cipher is None
    assert c.peer_certificate is None and c.peer_chain == []
    assert c.own_certificate is None
    assert c.verified is False and not c.verification
    assert c.trace == [] and c.session_data is None
    assert "handshake pending" in repr(c)
    with pytest.raises(TypeError):
        mutls.Session()


def test_records_both_ways(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    assert p.transfer(p.client, p.server, b"ping") == b"ping"
    assert p.transfer(p.server, p.client, b"pong" * 1000) == b"pong" * 1000
    assert p.client.send(memoryview(b"abc")) == 3
    move(p.client, p.server)
    assert p.server.pending() == 0
    assert p.server.recv(2) == b"ab"
    assert p.server.pending() == 1
    assert p.server.recv(0) == b""
    assert p.server.recv() == b"c"
    with pytest.raises(ValueError):
        p.server.recv(-1)


def test_large_send_loops_over_records(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    big = bytes((i * 31 + 7) & 0xFF for i in range(1 << 20))
    assert p.client.send(big) == len(big)
    move(p.client, p.server)
    back = bytearray()
    while len(back) < len(big):
        chunk = p.server.recv(1 << 20)
        assert 0 < len(chunk) <= 16384
        back += chunk
    assert bytes(back) == big
    with pytest.raises(mutls.WantRead):
        p.server.recv()


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_reflected_record_is_refused(pki: PKI, run_pair: Any, version: str) -> None:
    p = run_pair(pki.client_config(versions=[version]), pki.server_config())
    p.client.send(b"transfer 100 to bob")
    record = p.client.data_to_send()
    assert len(record) > 19
    p.client.feed(record)  # the record the client wrote, fed back to the client
    with pytest.raises(mutls.ProtocolError) as info:
        p.client.recv()
    assert info.value.code == "protocol" and info.value.alert == "bad_record_mac"
    assert "failed to decrypt" in str(info.value)
    # the same bytes are fine for the server they were meant for
    p.server.feed(record)
    assert p.server.recv() == b"transfer 100 to bob"


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_traffic_keys_are_separate(pki: PKI, run_pair: Any, version: str) -> None:
    p = run_pair(pki.client_config(versions=[version]), pki.server_config())
    cw, cr = p.client.key_fingerprint(True), p.client.key_fingerprint(write=False)
    sw, sr = p.server.key_fingerprint(True), p.server.key_fingerprint(False)
    assert len(cw) == 64 and int(cw, 16) >= 0
    assert cw != sw  # two directions, two keys
    assert cw == sr and sw == cr


def test_exporter_agrees(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    a = p.client.export_keying_material("EXPORTER-test", 32, b"ctx")
    b = p.server.export_keying_material("EXPORTER-test", 32, context=b"ctx")
    c = p.server.export_keying_material("EXPORTER-other", 32)
    assert len(a) == 32 and a == b and a != c
    with pytest.raises(ValueError):
        p.client.export_keying_material("EXPORTER-test", 0)
    with pytest.raises(TypeError):
        p.client.export_keying_material("EXPORTER-test", 8, "ctx")


def test_close_notify_reads_as_end(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    p.client.close()
    p.client.close()  # idempotent
    move(p.client, p.server)
    assert p.server.recv() == b""
    assert p.server.recv() == b""
    with pytest.raises(mutls.UsageError):
        p.client.send(b"x")
    events = [(e.kind, e.name, e.outgoing) for e in p.server.trace if e.kind == "alert"]
    assert ("alert", "close_notify", False) in events


def test_context_manager_closes_and_frees(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    with p.client as c:
        assert c is p.client
        c.sendall(b"last words")
    assert c.freed
    move_err = None
    try:
        c.data_to_send()
    except mutls.UsageError as exc:
        move_err = exc
    assert move_err is not None and "freed" in str(move_err)
    with pytest.raises(mutls.UsageError):
        c.peer_certificate
    assert c.config is not None and c.is_server is False
    c.close()  # closing a freed session is fine
    assert "freed" in repr(c)
    # an exception in the block is not hidden
    q = run_pair(pki.client_config(), pki.server_config())
    with pytest.raises(KeyError):
        with q.server:
            raise KeyError("inside")
    assert q.server.freed


def first_session(pki: PKI, run_pair: Any, version: str, ccfg: mutls.Config, scfg: mutls.Config) -> bytes:
    p = run_pair(ccfg, scfg)
    assert p.ok and p.client.resumed is False
    if version == "1.3":
        assert p.client.session_data is None  # the ticket has not arrived yet
    assert p.transfer(p.server, p.client, b"ticket?") == b"ticket?"
    data = p.client.session_data
    assert isinstance(data, bytes) and len(data) > 16
    assert p.server.session_data is None
    return data


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_resumption(pki: PKI, run_pair: Any, version: str) -> None:
    ccfg = pki.client_config(versions=[version])
    scfg = pki.server_config()
    data = first_session(pki, run_pair, version, ccfg, scfg)
    p = run_pair(ccfg, scfg, session_data=data)
    assert p.ok
    assert p.client.resumed is True and p.server.resumed is True
    # re-checked on resumption: the peer is known and verified
    assert p.client.verified and p.server.verified
    assert p.server.peer_certificate.label == "CN=payments"
    # nothing was sent: the server's leaf is the one it was established
    # with; the client cannot know whether it was asked back then
    assert p.server.own_certificate == pki.server_id.certificate
    assert p.client.own_certificate is None
    assert p.transfer(p.client, p.server, b"again") == b"again"


def test_resumption_rechecks_policy(pki: PKI, run_pair: Any) -> None:
    """Session data from one client config, resumed under a stricter one:
    GnuTLS resumes without verifying, mutls re-checks and refuses."""
    scfg = pki.server_config()
    data = first_session(pki, run_pair, "1.3", pki.client_config(), scfg)
    strict = pki.client_config(peers=["dns:billing.internal"])
    p = run_pair(strict, scfg, session_data=data, handshake_only=True)
    e = p.client_exc
    assert type(e) is mutls.CertificateVerifyError
    assert e.code == "verify-failed" and e.reasons == ["policy"]
    assert p.client.resumed is False


def test_no_session_tickets(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(session_tickets=False), pki.server_config(session_tickets=False))
    assert p.ok
    p.transfer(p.server, p.client, b"no ticket")
    assert p.client.session_data is None


def test_alpn_agreed_and_none(pki: PKI, run_pair: Any) -> None:
    ccfg = pki.client_config(alpn=["h2", "http/1.1"])
    p = run_pair(ccfg, pki.server_config(alpn="http/1.1"))
    assert p.client.alpn == "http/1.1" and p.server.alpn == "http/1.1"
    p = run_pair(ccfg, pki.server_config(alpn=[b"smtp"]))
    assert p.ok and p.client.alpn is None


def test_error_property_and_verification_after_a_failure(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(), "billing.internal")
    e = p.client.error
    assert isinstance(e, mutls.CertificateVerifyError) and e.reasons == ["name-mismatch"]
    assert str(e) == str(p.client_exc)
    v = p.client.verification
    assert not v and v.reasons == ["name-mismatch"] and v.message == str(e)
    assert "failed" in repr(p.client)
    assert p.client.version == "TLSv1.3"
    assert "name" in p.client.explain()


def test_pair_of_one_config(pki: PKI, run_pair: Any) -> None:
    """One Config serves both roles (a service is client and server)."""
    ident = pki.ca.issue(cn="svc", dns=[HOST], purpose="both")
    cfg = mutls.Config(identity=ident, trust=pki.ca, peers=["cn:svc"])
    p = Pair(cfg.client(server_hostname=HOST), cfg.server()).run()
    assert p.ok and p.client.verified and p.server.verified


# ---- TLS 1.2 resumption by session ID (the server's session cache)


def no_ticket_configs(pki: PKI, **server_kw: Any) -> Any:
    """TLS 1.2, tickets off on both sides: only the session ID can resume."""
    return (pki.client_config(versions=["1.2"], session_tickets=False),
            pki.server_config(session_tickets=False, **server_kw))


def full_then_data(run_pair: Any, ccfg: mutls.Config, scfg: mutls.Config) -> bytes:
    p = run_pair(ccfg, scfg)
    assert p.ok and p.server.resumed is False
    data = p.client.session_data
    assert isinstance(data, bytes) and data
    return data


def test_tls12_resumes_by_session_id_without_tickets(pki: PKI, run_pair: Any) -> None:
    ccfg, scfg = no_ticket_configs(pki)
    data = full_then_data(run_pair, ccfg, scfg)
    p = run_pair(ccfg, scfg, session_data=data)
    assert p.ok
    assert p.client.resumed is True and p.server.resumed is True
    assert p.server.verified and p.server.peer_certificate.label == "CN=payments"
    assert p.transfer(p.client, p.server, b"by id") == b"by id"


def test_session_cache_zero_means_a_full_handshake(pki: PKI, run_pair: Any) -> None:
    ccfg, scfg = no_ticket_configs(pki, session_cache=0)
    data = full_then_data(run_pair, ccfg, scfg)
    p = run_pair(ccfg, scfg, session_data=data)
    assert p.ok and p.client.resumed is False and p.server.resumed is False


def test_session_cache_keeps_only_its_entries(pki: PKI, run_pair: Any) -> None:
    ccfg, scfg = no_ticket_configs(pki, session_cache=1)
    first = full_then_data(run_pair, ccfg, scfg)
    second = full_then_data(run_pair, ccfg, scfg)
    assert run_pair(ccfg, scfg, session_data=second).server.resumed is True
    assert run_pair(ccfg, scfg, session_data=first).server.resumed is False  # replaced


def test_session_id_resumption_rechecks_the_peer(pki: PKI, run_pair: Any) -> None:
    """A client revoked (here by the verify hook's list) after its full
    handshake is refused when it resumes by session ID."""
    revoked: set = set()

    def hook(peer: mutls.Peer) -> Any:
        return "revoked" if peer.leaf.fingerprint() in revoked else True

    ccfg, scfg = no_ticket_configs(pki, verify_hook=hook)
    data = full_then_data(run_pair, ccfg, scfg)
    assert run_pair(ccfg, scfg, session_data=data).server.resumed is True
    revoked.add(pki.client_id.certificate.fingerprint())
    p = run_pair(ccfg, scfg, session_data=data, handshake_only=True)
    e = p.server_exc
    assert type(e) is mutls.CertificateVerifyError
    assert e.reasons == ["hook"] and "revoked" in str(e)
    assert p.server.verified is False


# ---- malformed client messages get decode_error, as GnuTLS's own choice


def records(data: bytes) -> List[Any]:
    out, i = [], 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 3:i + 5], "big")
        out.append((data[i], data[i + 1:i + 3], data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def second_flight_with(pki: PKI, htype: int, body: bytes) -> mutls.Error:
    """A TLS 1.2 handshake whose client Certificate..Finished flight has its
    message of type htype replaced by body; the server's error."""
    c = pki.client_config(versions=["1.2"]).client(server_hostname="orders.internal")
    s = pki.server_config().server()
    with pytest.raises(mutls.WantRead):
        c.handshake()
    s.feed(c.data_to_send())
    with pytest.raises(mutls.WantRead):
        s.handshake()
    c.feed(s.data_to_send())
    with pytest.raises(mutls.WantRead):
        c.handshake()
    flight = b""
    for rtype, version, payload in records(c.data_to_send()):
        if rtype == 22 and payload[:1] == bytes([htype]):
            payload = bytes([htype]) + len(body).to_bytes(3, "big") + body
        flight += bytes([rtype]) + version + len(payload).to_bytes(2, "big") + payload
    s.feed(flight)
    with pytest.raises(mutls.Error) as info:
        s.handshake()
    return info.value


def test_empty_certificate_verify_gets_decode_error(pki: PKI) -> None:
    e = second_flight_with(pki, 15, b"")
    assert type(e) is mutls.ProtocolError and e.alert == "decode_error"
    assert str(e) == "client sent a malformed message: its CertificateVerify message is empty"


def test_zero_length_certificate_entry_gets_decode_error(pki: PKI) -> None:
    e = second_flight_with(pki, 11, b"\x00\x00\x03\x00\x00\x00")
    assert type(e) is mutls.ProtocolError and e.alert == "decode_error"
    assert "a certificate of zero bytes" in str(e)


def test_empty_certificate_list_is_no_certificate(pki: PKI) -> None:
    e = second_flight_with(pki, 11, b"\x00\x00\x00")
    assert e.code == "no-certificate" and e.alert == "handshake_failure"


# ---- CA names and the default priority


def certificate_request(pki: PKI, **server_kw: Any) -> bytes:
    """The server's TLS 1.2 CertificateRequest message body."""
    c = pki.client_config(versions=["1.2"]).client(server_hostname="orders.internal")
    s = pki.server_config(**server_kw).server()
    with pytest.raises(mutls.WantRead):
        c.handshake()
    s.feed(c.data_to_send())
    with pytest.raises(mutls.WantRead):
        s.handshake()
    hs = b"".join(payload for rtype, _, payload in records(s.data_to_send()) if rtype == 22)
    i = 0
    while i + 4 <= len(hs):
        n = int.from_bytes(hs[i + 1:i + 4], "big")
        if hs[i] == 13:
            return hs[i + 4:i + 4 + n]
        i += 4 + n
    raise AssertionError("no CertificateRequest")


def ca_names(cr: bytes) -> bytes:
    i = 1 + cr[0]
    i += 2 + int.from_bytes(cr[i:i + 2], "big")
    return cr[i + 2:]


def test_certificate_request_names_the_trust_anchor(pki: PKI) -> None:
    names = ca_names(certificate_request(pki))
    assert names, "no CA names"
    assert b"mutls test root" in names
    assert ca_names(certificate_request(pki, send_ca_names=False)) == b""


def signature_algorithms(cr: bytes) -> List[bytes]:
    i = 1 + cr[0]
    n = int.from_bytes(cr[i:i + 2], "big")
    return [cr[i + 2 + k:i + 4 + k] for k in range(0, n, 2)]


def test_default_priority_has_no_ed448(pki: PKI) -> None:
    algs = signature_algorithms(certificate_request(pki))
    assert b"\x08\x07" in algs           # Ed25519 stays
    assert b"\x08\x08" not in algs       # Ed448 does not
    assert b"\x08\x08" in signature_algorithms(certificate_request(pki, priority="NORMAL"))  # as given
