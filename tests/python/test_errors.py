"""Every error code and reason of docs/design.md, from real handshakes (memory mode),
with the right class, code, reasons, side, step and alert on the refusing side
and what the refused side hears. Mirrors tests/c/test_verify.c, test_policy.c,
test_records.c and test_config.c."""

from __future__ import annotations

import builtins
import datetime
import os
import socket
import time
from typing import Any, List, Optional, Tuple, Type

import pytest

import mutls

from conftest import DAY, PKI, Pair

HOST = "orders.internal"


# ---- expectations -------------------------------------------------------------


def check_error(exc: Optional[BaseException], cls: Type[mutls.Error], code: str,
                reasons: List[str], side: Optional[str], step: Optional[str],
                alert: Optional[str]) -> mutls.Error:
    assert exc is not None, "expected %s (%s), got no error" % (cls.__name__, code)
    assert type(exc) is cls, (type(exc), str(exc))
    assert isinstance(exc, mutls.Error)
    assert exc.code == code, str(exc)
    assert exc.reasons == reasons, str(exc)
    assert exc.side == side, str(exc)
    assert exc.step == step, str(exc)
    assert exc.alert == alert, str(exc)
    assert str(exc) and "\n" not in str(exc)
    return exc


def client_refuses(p: Pair, reasons: List[str], alert: str, fragment: str) -> mutls.Error:
    """The client refused the server's certificate; the server hears the alert."""
    e = check_error(p.client_exc, mutls.CertificateVerifyError, "verify-failed", reasons,
                    "local", "server-certificate", alert)
    assert "server certificate CN=" in str(e)
    assert fragment in str(e)
    assert isinstance(e.peer_certificate, mutls.Certificate)
    assert p.client.verified is False
    assert len(p.client.peer_chain) >= 1
    v = p.client.verification
    assert not v.ok and v.reasons == reasons and v.message == str(e)
    s = p.server_exc
    assert isinstance(s, mutls.PeerRejectedError), repr(s)
    assert s.code == "peer-rejected" and s.alert == alert and s.side == "peer"
    return e


def server_refuses(p: Pair, cls: Type[mutls.Error], code: str, reasons: List[str], alert: str,
                   fragment: str) -> mutls.Error:
    e = check_error(p.server_exc, cls, code, reasons, "local", "client-certificate", alert)
    assert fragment in str(e), str(e)
    # the client hears it: in TLS 1.3 on its first read after the handshake
    c = p.client_exc
    assert isinstance(c, mutls.PeerRejectedError), repr(c)
    assert c.code == "peer-rejected" and c.alert == alert and c.side == "peer"
    return e


# ---- the server's certificate, checked by the client ----------------------------


def test_server_expired(pki: PKI, run_pair: Any) -> None:
    sid = pki.leaf(cn="orders", dns=[HOST], purpose="server", not_before=-30 * DAY, not_after=-DAY)
    p = run_pair(pki.client_config(), pki.server_config(sid))
    client_refuses(p, ["expired"], "certificate_expired", "expired at ")
    assert p.server_exc.reasons == ["expired"]
    assert p.server_exc.step == "server-certificate"


def test_server_not_yet_valid(pki: PKI, run_pair: Any) -> None:
    sid = pki.leaf(cn="orders", dns=[HOST], purpose="server", not_before=DAY, not_after=30 * DAY)
    p = run_pair(pki.client_config(), pki.server_config(sid))
    client_refuses(p, ["not-yet-valid"], "bad_certificate", "is not valid until ")


def test_server_wrong_dns_name(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(), "billing.internal")
    client_refuses(p, ["name-mismatch"], "bad_certificate",
                   'does not match the name "billing.internal" (it names DNS:orders.internal, '
                   "DNS:localhost, IP:127.0.0.1, IP:::1)")


def test_server_ip_literal_matches_ip_san(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(), "127.0.0.1")
    assert p.ok
    assert p.client.verified
    assert p.server.server_name is None  # no SNI for an IP literal
    assert p.client.server_hostname == "127.0.0.1"


def test_server_wrong_ip(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(), "10.1.2.3")
    client_refuses(p, ["name-mismatch"], "bad_certificate", '"10.1.2.3"')


def test_ip_literal_never_matches_dns_san(pki: PKI, run_pair: Any) -> None:
    sid = pki.leaf(cn="127.0.0.1", dns=["127.0.0.1"], purpose="server")
    p = run_pair(pki.client_config(), pki.server_config(sid), "127.0.0.1")
    client_refuses(p, ["name-mismatch"], "bad_certificate", "it names DNS:127.0.0.1")


def test_server_unknown_issuer(pki: PKI, run_pair: Any) -> None:
    other = mutls.TestCA()
    p = run_pair(pki.client_config(trust=other), pki.server_config())
    client_refuses(p, ["unknown-issuer"], "unknown_ca",
                   "was issued by an unknown CA (issuer CN=mutls test root)")


