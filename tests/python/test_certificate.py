"""Certificate: parsing (PEM, DER, files), every property, fingerprints,
equality, pickling, load_certificates, and offline verify()."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import pathlib
import pickle
from typing import Any

import pytest

import mutls

from conftest import DAY, PKI

HOST = "orders.internal"


def test_properties(pki: PKI) -> None:
    c = pki.server_id.certificate
    assert isinstance(c, mutls.Certificate)
    assert c.subject == "CN=orders"
    assert c.issuer == "CN=mutls test root,O=mutls test PKI"
    assert c.common_name == "orders"
    assert c.label == "CN=orders"
    assert c.dns_names == ["orders.internal", "localhost"]
    assert c.ip_addresses == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert isinstance(c.ip_addresses[1], ipaddress.IPv6Address)
    assert c.uris == [] and c.emails == []
    assert c.is_ca is False and pki.ca.certificate.is_ca is True
    assert c.key_type == "p256"
    assert isinstance(c.serial, str) and int(c.serial, 16) > 0 and c.serial == c.serial.lower()
    assert c.not_before.tzinfo is not None and c.not_before.utcoffset() == datetime.timedelta(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert c.not_before < now < c.not_after
    assert c.pem.startswith("-----BEGIN CERTIFICATE-----") and c.pem == pki.server_id.cert_pem
    assert isinstance(c.der, bytes) and c.der[0] == 0x30
    assert repr(c) == "<mutls.Certificate CN=orders>"
    u = pki.client_id.certificate
    assert u.uris == ["spiffe://example.org/payments"] and u.dns_names == []


def test_no_common_name_and_emails(pki: PKI) -> None:
    c = pki.ca.issue(dns=["a.example"], email=["ops@example.org"]).certificate
    assert c.common_name is None
    assert c.emails == ["ops@example.org"]
    assert c.label  # something to print


def test_fingerprints(pki: PKI) -> None:
    c = pki.client_id.certificate
    assert c.fingerprint() == c.fingerprint("sha256") == hashlib.sha256(c.der).hexdigest()
    assert c.fingerprint("sha1") == hashlib.sha1(c.der).hexdigest()
    assert c.fingerprint(algorithm="sha384") == hashlib.sha384(c.der).hexdigest()
    assert c.fingerprint("sha512") == hashlib.sha512(c.der).hexdigest()
    with pytest.raises(mutls.Error):
        c.fingerprint("md4")


def test_from_pem_der_and_load(pki: PKI, tmp_path: pathlib.Path) -> None:
    c = pki.server_id.certificate
    assert mutls.Certificate.from_pem(c.pem) == c
    assert mutls.Certificate.from_pem(c.pem.encode()) == c
    assert mutls.Certificate.from_der(c.der) == c
    assert mutls.Certificate.from_der(bytearray(c.der)) == c
    (tmp_path / "c.pem").write_text(c.pem)
    (tmp_path / "c.der").write_bytes(c.der)
    assert mutls.Certificate.load(tmp_path / "c.pem") == c
    assert mutls.Certificate.load(str(tmp_path / "c.der")) == c
    # the first certificate of a chain
    inter = pki.ca.intermediate("issuing CA")
    leaf = inter.issue(cn="x")
    assert mutls.Certificate.from_pem(leaf.chain_pem) == leaf.certificate


def test_parse_errors() -> None:
    with pytest.raises(mutls.ConfigError):
        mutls.Certificate.from_pem("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(mutls.ConfigError):
        mutls.Certificate.from_pem("no pem here")
    with pytest.raises(mutls.ConfigError):
        mutls.Certificate.from_der(b"\x30\x03\x02\x01\x01")
    with pytest.raises(mutls.ConfigError, match="/nonexistent/cert.pem"):
        mutls.Certificate.load("/nonexistent/cert.pem")
    with pytest.raises(TypeError):
        mutls.Certificate.from_pem(42)
    with pytest.raises(TypeError):
        mutls.Certificate.from_der("text")
    with pytest.raises(TypeError):
        mutls.Certificate()


def test_equality_hash_and_pickle(pki: PKI) -> None:
    a = pki.server_id.certificate
    b = pki.server_id.chain[0]
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != pki.client_id.certificate
    assert a != "CN=orders"
    assert len({a, b, pki.client_id.certificate}) == 2
    c = pickle.loads(pickle.dumps(a))
    assert c == a and c.subject == "CN=orders"


def test_load_certificates(pki: PKI, tmp_path: pathlib.Path) -> None:
    inter = pki.ca.intermediate("issuing CA")
    leaf = inter.issue(cn="x")
    chain = leaf.chain_pem
    certs = mutls.load_certificates(chain)
    assert [c.common_name for c in certs] == ["x", "issuing CA"]
    assert mutls.load_certificates(chain.encode()) == certs
    path = tmp_path / "chain.pem"
    path.write_text(chain)
    assert mutls.load_certificates(path) == certs
    assert mutls.load_certificates(str(path)) == certs
    der = tmp_path / "leaf.der"
    der.write_bytes(leaf.certificate.der)
    assert mutls.load_certificates(der) == [leaf.certificate]
    with pytest.raises(mutls.ConfigError, match="missing.pem"):
        mutls.load_certificates(tmp_path / "missing.pem")
    with pytest.raises(TypeError):
        mutls.load_certificates(42)  # type: ignore[arg-type]


def test_verify_offline(pki: PKI, tmp_path: pathlib.Path) -> None:
    c = pki.server_id.certificate
    assert c.verify(pki.ca, hostname=HOST, purpose="server") is True
    assert c.verify(pki.ca.cert_pem) is True
    assert c.verify([pki.ca.certificate]) is True
    (tmp_path / "ca.pem").write_text(pki.ca.cert_pem)
    assert c.verify(tmp_path / "ca.pem", hostname="127.0.0.1") is True
    assert c.verify(tmp_path) is True  # a directory of PEM files
    with pytest.raises(mutls.CertificateVerifyError) as info:
        c.verify(pki.ca, hostname=HOST, purpose="client")
    e = info.value
    assert e.code == "verify-failed" and e.reasons == ["bad-purpose"] and e.side == "local"
    assert e.peer_certificate == c
    with pytest.raises(mutls.CertificateVerifyError) as info:
        c.verify(mutls.TestCA(), hostname="billing.internal")
    assert info.value.reasons == ["unknown-issuer", "name-mismatch"]


def test_verify_expired_and_name(pki: PKI) -> None:
    old = pki.ca.issue(cn="old", dns=["old.internal"], not_before=-10 * DAY, not_after=-DAY)
    with pytest.raises(mutls.CertificateVerifyError) as info:
        old.certificate.verify(pki.ca, hostname="new.internal")
    assert info.value.reasons == ["expired", "name-mismatch"]
    assert "certificate CN=old expired at " in str(info.value)


def test_verify_crl_peers_intermediates(pki: PKI) -> None:
    inter = pki.ca.intermediate("issuing CA")
    leaf = inter.issue(cn="svc", uri=["spiffe://example.org/svc"])
    with pytest.raises(mutls.CertificateVerifyError) as info:
        leaf.certificate.verify(pki.ca)
    assert info.value.reasons == ["unknown-issuer"]
    assert leaf.certificate.verify(pki.ca, intermediates=[inter.certificate]) is True
    assert leaf.certificate.verify(pki.ca, intermediates=leaf.chain[1:],
                                   peers=["uri:spiffe://example.org/*"]) is True
    with pytest.raises(mutls.CertificateVerifyError) as info:
        leaf.certificate.verify(pki.ca, intermediates=leaf.chain[1:], peers=["cn:other"])
    assert info.value.reasons == ["policy"]
    c = pki.client_id.certificate
    pki.ca.revoke(c)
    with pytest.raises(mutls.CertificateVerifyError) as info:
        c.verify(pki.ca, crl=pki.ca.crl_pem)
    assert info.value.reasons == ["revoked"]
    with pytest.raises(mutls.CertificateVerifyError):
        c.verify(pki.ca, crl=pki.ca)  # a TestCA as crl: its fresh CRL
    with pytest.raises(TypeError):
        c.verify(pki.ca, intermediates=["not a certificate"])
    with pytest.raises(mutls.UsageError):
        c.verify(pki.ca, purpose="anything")


def test_verify_against_a_config(pki: PKI) -> None:
    cfg = mutls.Config(trust=pki.ca, peers=["cn:orders"])
    assert pki.server_id.certificate.verify(cfg) is True
    with pytest.raises(mutls.CertificateVerifyError) as info:
        pki.client_id.certificate.verify(cfg)
    assert info.value.reasons == ["policy"]
    with pytest.raises(TypeError):
        pki.client_id.certificate.verify(cfg, peers=["cn:x"])


def test_key_usage_and_extended_key_usage(pki: PKI) -> None:
    """The purposes a certificate allows, by name: a wrong-purpose
    certificate is the classic mTLS mistake."""
    ca = mutls.TestCA("usage CA")
    server = ca.issue(cn="srv", purpose="server").certificate
    client = ca.issue(cn="cli", purpose="client").certificate
    both = ca.issue(cn="both").certificate
    anything = ca.issue(cn="any", purpose="none", bad_key_usage=True).certificate
    assert server.extended_key_usage == ["serverAuth"]
    assert client.extended_key_usage == ["clientAuth"]
    assert sorted(both.extended_key_usage) == ["clientAuth", "serverAuth"]
    assert anything.extended_key_usage == []          # no extension: every purpose
    assert server.key_usage[0] == "digitalSignature"
    assert "digitalSignature" not in anything.key_usage and anything.key_usage
    assert ca.certificate.key_usage == ["digitalSignature", "keyCertSign", "cRLSign"]
    assert ca.certificate.extended_key_usage == []


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="openssl is not installed")
def test_usages_of_a_certificate_made_by_openssl(tmp_path: pathlib.Path) -> None:
    """Names for the known purposes, the dotted OID for an unknown one."""
    import subprocess

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-subj", "/CN=odd", "-days", "1",
         "-addext", "keyUsage=critical,keyAgreement,nonRepudiation",
         "-addext", "extendedKeyUsage=clientAuth,codeSigning,emailProtection,1.2.3.4.5"],
        check=True, capture_output=True, timeout=30)
    c = mutls.Certificate.load(tmp_path / "c.pem")
    assert c.key_usage == ["nonRepudiation", "keyAgreement"]
    assert c.extended_key_usage == ["clientAuth", "codeSigning", "emailProtection", "1.2.3.4.5"]


def _leaf_with_raw_san(tmp_path: pathlib.Path, ca: mutls.TestCA, san_der_hex: str) -> mutls.Certificate:
    """A leaf (made by openssl, signed by ca) whose subjectAltName is the
    given DER: openssl's DER: form, so a dNSName may hold any byte."""
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    (tmp_path / "ca.key").write_text(ca.key_pem)
    (tmp_path / "ext.cnf").write_text("subjectAltName=DER:%s\n" % san_der_hex)
    run = lambda *args: subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-subj", "/CN=x", "-out", "req.csr")
    run("openssl", "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2",
        "-extfile", "ext.cnf", "-out", "cert.pem")
    return mutls.Certificate.load(tmp_path / "cert.pem")


