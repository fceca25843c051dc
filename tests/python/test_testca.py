"""TestCA and Identity: issue options (names, validity as datetime / seconds /
timedelta, key types, purposes), intermediates, revocation and CRLs, key
exports, write_to, and the trustme-style ssl helpers driving Python's ssl."""

from __future__ import annotations

import base64
import datetime
import os
import pathlib
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
from typing import Any, Dict, Tuple

import pytest

import mutls

from conftest import DAY, PKI

UTC = datetime.timezone.utc


def test_root_defaults() -> None:
    ca = mutls.TestCA()
    c = ca.certificate
    assert c.is_ca and c.key_type == "p256"
    assert c.common_name == "mutls test CA"
    assert c.subject == c.issuer
    assert ca.cert_pem == c.pem
    assert "PRIVATE KEY" in ca.key_pem
    assert ca.crl_pem.startswith("-----BEGIN X509 CRL-----")
    assert repr(ca) == "<mutls.TestCA CN=mutls test CA>"
    assert mutls.TestCA("Acme root").certificate.common_name == "Acme root"
    assert mutls.TestCA(name="n", key_type="ed25519").certificate.key_type == "ed25519"


def test_ca_validity() -> None:
    start = datetime.datetime(2020, 1, 1, tzinfo=UTC)
    end = datetime.datetime(2040, 1, 1, tzinfo=UTC)
    ca = mutls.TestCA(not_before=start, not_after=end)
    assert ca.certificate.not_before == start and ca.certificate.not_after == end


def test_issue_names_and_defaults(pki: PKI) -> None:
    ident = pki.ca.issue(cn="svc", dns=["a.example", "*.b.example"], ip=["10.0.0.7", "::1"],
                         uri=["spiffe://example.org/svc"], email=["ops@example.org"])
    c = ident.certificate
    assert c.common_name == "svc"
    assert c.dns_names == ["a.example", "*.b.example"]
    assert [str(ip) for ip in c.ip_addresses] == ["10.0.0.7", "::1"]
    assert c.uris == ["spiffe://example.org/svc"] and c.emails == ["ops@example.org"]
    assert c.issuer == pki.ca.certificate.subject
    assert not c.is_ca
    now = datetime.datetime.now(UTC)
    assert now - datetime.timedelta(hours=2) < c.not_before < now
    assert now + datetime.timedelta(days=364) < c.not_after < now + datetime.timedelta(days=367)
    assert ident.chain == [c]
    assert ident.chain_pem == ident.cert_pem
    assert "PRIVATE KEY" in ident.key_pem
    assert repr(ident) == "<mutls.Identity CN=svc>"
    # single strings and ipaddress objects are fine
    import ipaddress
    one = pki.ca.issue(dns="one.example", ip=[ipaddress.ip_address("192.0.2.1")])
    assert one.certificate.dns_names == ["one.example"]
    assert one.certificate.ip_addresses == [ipaddress.ip_address("192.0.2.1")]
    assert pki.ca.issue().certificate.common_name == "mutls test leaf"