def test_server_intermediate_missing(pki: PKI, run_pair: Any) -> None:
    inter = pki.ca.intermediate("issuing CA")
    sid = inter.issue(cn="orders", dns=[HOST], purpose="server")
    assert len(sid.chain) == 2
    # the server presents its leaf alone
    scfg = mutls.Config(certificate=sid.cert_pem, private_key=sid.key_pem, trust=pki.ca)
    p = run_pair(pki.client_config(), scfg)
    client_refuses(p, ["unknown-issuer"], "unknown_ca", "unknown CA")


def test_server_intermediate_present_succeeds(pki: PKI, run_pair: Any) -> None:
    inter = pki.ca.intermediate("issuing CA")
    sid = inter.issue(cn="orders", dns=[HOST], purpose="server")
    p = run_pair(pki.client_config(), pki.server_config(sid))
    assert p.ok
    assert [c.common_name for c in p.client.peer_chain] == ["orders", "issuing CA"]


def test_server_intermediate_not_a_ca(pki: PKI, run_pair: Any) -> None:
    inter = pki.ca.intermediate("fake CA", not_ca=True)
    assert inter.certificate.is_ca is False
    sid = inter.issue(cn="orders", dns=[HOST], purpose="server")
    p = run_pair(pki.client_config(), pki.server_config(sid))
    client_refuses(p, ["signer-not-ca"], "unknown_ca", "not a CA")


def test_client_certificate_used_as_server(pki: PKI, run_pair: Any) -> None:
    sid = pki.leaf(cn="orders", dns=[HOST], purpose="client")
    p = run_pair(pki.client_config(), pki.server_config(sid))
    client_refuses(p, ["bad-purpose"], "unsupported_certificate", "TLS server authentication")
    assert p.server_exc.reasons == ["bad-purpose"]


def test_several_reasons_at_once(pki: PKI, run_pair: Any) -> None:
    sid = pki.leaf(cn="orders", dns=[HOST], purpose="server", not_before=-30 * DAY, not_after=-DAY)
    p = run_pair(pki.client_config(), pki.server_config(sid), "billing.internal")
    client_refuses(p, ["expired", "name-mismatch"], "certificate_expired",
                   " and does not match the name")


# ---- SHA-1: an insecure signature algorithm -------------------------------------


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _der_content(data: bytes) -> bytes:
    assert data[0] == 0x30
    if data[1] < 0x80:
        return data[2:2 + data[1]]
    k = data[1] & 0x7F
    return data[2 + k:2 + k + int.from_bytes(data[2:2 + k], "big")]