def test_dns_wildcard_peers_refuse_a_nul_in_the_label(pki: PKI, tmp_path: pathlib.Path) -> None:
    """Issue 11 #11: dns:*.svc.local matched "x\\0y.svc.local" (one "label"
    holding a NUL). A name that is not a DNS name never matches."""
    clean = _leaf_with_raw_san(tmp_path, pki.ca, "300d820b782e7376632e6c6f63616c")  # x.svc.local
    assert clean.verify(pki.ca, peers=["dns:*.svc.local"]) is True
    for der in ("300f820d7800792e7376632e6c6f63616c",   # x\0y.svc.local
                "300f820d782f792e7376632e6c6f63616c"):  # x/y.svc.local
        leaf = _leaf_with_raw_san(tmp_path, pki.ca, der)
        with pytest.raises(mutls.CertificateVerifyError) as info:
            leaf.verify(pki.ca, peers=["dns:*.svc.local"])
        assert info.value.reasons == ["policy"]


def test_hostname_wildcards_are_whole_left_most_labels_only(pki: PKI, tmp_path: pathlib.Path) -> None:
    """RFC 9525 6.3: a wildcard counts only as the whole left-most label.
    GnuTLS's check took "*a.example.com" for ba.example.com and a.example.com,
    "*-admin.example.com" for db-admin.example.com, and "*.example.com" for
    ".example.com" (review session, 2026-12-04)."""
    def san(*names: str) -> str:
        body = b"".join(bytes([0x82, len(n)]) + n.encode() for n in names)
        return (bytes([0x30, len(body)]) + body).hex()

    for name, host in (("*a.example.com", "ba.example.com"), ("*a.example.com", "a.example.com"),
                       ("*-admin.example.com", "db-admin.example.com"), ("*.example.com", ".example.com"),
                       ("*.example.com", "a.b.example.com"), ("*.example.com", "example.com"),
                       ("*.com", "example.com")):
        leaf = _leaf_with_raw_san(tmp_path, pki.ca, san(name))
        with pytest.raises(mutls.CertificateVerifyError) as info:
            leaf.verify(pki.ca, hostname=host)
        assert info.value.reasons == ["name-mismatch"], (name, host)
    leaf = _leaf_with_raw_san(tmp_path, pki.ca, san("*-admin.example.com", "*.Example.COM", "exact.example.org"))
    for host in ("api.example.com", "db-admin.example.com", "EXACT.example.org"):
        assert leaf.verify(pki.ca, hostname=host) is True, host
    # an internationalized name against its A-label wildcard, as GnuTLS maps it
    idn = _leaf_with_raw_san(tmp_path, pki.ca, san("*.xn--bcher-kva.example"))
    assert idn.verify(pki.ca, hostname="www.b\u00fccher.example") is True


