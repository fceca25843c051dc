"""The default profile accepts what real private PKIs issue (docs/design.md,
"Profiles"; issue #15): certificates made by the openssl CLI with its
default x509v3 settings (run here for real), and chains made the way the
Go-based CAs (cfssl, step-ca, HashiCorp Vault, SPIRE) make theirs. The
strict profile refuses what breaks the CA/B Forum's syntax, so each case
also shows which profile holds which rule."""

from __future__ import annotations

import datetime
import pathlib
import shutil
import subprocess
from typing import Any, List

import pytest

import mutls

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


class OpenSSL:
    """The openssl CLI in a directory, with the system's openssl.cnf."""

    def __init__(self, where: pathlib.Path) -> None:
        self.dir = where

    def __call__(self, *args: str) -> None:
        r = subprocess.run(("openssl",) + args, cwd=self.dir, capture_output=True, timeout=60)
        assert r.returncode == 0, "openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")[-400:])

    def cert(self, name: str) -> mutls.Certificate:
        return mutls.Certificate.load(self.dir / name)


EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _refused(cert: mutls.Certificate, trust: Any, **kw: Any) -> List[str]:
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert.verify(trust, **kw)
    return list(e.value.reasons)


@needs_openssl
def test_openssl_req_x509_and_x509_req_defaults(tmp_path: pathlib.Path) -> None:
    """openssl req -x509 (a CA: v3_ca, basicConstraints critical CA:TRUE, key
    identifiers), a leaf from openssl 3's req -x509 -CA (v3_ca again: CA:TRUE,
    no extendedKeyUsage), a version 1 leaf from openssl x509 -req (no
    extension at all), and a self-signed server certificate trusted as it is."""
    ossl = OpenSSL(tmp_path)
    ossl("req", "-x509", *EC, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=openssl root", "-days", "3")
    ossl("req", "-x509", *EC, "-keyout", "svc.key", "-out", "svc.pem", "-subj", "/CN=svc", "-days", "2",
         "-CA", "ca.pem", "-CAkey", "ca.key", "-addext", "subjectAltName=DNS:svc.internal")
    ossl("req", "-new", *EC, "-keyout", "v1.key", "-out", "v1.csr", "-subj", "/CN=v1")
    ossl("x509", "-req", "-in", "v1.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2", "-out", "v1.pem")
    ossl("req", "-x509", *EC, "-keyout", "self.key", "-out", "self.pem", "-subj", "/CN=self", "-days", "2",
         "-addext", "subjectAltName=DNS:self.internal")
    ca, svc, v1, self_signed = (ossl.cert(n) for n in ("ca.pem", "svc.pem", "v1.pem", "self.pem"))
    assert ca.is_ca and svc.is_ca and svc.extended_key_usage == []  # what openssl made
    for purpose in ("server", "client"):
        assert svc.verify(ca, hostname="svc.internal", purpose=purpose)
        assert v1.verify(ca, purpose=purpose)
        assert self_signed.verify(self_signed, hostname="self.internal", purpose=purpose)
    # strict holds the CA/B Forum's leaf rules: not CA:TRUE, an EKU, version 3
    assert _refused(svc, ca, hostname="svc.internal", purpose="server", profile="strict") == ["nonconforming"]
    assert _refused(v1, ca, purpose="server", profile="strict") == ["nonconforming"]
    # the default still refuses the wrong name and an untrusted issuer
    assert _refused(svc, ca, hostname="other.internal", purpose="server") == ["name-mismatch"]
    assert _refused(svc, self_signed, hostname="svc.internal", purpose="server") == ["unknown-issuer"]


@needs_openssl
def test_openssl_ca_defaults_with_and_without_a_crl_number(tmp_path: pathlib.Path) -> None:
    """openssl ca with the system openssl.cnf (usr_cert: CA:FALSE, key
    identifiers, no EKU), a revocation and openssl ca -gencrl: with the
    crlnumber file (a CRL number) and without it (a version 1 CRL, which
    the default uses and strict refuses)."""
    ossl = OpenSSL(tmp_path)
    demo = tmp_path / "demoCA"
    (demo / "newcerts").mkdir(parents=True)
    (demo / "private").mkdir()
    (demo / "index.txt").write_text("")
    (demo / "crlnumber").write_text("1000\n")
    ossl("req", "-x509", *EC, "-keyout", "demoCA/private/cakey.pem", "-out", "demoCA/cacert.pem",
         "-subj", "/CN=openssl ca root", "-days", "3")
    ca = ossl.cert("demoCA/cacert.pem")
    leaves = {}
    for name in ("good", "bad"):  # usr_cert as it is: no subjectAltName, so no host name below
        ossl("req", "-new", *EC, "-keyout", "%s.key" % name, "-out", "%s.csr" % name,
             "-subj", "/CN=%s" % name)
        ossl("ca", "-batch", "-rand_serial", "-policy", "policy_anything", "-days", "2",
             "-in", "%s.csr" % name, "-out", "%s.pem" % name)
        leaves[name] = ossl.cert("%s.pem" % name)
    ossl("ca", "-batch", "-revoke", "bad.pem")
    ossl("ca", "-batch", "-gencrl", "-crldays", "2", "-out", "numbered.crl")
    # the system openssl.cnf with its crlnumber line commented out, as its comment says for a V1 CRL
    system_cnf = subprocess.run(["openssl", "version", "-d"], capture_output=True, text=True, timeout=30)
    cnf = pathlib.Path(system_cnf.stdout.split('"')[1]) / "openssl.cnf"
    lines = [("#" + ln if ln.split("=")[0].strip() == "crlnumber" else ln) for ln in cnf.read_text().splitlines()]
    (tmp_path / "v1crl.cnf").write_text("\n".join(lines) + "\n")
    ossl("ca", "-batch", "-config", "v1crl.cnf", "-gencrl", "-crldays", "2", "-out", "v1.crl")
    for crl in ("numbered.crl", "v1.crl"):
        shown = subprocess.run(["openssl", "crl", "-noout", "-text", "-in", str(tmp_path / crl)],
                               capture_output=True, text=True, timeout=30).stdout
        assert ("CRL Number" in shown) == (crl == "numbered.crl")
        text = (tmp_path / crl).read_text()
        assert leaves["good"].verify(ca, purpose="server", crl=text)
        assert _refused(leaves["bad"], ca, purpose="client", crl=text) == ["revoked"]
    # strict: openssl ca's leaf has no extendedKeyUsage, and the version 1 CRL no number
    assert _refused(leaves["good"], ca, purpose="server", crl=(tmp_path / "v1.crl").read_text(),
                    profile="strict") == ["nonconforming"]


def test_go_style_chains_as_cfssl_step_vault_and_spire_make_them() -> None:
    """Chains with the fields Go's crypto/x509 writes for these CAs' default
    templates: a root (basicConstraints critical, keyCertSign + cRLSign, no
    EKU), an intermediate with pathLen 0 and non-critical name constraints
    (Go marks them critical only when asked; Vault's permitted_dns_domains),
    a server leaf (digitalSignature + keyEncipherment, serverAuth +
    clientAuth, CA:FALSE) and a SPIFFE X.509-SVID (URI SAN only, no common
    name, O=SPIRE)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(**attrs: str) -> Any:
        oid = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "C": NameOID.COUNTRY_NAME}
        return x509.Name([x509.NameAttribute(oid[k], v) for k, v in attrs.items()])

    def make(subject: Any, key: Any, issuer: Any, issuer_key: Any, ca: bool, pathlen: Any = None,
             exts: Any = ()) -> Any:
        ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=not ca,
                           data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                           encipher_only=False, decipher_only=False)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(ku, True)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False))
        if issuer_key is not key:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
        for e in exts:
            b = b.add_extension(e, False)
        return b.sign(issuer_key, hashes.SHA256())

    def cert(c: Any) -> mutls.Certificate:
        return mutls.Certificate.from_pem(c.public_bytes(serialization.Encoding.PEM).decode())

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(4)]
    root = make(name(CN="go root"), keys[0], name(CN="go root"), keys[0], True)
    inter = make(name(CN="go intermediate"), keys[1], root.subject, keys[0], True, 0,
                 [x509.NameConstraints(permitted_subtrees=[x509.DNSName("internal"),
                                                           x509.UniformResourceIdentifier("example.org")],
                                       excluded_subtrees=None)])
    both = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    server = make(name(CN="api.internal"), keys[2], inter.subject, keys[1], False,
                  exts=[both, x509.SubjectAlternativeName([x509.DNSName("api.internal")])])
    svid = make(name(O="SPIRE", C="US"), keys[3], inter.subject, keys[1], False,
                exts=[both, x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
                    "spiffe://example.org/ns/prod/sa/payments")])])
    r, i, s, v = cert(root), cert(inter), cert(server), cert(svid)
    for purpose in ("server", "client"):
        assert s.verify(r, intermediates=[i], hostname="api.internal", purpose=purpose)
        assert v.verify(r, intermediates=[i], purpose=purpose, peers=["uri:spiffe://example.org/ns/prod/sa/payments"])
    # strict too: the CA/B Forum's TLS profile lets nameConstraints be non-critical
    assert s.verify(r, intermediates=[i], hostname="api.internal", purpose="server", profile="strict")
    # the constraints still bind: a name outside them is refused in the default
    outside = make(name(CN="evil"), keys[2], inter.subject, keys[1], False,
                   exts=[both, x509.SubjectAlternativeName([x509.DNSName("evil.example.com")])])
    assert _refused(cert(outside), r, intermediates=[i], hostname="evil.example.com",
                    purpose="server") == ["name-constraints"]


def test_default_refuses_what_no_private_pki_tool_makes() -> None:
    """The default profile's own rules (design.md, Profiles): a leaf with
    anyExtendedKeyUsage, a self-signed root with an EKU (an intermediate
    configured as the trust anchor may have one), a CRL number marked
    critical."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])

    def make(cn: str, key: Any, issuer: str, ikey: Any, ca: bool, *exts: Any) -> Any:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
        for e in exts:
            b = b.add_extension(e, False)
        return b.sign(ikey, hashes.SHA256())

    def cert(c: Any) -> mutls.Certificate:
        return mutls.Certificate.from_pem(c.public_bytes(serialization.Encoding.PEM).decode())

    root = make("root", keys[0], "root", keys[0], True)
    san = x509.SubjectAlternativeName([x509.DNSName("svc.internal")])
    anyeku = make("svc", keys[2], "root", keys[0], False, san,
                  x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]))
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert(anyeku).verify(cert(root), hostname="svc.internal", purpose="server")
    assert e.value.reasons == ["bad-purpose"] and "anyExtendedKeyUsage" in str(e.value)

    root_eku = make("root", keys[0], "root", keys[0], True, server_auth)
    leaf = make("svc", keys[2], "root", keys[0], False, san, server_auth)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert(leaf).verify(cert(root_eku), hostname="svc.internal", purpose="server")
    assert e.value.reasons == ["bad-purpose"] and "is a root with an extended key usage" in str(e.value)
    # an intermediate with an EKU, configured as the trust anchor: accepted
    inter = make("inter", keys[1], "root", keys[0], True, server_auth)
    below = make("svc", keys[2], "inter", keys[1], False, san, server_auth)
    assert cert(below).verify(cert(inter), hostname="svc.internal", purpose="server")
    assert cert(leaf).verify(cert(root), hostname="svc.internal", purpose="server")

    def crl(critical: bool) -> str:
        return (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
                .last_update(now - datetime.timedelta(minutes=5)).next_update(now + datetime.timedelta(days=1))
                .add_extension(x509.CRLNumber(7), critical).sign(keys[0], hashes.SHA256())
                .public_bytes(serialization.Encoding.PEM).decode())
    assert cert(leaf).verify(cert(root), hostname="svc.internal", purpose="server", crl=crl(False))
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert(leaf).verify(cert(root), hostname="svc.internal", purpose="server", crl=crl(True))
    assert e.value.reasons == ["nonconforming"] and "CRL number marked critical" in str(e.value)