def sha1_signed_leaf(ca: mutls.TestCA) -> Tuple[bytes, str]:
    """A server leaf signed by ca with ECDSA-SHA1 (the test PKI only signs with
    modern digests). cryptography refuses SHA-1 certificate signatures, so the
    TBS it makes is re-labelled ecdsa-with-SHA1 and signed here."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    sha256_ecdsa = bytes.fromhex("300a06082a8648ce3d040302")
    sha1_ecdsa = bytes.fromhex("300906072a8648ce3d0401")
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orders")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tbs = _der_content(cert.tbs_certificate_bytes)
    assert tbs.count(sha256_ecdsa) == 1
    tbs = _der(0x30, tbs.replace(sha256_ecdsa, sha1_ecdsa))
    sig = ca_key.sign(tbs, ec.ECDSA(hashes.SHA1()))
    der = _der(0x30, tbs + sha1_ecdsa + _der(0x03, b"\0" + sig))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return der, key_pem


def loadable_ca() -> mutls.TestCA:
    """A TestCA whose key pyca/cryptography accepts. GnuTLS 3.7 writes a P-256
    private scalar with its top bit set as 33 bytes (a leading zero) where
    RFC 5915 wants 32, and cryptography refuses those (about half the keys)."""
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    for _ in range(40):
        ca = mutls.TestCA("sha1 test root")
        try:
            serialization.load_pem_private_key(ca.key_pem.encode(), None)
            return ca
        except ValueError:
            continue
    raise AssertionError("no TestCA key that cryptography can load in 40 tries")


def test_server_insecure_algorithm(run_pair: Any) -> None:
    ca = loadable_ca()
    der, key_pem = sha1_signed_leaf(ca)
    cert = mutls.Certificate.from_der(der)
    scfg = mutls.Config(certificate=cert.pem, private_key=key_pem, trust=ca)
    ccfg = mutls.Config(identity=ca.issue(cn="payments", purpose="client"), trust=ca)
    p = run_pair(ccfg, scfg)
    client_refuses(p, ["insecure-algorithm"], "bad_certificate", "insecure algorithm")


# ---- the client's certificate, checked by the server ----------------------------


def test_server_certificate_used_as_client(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(pki.server_id), pki.server_config())
    server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["bad-purpose"],
                   "unsupported_certificate",
                   "client certificate CN=orders may not be used for TLS client authentication")
    assert p.client_exc.reasons == ["bad-purpose"]
    assert p.client_exc.step == "client-certificate"


def test_client_revoked_by_crl(pki: PKI, run_pair: Any) -> None:
    pki.ca.revoke(pki.client_id)
    p = run_pair(pki.client_config(), pki.server_config(crl=pki.ca.crl_pem))
    e = server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["revoked"],
                       "certificate_revoked", "has been revoked (serial ")
    assert e.peer_certificate == pki.client_id.certificate
    assert p.client_exc.reasons == ["revoked"]


def test_client_from_another_ca(pki: PKI, run_pair: Any) -> None:
    other = mutls.TestCA()
    cid = other.issue(cn="payments", uri=["spiffe://example.org/payments"], purpose="client")
    p = run_pair(pki.client_config(cid), pki.server_config())
    # sent although the server's CA list does not name its issuer
    assert len(p.server.peer_chain) == 1
    server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["unknown-issuer"],
                   "unknown_ca", "client certificate CN=payments was issued by an unknown CA")
    assert p.client_exc.reasons == ["unknown-issuer"]


def test_client_self_signed_rogue(pki: PKI, run_pair: Any) -> None:
    rogue = mutls.TestCA("payments")  # its own certificate and key, used as a client identity
    ccfg = mutls.Config(certificate=rogue.cert_pem, private_key=rogue.key_pem, trust=pki.ca)
    p = run_pair(ccfg, pki.server_config())
    e = p.server_exc
    assert type(e) is mutls.CertificateVerifyError and e.code == "verify-failed"
    assert "unknown-issuer" in e.reasons
    assert e.side == "local" and e.step == "client-certificate"
    assert "client certificate CN=payments was issued by an unknown CA" in str(e)
    assert isinstance(p.client_exc, mutls.PeerRejectedError)
    assert p.client_exc.code == "peer-rejected"


@pytest.mark.parametrize("version,alert", [("1.3", "certificate_required"), ("1.2", "handshake_failure")])
def test_no_client_certificate(pki: PKI, run_pair: Any, version: str, alert: str) -> None:
    ccfg = mutls.Config(trust=pki.ca, versions=[version])
    p = run_pair(ccfg, pki.server_config())
    e = check_error(p.server_exc, mutls.CertificateVerifyError, "no-certificate", [], "local",
                    "client-certificate", alert)
    assert str(e) == "client presented no certificate, but one is required"
    assert e.peer_certificate is None
    assert p.server.verification.message == str(e)
    c = check_error(p.client_exc, mutls.PeerRejectedError, "peer-rejected", [], "peer",
                    "client-certificate", alert)
    assert "peer required a certificate, but we sent none" in str(c)
    assert p.client.version == "TLSv" + version


def test_no_client_certificate_requested(pki: PKI, run_pair: Any) -> None:
    p = run_pair(mutls.Config(trust=pki.ca), pki.server_config(peer_certificate="request"))
    assert p.ok
    assert p.server.peer_certificate is None and p.server.peer_chain == []
    assert p.server.verified is False
    assert p.client.verified is True


def test_requested_client_certificate_still_verified(pki: PKI, run_pair: Any) -> None:
    other = mutls.TestCA()
    cid = other.issue(cn="payments", purpose="client")
    p = run_pair(pki.client_config(cid), pki.server_config(peer_certificate="request"))
    server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["unknown-issuer"],
                   "unknown_ca", "unknown CA")


def test_peer_certificate_none(pki: PKI, run_pair: Any) -> None:
    # the server does not ask; the client does not verify (its trust is wrong)
    other = mutls.TestCA()
    ccfg = pki.client_config(trust=other, peer_certificate="none")
    scfg = mutls.Config(identity=pki.server_id, peer_certificate="none")
    p = run_pair(ccfg, scfg, None)
    assert p.ok
    assert p.client.verified is False
    assert p.client.peer_certificate is not None  # seen, not checked
    assert p.server.peer_chain == []


# ---- identity policy (peers) ---------------------------------------------------


def policy_refused(p: Pair) -> mutls.Error:
    e = server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["policy"],
                       "access_denied", "is not allowed by the peers policy")
    return e


@pytest.mark.parametrize("pattern", ["uri:spiffe://example.org/payments", "uri:spiffe://example.org/*"])
def test_spiffe_allowed(pki: PKI, run_pair: Any, pattern: str) -> None:
    p = run_pair(pki.client_config(), pki.server_config(peers=[pattern]))
    assert p.ok and p.server.verified


def test_spiffe_denied(pki: PKI, run_pair: Any) -> None:
    scfg = pki.server_config(peers=["uri:spiffe://example.org/billing", "uri:spiffe://other.org/*"])
    e = policy_refused(run_pair(pki.client_config(), scfg))
    assert "uri:spiffe://other.org/*" in str(e)


def test_cn_pattern(pki: PKI, run_pair: Any) -> None:
    assert run_pair(pki.client_config(), pki.server_config(peers=["cn:billing", "cn:payments"])).ok
    policy_refused(run_pair(pki.client_config(), pki.server_config(peers=["cn:payment"])))


def test_dns_wildcard_pattern_on_the_client(pki: PKI, run_pair: Any) -> None:
    assert run_pair(pki.client_config(peers=["dns:*.internal", "dns:internal"]), pki.server_config()).ok
    p = run_pair(pki.client_config(peers=["dns:*.svc.internal"]), pki.server_config())
    client_refuses(p, ["policy"], "access_denied", "is not allowed by the peers policy")
    assert "allowed: dns:*.svc.internal" in str(p.client_exc)


def test_ip_pattern(pki: PKI, run_pair: Any) -> None:
    assert run_pair(pki.client_config(peers="ip:::1"), pki.server_config()).ok


def test_sha256_pin_match(pki: PKI, run_pair: Any) -> None:
    fp = pki.client_id.certificate.fingerprint("sha256")
    assert run_pair(pki.client_config(), pki.server_config(peers=["sha256:" + fp])).ok
    # colons and upper case are fine
    colons = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2)).upper()
    assert run_pair(pki.client_config(), pki.server_config(peers=["sha256:" + colons])).ok
    # a Certificate in peers pins its own fingerprint
    assert run_pair(pki.client_config(), pki.server_config(peers=[pki.client_id.certificate])).ok


def test_sha256_pin_mismatch(pki: PKI, run_pair: Any) -> None:
    fp = pki.server_id.certificate.fingerprint()  # someone else's pin
    policy_refused(run_pair(pki.client_config(), pki.server_config(peers=["sha256:" + fp])))


# ---- the verify hook (more in test_hooks.py) -------------------------------------


def test_hook_accepts(pki: PKI, run_pair: Any) -> None:
    assert run_pair(pki.client_config(), pki.server_config(verify_hook=lambda peer: True)).ok


def test_hook_rejects(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(verify_hook=lambda peer: "payments is on leave"))
    e = server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["hook"], "access_denied",
                       "client certificate CN=payments was rejected by the verify hook: payments is on leave")
    assert e.__cause__ is None


def test_hook_raises(pki: PKI, run_pair: Any) -> None:
    def hook(peer: mutls.Peer) -> bool:
        return 1 // 0 == 0

    p = run_pair(pki.client_config(), pki.server_config(verify_hook=hook))
    e = server_refuses(p, mutls.HandshakeError, "hook", ["hook"], "access_denied", "ZeroDivisionError")
    assert isinstance(e.__cause__, ZeroDivisionError)
    assert e.__cause__.__traceback__ is not None


# ---- key usage (offline, and the would-be server is told) --------------------------


def test_key_usage_without_signature(pki: PKI, run_pair: Any) -> None:
    sid = pki.leaf(cn="orders", dns=[HOST], purpose="server", bad_key_usage=True)
    with pytest.raises(mutls.CertificateVerifyError) as info:
        sid.certificate.verify(pki.ca, hostname=HOST, purpose="server")
    assert info.value.reasons == ["bad-purpose"]
    assert "key usage does not allow digital signatures" in str(info.value)
    p = run_pair(pki.client_config(), pki.server_config(sid))
    e = p.server_exc
    assert type(e) is mutls.ConfigError and e.code == "config" and e.side == "local"
    assert "our certificate CN=orders may not sign the handshake" in str(e)
    assert isinstance(p.client_exc, mutls.Error)


# ---- protocol, closed ------------------------------------------------------------


def test_garbage_is_protocol_error(pki: PKI) -> None:
    server = pki.server_config().server()
    server.feed(b"GET / HTTP/1.1\r\nHost: orders\r\n\r\n")
    with pytest.raises(mutls.ProtocolError) as info:
        server.handshake()
    e = check_error(info.value, mutls.ProtocolError, "protocol", [], "local", "handshake",
                    info.value.alert)
    assert str(e) == ("the client sent something that is not TLS "
                      "(it looks like HTTP: 'GET / HTTP/1.1')")
    assert isinstance(e, mutls.HandshakeError)
    out = server.data_to_send()  # an alert goes back
    assert len(out) >= 7 and out[0] == 21
    # sticky: the same error again
    with pytest.raises(mutls.ProtocolError):
        server.handshake()


def test_eof_during_handshake_is_closed(pki: PKI) -> None:
    client = pki.client_config().client(server_hostname=HOST)
    with pytest.raises(mutls.WantRead):
        client.handshake()
    client.feed_eof()
    with pytest.raises(mutls.ConnectionClosed) as info:
        client.handshake()
    e = check_error(info.value, mutls.ConnectionClosed, "closed", [], "peer", "handshake", None)
    assert str(e) == "server closed the connection during the handshake"
    assert isinstance(e, ConnectionError)
    with pytest.raises(mutls.ConnectionClosed):
        client.handshake()


def test_eof_without_close_notify_is_closed(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    assert p.ok
    p.server.feed_eof()
    with pytest.raises(mutls.ConnectionClosed) as info:
        p.server.recv()
    e = check_error(info.value, mutls.ConnectionClosed, "closed", [], "peer", "record", None)
    assert str(e) == "client closed the connection without close_notify"


def test_reflected_record_is_protocol_error(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config())
    p.client.send(b"transfer 100 to bob")
    record = p.client.data_to_send()
    p.client.feed(record)  # fed back to its sender
    with pytest.raises(mutls.ProtocolError) as info:
        p.client.recv()
    e = check_error(info.value, mutls.ProtocolError, "protocol", [], "local", "record", "bad_record_mac")
    assert "failed to decrypt" in str(e)


# ---- timeout ----------------------------------------------------------------------


def test_timeout_on_silent_peer(pki: PKI) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.2)
        client = pki.client_config().client(a, server_hostname=HOST)
        start = time.monotonic()
        with pytest.raises(mutls.TimeoutError) as info:
            client.handshake()
        elapsed = time.monotonic() - start
        e = check_error(info.value, mutls.TimeoutError, "timeout", [], None, None, None)
        assert isinstance(e, builtins.TimeoutError)
        assert str(e) == "timed out after 200 ms waiting for the server"
        assert 0.15 <= elapsed < 3
        assert client.error is None  # not a failure of the session


# ---- config ---------------------------------------------------------------------


def config_error(fragment: str, **kw: Any) -> mutls.ConfigError:
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(**kw)
    e = info.value
    assert e.code == "config" and e.reasons == [] and e.side is None and e.alert is None
    assert isinstance(e, ValueError)
    assert fragment in str(e), str(e)
    return e


def test_config_missing_file_named(tmp_path: Any) -> None:
    e = config_error("/nonexistent/orders.pem", certificate="/nonexistent/orders.pem",
                     private_key="/nonexistent/key.pem")
    assert "No such file" in str(e)
    config_error(str(tmp_path / "ca.pem"), trust=tmp_path / "ca.pem")


def test_config_malformed_pem(pki: PKI) -> None:
    pem = pki.server_id.cert_pem
    first = pem.index("\n") + 10
    broken = pem[:first] + "!!!!" + pem[first + 4:]
    config_error("certificate: not a readable certificate", certificate=broken,
                 private_key=pki.server_id.key_pem)
    config_error('no "-----BEGIN CERTIFICATE-----"', certificate=pki.server_id.key_pem,
                 private_key=pki.server_id.key_pem)


def test_config_unreadable_key_file_named(pki: PKI, tmp_path: Any) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    e = config_error(str(key), certificate=pki.server_id.cert_pem, private_key=key)
    assert "not a readable private key" in str(e)


def test_config_key_mismatch(pki: PKI) -> None:
    config_error("the private key does not match the certificate CN=orders",
                 certificate=pki.server_id.cert_pem, private_key=pki.client_id.key_pem)


def test_config_passwords(pki: PKI) -> None:
    enc = pki.server_id.encrypted_key_pem("s3cret")
    assert "ENCRYPTED PRIVATE KEY" in enc
    chain = pki.server_id.chain_pem
    config_error("wrong password for the encrypted private key", certificate=chain, private_key=enc,
                 password="wrong")
    config_error("the private key is encrypted and no password was given", certificate=chain,
                 private_key=enc)
    assert mutls.Config(certificate=chain, private_key=enc, password="s3cret").has_identity
    assert mutls.Config(certificate=chain, private_key=enc, password=b"s3cret").has_identity


def test_config_password_callable(pki: PKI) -> None:
    enc = pki.client_id.encrypted_key_pem("s3cret")
    chain = pki.client_id.chain_pem
    calls: List[int] = []

    def give() -> str:
        calls.append(1)
        return "s3cret"

    assert mutls.Config(certificate=chain, private_key=enc, password=give).has_identity
    assert calls == [1]
    assert mutls.Config(certificate=chain, private_key=enc, password=lambda: b"s3cret").has_identity
    config_error("wrong password", certificate=chain, private_key=enc, password=lambda: "nope")
    config_error("the password callback gave no password", certificate=chain, private_key=enc,
                 password=lambda: None)

    def broken() -> str:
        raise KeyError("vault unreachable")

    e = config_error("the password callback gave no password", certificate=chain, private_key=enc,
                     password=broken)
    assert isinstance(e.__cause__, KeyError)
    e = config_error("gave no password", certificate=chain, private_key=enc, password=lambda: 42)
    assert isinstance(e.__cause__, TypeError)


def test_config_bad_trust_and_crl(pki: PKI, tmp_path: Any) -> None:
    config_error("/nonexistent/ca.pem", trust="/nonexistent/ca.pem")
    config_error("no PEM certificates in the directory", trust=tmp_path)
    config_error("trust: empty value", trust="")
    config_error('no "-----BEGIN CERTIFICATE-----"', trust=pki.client_id.key_pem)
    other = mutls.TestCA()
    config_error("not signed by a trusted CA", trust=pki.ca, crl=other.crl_pem)
    config_error('no "-----BEGIN X509 CRL-----"', trust=pki.ca, crl=pki.ca.cert_pem)


def test_config_bad_versions_priority_alpn() -> None:
    config_error('"1.1" is not supported', versions=["1.1"])
    config_error("versions: the list is empty", versions=[])
    config_error("BOGUS-THING", priority="NORMAL:+BOGUS-THING")
    config_error("alpn: protocol 1", alpn=[""])
    config_error('peer_certificate: expected "require", "request", "none" or "observe"', peer_certificate="always")


@pytest.mark.parametrize("pattern", ["payments", "dns:", "dns:*", "dns:a.*.b", "ip:10.0.0.300", "ip:",
                                     "uri:", "uri:spiffe://*/x", "cn:", "sha256:abc", "sha256:zz",
                                     "email:x@y@example.org", "email:", "email:@*.example.org", "mail:x@example.org"])
def test_config_bad_peer_patterns(pattern: str) -> None:
    config_error(pattern, peers=[pattern])


def test_config_wrong_types_are_type_errors(pki: PKI) -> None:
    for kw in ({"trust": 5}, {"trust": [pki.ca, 5]}, {"peers": [5]}, {"verify_hook": 5},
               {"trace": "no"}, {"check_hostname": "yes"}, {"identity": "id"},
               {"peer_certificate": 1}, {"certificate": 3.5}, {"keylog": 7},
               {"session_tickets": None}, {"versions": [1.3]}, {"crl": [object()]}):
        with pytest.raises(TypeError):
            mutls.Config(**kw)
    with pytest.raises(TypeError):
        mutls.Config(pki.server_id)  # keyword-only
    with pytest.raises(mutls.ConfigError, match="not both"):
        mutls.Config(identity=pki.server_id, certificate=pki.server_id.cert_pem)


# ---- usage ------------------------------------------------------------------------


def usage_error(fragment: str, fn: Any, *args: Any, **kw: Any) -> mutls.UsageError:
    with pytest.raises(mutls.UsageError) as info:
        fn(*args, **kw)
    e = info.value
    assert e.code == "usage" and e.side is None and isinstance(e, ValueError)
    assert fragment in str(e), str(e)
    return e


def test_usage_errors(pki: PKI) -> None:
    ccfg = pki.client_config()
    usage_error("server_hostname is required", ccfg.client)
    usage_error("the config has no identity", mutls.Config().server)
    s = ccfg.client(server_hostname=HOST)
    usage_error("the handshake is not done", s.send, b"x")
    usage_error("the handshake is not done", s.recv)
    usage_error("the handshake is not done", s.export_keying_material, "EXPORTER-x", 16)
    assert s.session_data is None
    usage_error("not usable session data", ccfg.client, server_hostname=HOST, session_data=b"junk")
    # checking no name must be said explicitly
    mutls.Config(check_hostname=False).client()
    # socket-mode sessions have no memory buffers
    a, b = socket.socketpair()
    with a, b:
        s = ccfg.client(a, server_hostname=HOST)
        usage_error("socket mode", s.feed, b"x")
        usage_error("socket mode", s.data_to_send)
    # a Config is immutable
    usage_error("immutable", ccfg.__init__, trust=pki.ca)


# ---- the retry signals ----------------------------------------------------------


def test_want_read(pki: PKI, run_pair: Any) -> None:
    client = pki.client_config().client(server_hostname=HOST)
    with pytest.raises(mutls.WantRead) as info:
        client.handshake()
    e = info.value
    assert e.code == "want-read" and e.reasons == [] and e.side is None
    assert not isinstance(e, mutls.HandshakeError)
    assert client.data_to_send()[:1] == b"\x16"  # a ClientHello record
    assert client.data_to_send() == b""  # taken means gone
    p = run_pair(pki.client_config(), pki.server_config())
    with pytest.raises(mutls.WantRead):
        p.server.recv()


def test_want_write_on_a_full_nonblocking_socket(pki: PKI) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.setblocking(False)
        c = pki.client_config().client(a, server_hostname=HOST)
        s = pki.server_config().server(b)
        done = {"c": False, "s": False}
        for _ in range(200):
            for key, sess in (("c", c), ("s", s)):
                if done[key]:
                    continue
                try:
                    sess.handshake()
                    done[key] = True
                except (mutls.WantRead, mutls.WantWrite):
                    pass
            if all(done.values()):
                break
        assert all(done.values())
        chunk = b"x" * 65536
        with pytest.raises(mutls.WantWrite) as info:
            for _ in range(400):  # nobody reads: the socket fills
                c.send(chunk)
        assert info.value.code == "want-write"
        with pytest.raises(mutls.WantRead):
            c.recv()


def test_every_code_and_reason_has_a_class() -> None:
    assert mutls.CODES == ("want-read", "want-write", "verify-failed", "peer-rejected",
                           "no-certificate", "protocol", "closed", "timeout", "config", "usage", "hook")
    assert mutls.REASONS == ("expired", "not-yet-valid", "unknown-issuer", "name-mismatch", "revoked",
                             "bad-purpose", "insecure-algorithm", "signer-not-ca", "policy", "hook",
                             "name-constraints", "path-length", "unknown-critical-extension",
                             "nonconforming")
    assert issubclass(mutls.CertificateVerifyError, mutls.HandshakeError)
    assert issubclass(mutls.PeerRejectedError, mutls.HandshakeError)
    assert issubclass(mutls.ProtocolError, mutls.HandshakeError)
    assert issubclass(mutls.HandshakeError, mutls.Error)
    assert issubclass(mutls.ConnectionClosed, ConnectionError)
    assert issubclass(mutls.TimeoutError, builtins.TimeoutError)
    assert issubclass(mutls.ConfigError, ValueError) and issubclass(mutls.UsageError, ValueError)
    assert mutls.WantRead.code == "want-read" and mutls.WantWrite.code == "want-write"
    e = mutls.Error("made by hand")
    assert e.code is None and e.reasons == () and e.peer_certificate is None
    assert str(mutls.ConnectionClosed("gone")) == "gone"


# ---- weak keys (issue 11 #1) ------------------------------------------------------
# A key under GnuTLS's MEDIUM profile anywhere in the chain (leaf,
# intermediate, trust anchor) is refused as insecure-algorithm, both roles,
# both versions, and offline. Where the weak side cannot sign with its key at
# all (DSA is not in the default priority; TLS 1.3 has no scheme for P-192 and
# RSA-512 is too small for RSA-PSS) the handshake fails before the chain is
# checked: then it is enough that nothing is accepted.

WEAK = {"rsa512": "RSA key of 512 bits; at least 2048 are required",
        "rsa1024": "RSA key of 1024 bits; at least 2048 are required",
        "dsa1024": "DSA key of 1024 bits; at least 2048 are required",
        "p192": "ECDSA key on SECP192R1 (192 bits); at least 224 are required"}


def weak_chain(key: str, at: str, role: str) -> Tuple[mutls.TestCA, mutls.Identity]:
    root = mutls.TestCA("weak test root", key_type=key if at == "root" else "p256")
    ca = root.intermediate("weak test intermediate", key_type=key) if at == "intermediate" else root
    leaf_key = key if at == "leaf" else "p256"
    if role == "server":
        return root, ca.issue(cn="orders", dns=[HOST], purpose="server", key_type=leaf_key)
    return root, ca.issue(cn="payments", uri=["spiffe://example.org/payments"], purpose="client",
                          key_type=leaf_key)


@pytest.mark.parametrize("key", sorted(WEAK))
@pytest.mark.parametrize("at", ["leaf", "intermediate", "root"])
@pytest.mark.parametrize("role", ["server", "client"])
def test_weak_key_is_refused(pki: PKI, run_pair: Any, key: str, at: str, role: str) -> None:
    root, weak_id = weak_chain(key, at, role)
    for version in ("1.2", "1.3"):
        weak_cfg = mutls.Config(identity=weak_id, trust=pki.ca, versions=[version])
        good_id = pki.client_id if role == "server" else pki.server_id
        good_cfg = mutls.Config(identity=good_id, trust=root, versions=[version])
        p = run_pair(good_cfg, weak_cfg) if role == "server" else run_pair(weak_cfg, good_cfg)
        verifier = p.client if role == "server" else p.server
        exc = p.client_exc if role == "server" else p.server_exc
        assert verifier.verified is False
        assert exc is not None or (p.server_exc if role == "server" else p.client_exc) is not None
        cannot_sign = at == "leaf" and (key == "dsa1024" or (version == "1.3" and key in ("rsa512", "p192")))
        if cannot_sign:
            assert exc is None or exc.code != "verify-failed" or exc.reasons == ["insecure-algorithm"]
            continue
        e = check_error(exc, mutls.CertificateVerifyError, "verify-failed", ["insecure-algorithm"],
                        "local", role + "-certificate", "bad_certificate")
        who = "server certificate CN=orders" if role == "server" else "client certificate CN=payments"
        assert str(e).startswith(who), str(e)
        assert WEAK[key] in str(e)
        where = {"root": "trusted CA CN=weak test root", "intermediate": "CA certificate CN=weak test intermediate",
                 "leaf": who + " has a"}[at]
        assert where in str(e), str(e)


@pytest.mark.parametrize("key", sorted(WEAK))
def test_weak_key_offline(key: str) -> None:
    for at in ("leaf", "intermediate", "root"):
        root, weak_id = weak_chain(key, at, "server")
        with pytest.raises(mutls.CertificateVerifyError) as info:
            weak_id.certificate.verify(root, hostname=HOST, purpose="server", intermediates=weak_id.chain[1:])
        assert info.value.reasons == ["insecure-algorithm"] and WEAK[key] in str(info.value)


def test_weak_key_profile_from_priority(pki: PKI) -> None:
    """%PROFILE_HIGH in the priority string asks for 3072-bit RSA."""
    root, sid = weak_chain("rsa2048", "leaf", "server")
    assert sid.certificate.verify(root, hostname=HOST)
    strict = mutls.Config(trust=root, priority="NORMAL:%PROFILE_HIGH")
    with pytest.raises(mutls.CertificateVerifyError) as info:
        sid.certificate.verify(strict, hostname=HOST)
    assert info.value.reasons == ["insecure-algorithm"]
    assert "has an RSA key of 2048 bits; at least 3072 are required" in str(info.value)


# ---- the right words (issue 11 #12) ------------------------------------------------


def test_name_constraints_violation(pki: PKI, run_pair: Any) -> None:
    inter = pki.ca.intermediate("constrained intermediate", permitted_dns=["svc.local"])
    p = run_pair(pki.client_config(), pki.server_config(inter.issue(cn="orders", dns=[HOST], purpose="server")))
    client_refuses(p, ["name-constraints"], "unknown_ca",
                   "server certificate CN=orders names DNS:orders.internal, which the name constraints "
                   "of CA CN=constrained intermediate do not allow (permitted: DNS:svc.local)")
    ok = inter.issue(cn="orders", dns=["orders.svc.local"], purpose="server")
    assert ok.certificate.verify(pki.ca, hostname="orders.svc.local", intermediates=ok.chain[1:])


def test_path_length_violation(pki: PKI, run_pair: Any) -> None:
    limited = pki.ca.intermediate("limited intermediate", path_length=0)
    sub = limited.intermediate("sub intermediate")
    cid = sub.issue(cn="payments", purpose="client")
    p = run_pair(pki.client_config(cid), pki.server_config())
    server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["path-length"], "unknown_ca",
                   "client certificate CN=payments has a chain longer than CA CN=limited intermediate allows: "
                   "its path length limit (pathLenConstraint) is 0, but 1 CA certificate comes below it "
                   "(CN=sub intermediate)")
    leaf = limited.issue(cn="payments", purpose="client")
    assert leaf.certificate.verify(pki.ca, purpose="client", intermediates=leaf.chain[1:])
    with pytest.raises(ValueError):
        pki.ca.intermediate("x", path_length=-1)


def test_revoked_intermediate_is_named(pki: PKI, run_pair: Any) -> None:
    inter = pki.ca.intermediate("revoked intermediate")
    cid = inter.issue(cn="payments", purpose="client")
    pki.ca.revoke(inter.certificate)
    p = run_pair(pki.client_config(cid), pki.server_config(crl=pki.ca.crl_pem))
    server_refuses(p, mutls.CertificateVerifyError, "verify-failed", ["revoked"], "certificate_revoked",
                   "client certificate CN=payments has in its chain the CA certificate CN=revoked "
                   "intermediate, which has been revoked (serial %s)" % inter.certificate.serial)


def test_unknown_critical_extension(pki: PKI, run_pair: Any, tmp_path: Any) -> None:
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    (tmp_path / "ca.pem").write_text(pki.ca.cert_pem)
    (tmp_path / "ca.key").write_text(pki.ca.key_pem)
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:orders.internal\n1.3.6.1.4.1.55555.1=critical,DER:0500\n")
    run = lambda *a: subprocess.run(a, cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-subj", "/CN=orders", "-out", "req.csr")
    run("openssl", "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2",
        "-extfile", "ext.cnf", "-out", "cert.pem")
    scfg = mutls.Config(certificate=str(tmp_path / "cert.pem"), private_key=str(tmp_path / "key.pem"), trust=pki.ca)
    p = run_pair(pki.client_config(), scfg)
    client_refuses(p, ["unknown-critical-extension"], "unsupported_certificate",
                   "server certificate CN=orders has a critical extension that is not understood "
                   "(OID 1.3.6.1.4.1.55555.1)")


def _crl(ca: mutls.TestCA, this_update: datetime.timedelta, next_update: datetime.timedelta) -> str:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    issuer = x509.load_pem_x509_certificate(ca.cert_pem.encode()).subject
    now = datetime.datetime.now(datetime.timezone.utc)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(issuer)
           .last_update(now + this_update).next_update(now + next_update)
           .sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def test_unusable_crls_say_why() -> None:
    """Issue 11 #12: an expired or not-yet-valid CRL was refused as 'not
    signed by a trusted CA'."""
    ca = loadable_ca()
    day = datetime.timedelta(days=1)
    assert mutls.Config(trust=ca, crl=_crl(ca, -day, day))
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(trust=ca, crl=_crl(ca, -10 * day, -day))
    assert "the CRL of CN=sha1 test root expired at " in str(info.value)
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(trust=ca, crl=_crl(ca, day, 10 * day))
    assert "the CRL of CN=sha1 test root is not valid until " in str(info.value)
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(trust=mutls.TestCA(), crl=_crl(ca, -day, day))
    assert "the CRL of CN=sha1 test root is not signed by a trusted CA" in str(info.value)


def test_revocation_trace_says_whether_a_crl_covers_the_issuer(pki: PKI, run_pair: Any) -> None:
    """Issue 11 #12: the trace said 'not on any of 1 CRL' when no loaded CRL
    covered the peer's issuer."""
    other = mutls.TestCA("other CA")
    for crl, want in ((other.crl_pem, "no loaded CRL covers its issuer CN=mutls test root (1 CRL loaded, for other CAs)"),
                      (pki.ca.crl_pem, "not on the CRL of its issuer CN=mutls test root")):
        events: List[Any] = []
        scfg = pki.server_config(trust=[pki.ca, other], crl=crl, trace=events.append)
        p = run_pair(pki.client_config(), scfg)
        assert p.ok
        details = [ev.detail for ev in events if ev.kind == "check" and ev.name == "revocation"]
        assert details == [want]