def test_issue_validity_forms(pki: PKI) -> None:
    aware = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    naive = datetime.datetime(2031, 6, 1, 12, 0)  # taken as UTC
    c = pki.ca.issue(not_before=aware, not_after=naive).certificate
    assert c.not_before == aware
    assert c.not_after == naive.replace(tzinfo=UTC)
    other_tz = datetime.datetime(2030, 1, 1, 2, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    c = pki.ca.issue(not_before=other_tz, not_after=naive).certificate
    assert c.not_before == datetime.datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(mutls.UsageError, match="not_after is before not_before"):
        pki.ca.issue(not_before=naive, not_after=aware)
    now = time.time()
    c = pki.ca.issue(not_before=-2 * DAY, not_after=3600.5).certificate
    assert abs(c.not_before.timestamp() - (now - 2 * DAY)) < 5
    assert abs(c.not_after.timestamp() - (now + 3600)) < 5
    c = pki.ca.issue(not_after=datetime.timedelta(days=2)).certificate
    assert abs(c.not_after.timestamp() - (now + 2 * DAY)) < 5
    with pytest.raises(TypeError):
        pki.ca.issue(not_before="yesterday")
    with pytest.raises(TypeError):
        pki.ca.issue(not_after=True)


@pytest.mark.parametrize("key_type", ["p256", "p384", "ed25519", "rsa2048"])
def test_key_types_handshake(pki: PKI, run_pair: Any, key_type: str) -> None:
    ca = mutls.TestCA(key_type=key_type)
    sid = ca.issue(cn="orders", dns=["orders.internal"], key_type=key_type, purpose="server")
    cid = ca.issue(cn="payments", key_type=key_type, purpose="client")
    assert sid.certificate.key_type == key_type and ca.certificate.key_type == key_type
    p = run_pair(mutls.Config(identity=cid, trust=ca), mutls.Config(identity=sid, trust=ca))
    assert p.ok and p.client.verified and p.server.verified


def test_bad_options(pki: PKI) -> None:
    with pytest.raises(mutls.UsageError, match="unknown key type"):
        pki.ca.issue(key_type="dsa512")
    with pytest.raises(mutls.UsageError, match="purpose"):
        pki.ca.issue(purpose="everything")
    with pytest.raises(TypeError):
        pki.ca.issue(dns=[1])
    with pytest.raises(TypeError):
        pki.ca.issue("positional")
    with pytest.raises(mutls.UsageError):
        mutls.TestCA(key_type="nope")
    with pytest.raises((mutls.UsageError, mutls.ConfigError), match="not an address"):
        pki.ca.issue(ip=["not an address"])
    with pytest.raises(TypeError):
        mutls.Identity()


def test_purposes(pki: PKI) -> None:
    for purpose, server_ok, client_ok in (("server", True, False), ("client", False, True),
                                          ("both", True, True), ("none", True, True)):
        c = pki.ca.issue(cn="x", purpose=purpose).certificate
        for role, ok in (("server", server_ok), ("client", client_ok)):
            if ok:
                assert c.verify(pki.ca, purpose=role)
            else:
                with pytest.raises(mutls.CertificateVerifyError) as info:
                    c.verify(pki.ca, purpose=role)
                assert info.value.reasons == ["bad-purpose"]


def test_intermediates(pki: PKI) -> None:
    inter = pki.ca.intermediate("issuing CA")
    assert isinstance(inter, mutls.TestCA)
    assert inter.certificate.is_ca and inter.certificate.issuer == pki.ca.certificate.subject
    sub = inter.intermediate("team CA", key_type="p384")
    leaf = sub.issue(cn="deep")
    assert [c.common_name for c in leaf.chain] == ["deep", "team CA", "issuing CA"]
    assert leaf.chain_pem.count("BEGIN CERTIFICATE") == 3
    assert leaf.certificate.verify(pki.ca, intermediates=leaf.chain[1:])
    del inter, sub  # an intermediate does not need its parent object
    assert leaf.certificate.common_name == "deep"


def test_revocation_and_crl(pki: PKI) -> None:
    a = pki.ca.issue(cn="a")
    b = pki.ca.issue(cn="b")
    empty = pki.ca.crl_pem
    pki.ca.revoke(a)
    pki.ca.revoke(b.certificate)
    crl = pki.ca.crl_pem
    assert crl != empty
    for ident in (a, b):
        with pytest.raises(mutls.CertificateVerifyError) as info:
            ident.certificate.verify(pki.ca, crl=crl)
        assert info.value.reasons == ["revoked"]
    assert pki.client_id.certificate.verify(pki.ca, crl=crl)
    with pytest.raises(TypeError):
        pki.ca.revoke("a")
    other = mutls.TestCA()
    with pytest.raises(mutls.Error):
        other.revoke(a)  # not issued by this CA


def test_encrypted_key(pki: PKI) -> None:
    enc = pki.client_id.encrypted_key_pem("s3cret")
    assert enc.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    cfg = mutls.Config(certificate=pki.client_id.chain_pem, private_key=enc, password="s3cret")
    assert cfg.has_identity


def test_write_to(pki: PKI, tmp_path: pathlib.Path) -> None:
    inter = pki.ca.intermediate("issuing CA")
    ident = inter.issue(cn="files", dns=["localhost"])
    target = tmp_path / "new" / "dir"
    paths = ident.write_to(target)  # made when missing
    assert set(paths) == {"cert", "chain", "key"}
    assert paths["cert"] == str(target / "cert.pem")
    assert pathlib.Path(paths["cert"]).read_text() == ident.cert_pem
    assert pathlib.Path(paths["chain"]).read_text() == ident.chain_pem
    assert pathlib.Path(paths["key"]).read_text() == ident.key_pem
    assert stat.S_IMODE(os.stat(paths["key"]).st_mode) == 0o600
    # the files make a Config
    cfg = mutls.Config(certificate=paths["chain"], private_key=pathlib.Path(paths["key"]), trust=pki.ca)
    assert cfg.has_identity
    assert ident.write_to(str(target))["key"] == paths["key"]


def _ssl_pair(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> Dict[str, Any]:
    a, b = socket.socketpair()
    out: Dict[str, Any] = {}

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(b, server_side=True) as s:
                out["server_peer"] = s.getpeercert()
                s.sendall(s.recv(100))
        except BaseException as exc:
            out["error"] = exc

    a.settimeout(10)
    b.settimeout(10)
    t = threading.Thread(target=serve)
    t.start()
    with client_ctx.wrap_socket(a, server_hostname="localhost") as c:
        c.sendall(b"hi")
        out["echo"] = c.recv(100)
        out["client_peer"] = c.getpeercert()
    t.join(10)
    assert "error" not in out, out.get("error")
    return out


def test_configure_ssl_context_drives_python_ssl(pki: PKI) -> None:
    """trustme-style helpers: the same test PKI drives Python's ssl on both ends."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    pki.ca.configure_trust(server_ctx)
    pki.server_id.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    pki.ca.configure_ssl_context(client_ctx)
    pki.client_id.configure_ssl_context(client_ctx)
    out = _ssl_pair(server_ctx, client_ctx)
    assert out["echo"] == b"hi"
    assert dict(x[0] for x in out["server_peer"]["subject"])["commonName"] == "payments"
    assert dict(x[0] for x in out["client_peer"]["subject"])["commonName"] == "orders"


def _ec_private_value(der: bytes) -> bytes:
    """The privateKey OCTET STRING of a PKCS#8 ECDSA key (RFC 5915 inside)."""

    def element(buf: bytes, at: int) -> Tuple[int, int, int]:  # tag, content start, end
        tag, n = buf[at], buf[at + 1]
        at += 2
        if n & 0x80:
            size, n = n & 0x7F, int.from_bytes(buf[at:at + (n & 0x7F)], "big")
            at += size
        return tag, at, at + n

    tag, at, end = element(der, 0)  # PrivateKeyInfo
    assert tag == 0x30 and end == len(der)
    at = element(der, at)[2]  # version
    at = element(der, at)[2]  # privateKeyAlgorithm
    tag, at, _ = element(der, at)  # privateKey OCTET STRING
    assert tag == 0x04
    tag, at, _ = element(der, at)  # ECPrivateKey
    assert tag == 0x30
    assert der[at:at + 3] == b"\x02\x01\x01"  # version 1
    tag, start, end = element(der, at + 3)
    assert tag == 0x04
    return der[start:end]


def _pem_der(pem: str) -> bytes:
    return base64.b64decode("".join(pem.strip().splitlines()[1:-1]))


@pytest.mark.parametrize("key_type,size", [("p256", 32), ("p384", 48)])
def test_ec_private_keys_load_in_strict_readers(key_type: str, size: int) -> None:
    """RFC 5915 wants the private value as an OCTET STRING of the curve's
    size; GnuTLS 3.7 writes it as a minimal integer (33 bytes when the top bit
    is set, fewer when it starts with zeros), which pyca/cryptography refuses.
    TestCA draws each key once and writes the value at the fixed size itself:
    of these 1,000 keys about half would be refused otherwise. Each key must
    load in cryptography, hold its value at the fixed size, match its
    certificate; the encrypted export must hold the same value."""
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    x509 = pytest.importorskip("cryptography.x509")
    ca = mutls.TestCA(key_type=key_type)
    leaves = [ca.issue(dns=["k.test"], key_type=key_type) for _ in range(1000)]
    minimal_differs = []
    for pem, cert_pem in [(ca.key_pem, ca.cert_pem)] + [(i.key_pem, i.cert_pem) for i in leaves]:
        key = serialization.load_pem_private_key(pem.encode(), None)
        value = _ec_private_value(_pem_der(pem))
        assert len(value) == size
        assert int.from_bytes(value, "big") == key.private_numbers().private_value
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        assert cert.public_key().public_numbers() == key.public_key().public_numbers()
        if value[0] == 0 or value[0] >= 0x80:
            minimal_differs.append(pem)
    # the value was not chosen for its size: about half start 0x00 or >= 0x80
    assert len(minimal_differs) > len(leaves) // 4
    # the encrypted export holds the same value (a few keys: PBKDF2 is slow)
    for leaf in [i for i in leaves if i.key_pem in minimal_differs][:2]:
        enc = leaf.encrypted_key_pem("pw")
        key = serialization.load_pem_private_key(enc.encode(), b"pw")
        plain = serialization.load_pem_private_key(leaf.key_pem.encode(), None)
        assert key.private_numbers() == plain.private_numbers()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_ec_private_keys_pass_openssl_check(tmp_path: pathlib.Path) -> None:
    """openssl checks each key (the private value against the public point)."""
    for key_type in ("p256", "p384"):
        ca = mutls.TestCA(key_type=key_type)
        for n, pem in enumerate([ca.key_pem] + [ca.issue(cn="k", key_type=key_type).key_pem
                                                for _ in range(24)]):
            path = tmp_path / f"{key_type}-{n}.pem"
            path.write_text(pem)
            out = subprocess.run(["openssl", "pkey", "-in", str(path), "-check", "-noout"],
                                 capture_output=True, text=True, check=False)
            assert out.returncode == 0 and "Key is valid" in out.stdout, out.stderr

def test_load_an_existing_ca(tmp_path) -> None:
    """A CA written out (certificate + key) and loaded back issues leaves
    that verify against the original; its key is checked against it."""
    import mutls as _m

    root = _m.TestCA("kept CA", key_type="p384")
    (tmp_path / "ca.pem").write_text(root.cert_pem)
    (tmp_path / "ca-key.pem").write_text(root.key_pem)
    again = _m.TestCA.load(tmp_path / "ca.pem", str(tmp_path / "ca-key.pem"))
    assert again.certificate == root.certificate
    leaf = again.issue(cn="later", dns=["later.internal"], purpose="server")
    assert leaf.certificate.verify(root, hostname="later.internal", purpose="server")
    inter = root.intermediate("issuing")
    loaded = _m.TestCA.load(inter.cert_pem + root.cert_pem, inter.key_pem)
    deep = loaded.issue(cn="deep")
    assert [c.subject for c in deep.chain] == ["CN=deep", inter.certificate.subject]
    assert deep.certificate.verify(root, intermediates=deep.chain[1:])
    with pytest.raises(_m.ConfigError, match="is not a CA certificate"):
        _m.TestCA.load(leaf.cert_pem, leaf.key_pem)
    with pytest.raises(_m.ConfigError, match="does not match the CA certificate"):
        _m.TestCA.load(root.cert_pem, inter.key_pem)
    with pytest.raises(_m.ConfigError, match="no password was given"):
        _m.TestCA.load(root.cert_pem, leaf.encrypted_key_pem("pw"))
    with pytest.raises(TypeError):
        _m.TestCA.load(root.cert_pem, 42)