def test_uri_peers_refuse_a_uri_with_a_nul_or_a_control_byte(pki: PKI, tmp_path: pathlib.Path) -> None:
    """A URI SAN with a byte RFC 3986 does not allow (NUL, a control byte,
    a space) never matches a uri: pattern, not even a prefix one."""
    def san(uri: bytes) -> str:
        return (bytes([0x30, len(uri) + 2, 0x86, len(uri)]) + uri).hex()

    clean = _leaf_with_raw_san(tmp_path, pki.ca, san(b"spiffe://example.org/x"))
    assert clean.verify(pki.ca, peers=["uri:spiffe://example.org/*"]) is True
    for uri in (b"spiffe://example.org/x\0y", b"spiffe://example.org/x\ny", b"spiffe://example.org/x y"):
        leaf = _leaf_with_raw_san(tmp_path, pki.ca, san(uri))
        with pytest.raises(mutls.CertificateVerifyError) as info:
            leaf.verify(pki.ca, peers=["uri:spiffe://example.org/*"])
        assert info.value.reasons == ["policy"], uri


def test_uri_prefix_patterns_refuse_dot_segments_and_encoded_dots(pki: PKI, tmp_path: pathlib.Path) -> None:
    """uri:spiffe://example.org/payments/* matched
    spiffe://example.org/payments/../admin, which URL resolvers read as
    /admin (review session, 2026-12-04); SPIFFE IDs allow no such segment."""
    def san(uri: bytes) -> str:
        return (bytes([0x30, len(uri) + 2, 0x86, len(uri)]) + uri).hex()

    pattern = ["uri:spiffe://example.org/payments/*"]
    for ok in (b"spiffe://example.org/payments/x", b"spiffe://example.org/payments/a.b/..c/x."):
        assert _leaf_with_raw_san(tmp_path, pki.ca, san(ok)).verify(pki.ca, peers=pattern) is True, ok
    for bad in (b"spiffe://example.org/payments/../admin", b"spiffe://example.org/payments/./x",
                b"spiffe://example.org/payments/x/..", b"spiffe://example.org/payments/%2e%2e/admin",
                b"spiffe://example.org/payments/x%2Fy", b"spiffe://example.org/payments/..?x",
                b"spiffe://example.org/payments/..#x", b"spiffe://example.org/payments/.?x",
                b"spiffe://example.org/payments/..\\admin", b"spiffe://example.org/payments/x%zz",
                b"spiffe://example.org/payments/x?y"):
        leaf = _leaf_with_raw_san(tmp_path, pki.ca, san(bad))
        with pytest.raises(mutls.CertificateVerifyError) as info:
            leaf.verify(pki.ca, peers=pattern)
        assert info.value.reasons == ["policy"], bad
    # an exact pattern is the user's own string: compared as written
    odd = b"spiffe://example.org/payments/../admin"
    assert _leaf_with_raw_san(tmp_path, pki.ca, san(odd)).verify(pki.ca, peers=["uri:" + odd.decode()]) is True


def test_bad_signature_under_a_known_issuer_is_named(pki: PKI) -> None:
    """Issue 11 #12: a chain that names a trusted issuer but whose signature
    does not verify said "issued by an unknown CA"."""
    der = bytearray(pki.server_id.certificate.der)
    der[-5] ^= 1  # inside the signature value
    bad = mutls.Certificate.from_der(bytes(der))
    with pytest.raises(mutls.CertificateVerifyError) as info:
        bad.verify(pki.ca)
    assert info.value.reasons == ["unknown-issuer"]
    assert "has a signature that does not verify with the key of its issuer (issuer CN=mutls test root)" \
        in str(info.value)


def test_email_peer_patterns(pki: PKI) -> None:
    """email: patterns: one mailbox exactly (the domain in any case), or "@domain" for any
    mailbox at that domain, not at its subdomains; through Certificate.verify(peers=)."""
    cert = pki.ca.issue(cn="ops", email=["ops@Example.org"], purpose="client").certificate
    for ok in (["email:ops@example.org"], ["email:@example.org"], ["dns:x.example", "email:@EXAMPLE.org"]):
        assert cert.verify(pki.ca, purpose="client", peers=ok)
    for refused in (["email:OPS@example.org"], ["email:@sub.example.org"], ["email:dev@example.org"],
                    ["email:ops@example.org.evil"]):
        with pytest.raises(mutls.CertificateVerifyError) as e:
            cert.verify(pki.ca, purpose="client", peers=refused)
        assert e.value.reasons == ["policy"]
        assert "email:ops@Example.org" in str(e.value)


def test_verify_at_a_time_with_profile_and_depth(pki: PKI) -> None:
    """at= (datetime, epoch seconds, timedelta from now or a callable), verify_time= on a
    Config, profile= and max_chain_depth=, all through the one C check."""
    later = pki.ca.issue(cn="later", dns=["later.internal"], purpose="server",
                         not_before=DAY, not_after=3 * DAY).certificate
    with pytest.raises(mutls.CertificateVerifyError) as e:
        later.verify(pki.ca, hostname="later.internal", purpose="server")
    assert e.value.reasons == ["not-yet-valid"]
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    assert later.verify(pki.ca, hostname="later.internal", purpose="server", at=when)
    assert later.verify(pki.ca, purpose="server", at=int(when.timestamp()))
    assert later.verify(pki.ca, purpose="server", at=lambda: when, profile="strict", max_chain_depth=0)
    assert later.verify(mutls.Config(trust=pki.ca, verify_time=when), purpose="server")
    with pytest.raises(mutls.CertificateVerifyError) as e:
        later.verify(pki.ca, purpose="server", at=datetime.timedelta(days=10))
    assert e.value.reasons == ["expired"]
    with pytest.raises(TypeError):
        later.verify(pki.ca, at="tomorrow")
    with pytest.raises(mutls.ConfigError):
        later.verify(pki.ca, profile="lenient")
    with pytest.raises(mutls.ConfigError):
        mutls.Config(profile="lenient")


def test_max_chain_depth_counts_cas_below_the_anchor(pki: PKI) -> None:
    inter = pki.ca.intermediate("mutls depth intermediate")
    leaf = inter.issue(cn="deep", dns=["deep.internal"], purpose="server")
    cert = leaf.certificate
    chain = [inter.certificate]
    assert cert.verify(pki.ca, intermediates=chain, purpose="server", max_chain_depth=1)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert.verify(pki.ca, intermediates=chain, purpose="server", max_chain_depth=0)
    assert e.value.reasons == ["path-length"]
    assert "max_chain_depth allows 0" in str(e.value)
    with pytest.raises(mutls.CertificateVerifyError):
        cert.verify(mutls.Config(trust=pki.ca, max_chain_depth=0), intermediates=chain, purpose="server")


def test_crl_dates_at_the_verification_time(pki: PKI) -> None:
    """A CRL's next update is checked at the verification time: the CRL of the test CA
    is valid for 30 days; at 60 days the leaf cannot be checked for revocation."""
    leaf = pki.ca.issue(cn="crl-dated", dns=["crl.internal"], purpose="server",
                        not_after=365 * DAY).certificate
    crl = pki.ca.crl_pem
    assert leaf.verify(pki.ca, crl=crl, purpose="server", at=datetime.timedelta(days=20))
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.verify(pki.ca, crl=crl, purpose="server", at=datetime.timedelta(days=60))
    assert e.value.reasons == ["expired"]
    assert "could not be checked for revocation: the CRL of CN=mutls test root expired at" in str(e.value)
    cfg = mutls.Config(trust=pki.ca, crl=crl, verify_time=datetime.timedelta(days=60))
    with pytest.raises(mutls.CertificateVerifyError):
        leaf.verify(cfg, purpose="server")


def test_crl_expired_now_is_used_at_an_earlier_clock() -> None:
    """With verify_time set, a CRL is loaded although its next update has passed (GnuTLS
    would drop it), and its dates are checked at the clock's time."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    ca = mutls.TestCA()
    leaf = ca.issue(cn="revoked-later", dns=["r.internal"], purpose="server")
    key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    cacert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    now = datetime.datetime.now(datetime.timezone.utc)
    revoked = x509.RevokedCertificateBuilder().serial_number(int(leaf.certificate.serial, 16)) \
        .revocation_date(now - datetime.timedelta(minutes=40)).build()
    crl = x509.CertificateRevocationListBuilder().issuer_name(cacert.subject) \
        .last_update(now - datetime.timedelta(minutes=50)).next_update(now - datetime.timedelta(minutes=5)) \
        .add_extension(x509.CRLNumber(1), False) \
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(cacert.public_key()), False) \
        .add_revoked_certificate(revoked).sign(key, hashes.SHA256()) \
        .public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(mutls.ConfigError, match="expired at"):
        mutls.Config(trust=ca, crl=crl)
    cfg = mutls.Config(trust=ca, crl=crl, verify_time=now - datetime.timedelta(minutes=10))
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.certificate.verify(cfg, purpose="server")
    assert e.value.reasons == ["revoked"]
    cfg = mutls.Config(trust=ca, crl=crl, verify_time=now)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.certificate.verify(cfg, purpose="server")
    assert e.value.reasons == ["expired", "revoked"]
    assert "the CRL of CN=mutls test CA expired at" in str(e.value)


def test_name_constraints_gnutls_cannot_read_are_named() -> None:
    """A CA whose name constraints hold an otherName subtree of a type GnuTLS
    does not know: GnuTLS cannot read them and refuses the chain. mutls
    verifies past them when nothing below has an otherName
    (test_nc_unreadable.py); when something does, the reason says why
    (not "not a CA")."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]

    def make(cn: str, key: Any, issuer: str, ikey: Any, nc: Any, san: Any) -> mutls.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=nc is not None, path_length=None), True))
        if nc is not None:
            b = b.add_extension(nc, True)
        if san is not None:
            b = b.add_extension(x509.SubjectAlternativeName(san), False)
        return mutls.Certificate.from_pem(b.sign(ikey, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())

    nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")],
                              excluded_subtrees=[x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.55738.666.3"),
                                                                b"\x05\x00")])
    root = make("nc root", keys[0], "nc root", keys[0], nc, None)
    leaf = make("leaf", keys[1], "nc root", keys[0], None, [x509.DNSName("example.com")])
    assert leaf.verify(root, hostname="example.com", purpose="server")
    other = make("other", keys[1], "nc root", keys[0], None, [
        x509.DNSName("example.com"), x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.55738.666.3"), b"\x05\x00")])
    with pytest.raises(mutls.CertificateVerifyError) as e:
        other.verify(root, hostname="example.com", purpose="server")
    assert e.value.reasons == ["name-constraints"]
    assert "CN=nc root, whose name constraints cannot be checked" in str(e.value)
