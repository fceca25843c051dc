"""Name constraints with a subtree GnuTLS cannot read (an otherName of a
type it does not know; it reads Microsoft's UPN): GnuTLS refuses every
chain under such a CA; mutls verifies the chain when nothing below has an
otherName, holding it to the subtrees GnuTLS reads (csrc/nc_unreadable.c,
docs/conformance.md). The certificates are made by the openssl CLI and by
pyca/cryptography."""

from __future__ import annotations

import datetime
import pathlib
import shutil
import subprocess
from typing import Any, List

import pytest

import mutls

from conftest import Pair

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

OTHER = "1.3.6.1.4.1.55555.1"  # a private arc: no library knows it
UPN = "1.3.6.1.4.1.311.20.2.3"  # Microsoft's user principal name, which GnuTLS reads
EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
LEAF_EXT = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\nsubjectAltName=%s\n")


def _openssl(where: pathlib.Path, *args: str) -> None:
    r = subprocess.run(("openssl",) + args, cwd=where, capture_output=True, timeout=60)
    assert r.returncode == 0, "openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")[-400:])


def _issue(where: pathlib.Path, name: str, issuer: str, ext: str) -> mutls.Certificate:
    """name.pem (and name.key), issued by issuer.pem with the extensions ext."""
    (where / ("%s.ext" % name)).write_text(ext)
    _openssl(where, "req", "-new", *EC, "-keyout", "%s.key" % name, "-out", "%s.csr" % name, "-subj", "/CN=%s" % name)
    _openssl(where, "x509", "-req", "-in", "%s.csr" % name, "-CA", "%s.pem" % issuer, "-CAkey", "%s.key" % issuer,
             "-days", "2", "-extfile", "%s.ext" % name, "-out", "%s.pem" % name)
    return mutls.Certificate.load(where / ("%s.pem" % name))


def _refused(cert: mutls.Certificate, trust: Any, **kw: Any) -> mutls.CertificateVerifyError:
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert.verify(trust, **kw)
    return e.value


@pytest.fixture
def upn_pki(tmp_path: pathlib.Path) -> pathlib.Path:
    """openssl: a root, and under it an intermediate that permits
    corp.example and excludes an otherName subtree (critical, as RFC 5280
    asks)."""
    _openssl(tmp_path, "req", "-x509", *EC, "-keyout", "root.key", "-out", "root.pem", "-subj", "/CN=upn root",
             "-days", "3")
    _issue(tmp_path, "ica", "root", "basicConstraints=critical,CA:TRUE,pathlen:0\n"
           "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
           "nameConstraints=critical,permitted;DNS:corp.example,excluded;otherName:%s;UTF8:forbidden\n"
           % OTHER)
    return tmp_path


@needs_openssl
@pytest.mark.parametrize("profile", ["default", "strict"])
def test_a_chain_under_an_intermediate_constraining_an_unknown_other_name(upn_pki: pathlib.Path, profile: str) -> None:
    root = mutls.Certificate.load(upn_pki / "root.pem")
    ica = mutls.Certificate.load(upn_pki / "ica.pem")
    good = _issue(upn_pki, "api", "ica", LEAF_EXT % "DNS:api.corp.example")
    assert good.verify(root, intermediates=[ica], hostname="api.corp.example", purpose="server", profile=profile)
    # the subtrees GnuTLS reads still bind
    outside = _issue(upn_pki, "out", "ica", LEAF_EXT % "DNS:api.other.example")
    err = _refused(outside, root, intermediates=[ica], hostname="api.other.example", purpose="server",
                   profile=profile)
    assert err.reasons == ["name-constraints"] and "names DNS:api.other.example" in str(err), err
    # an otherName below: the subtree that cannot be read cannot be compared
    other = _issue(upn_pki, "user", "ica", LEAF_EXT % ("DNS:api.corp.example,otherName:%s;UTF8:someone" % OTHER))
    err = _refused(other, root, intermediates=[ica], hostname="api.corp.example", purpose="server", profile=profile)
    assert err.reasons == ["name-constraints"] and "cannot be checked" in str(err), err


@needs_openssl
def test_the_split_keeps_the_rules_of_the_whole_path(upn_pki: pathlib.Path) -> None:
    """The path is verified in two parts around the constrained CA; the rules
    that span the split still hold: the constrained CA's pathLen 0 refuses a
    CA below it, and a CA above with name constraints of its own makes mutls
    refuse rather than split (GnuTLS would not hold the leaf to them)."""
    root = mutls.Certificate.load(upn_pki / "root.pem")
    ica = mutls.Certificate.load(upn_pki / "ica.pem")
    sub = _issue(upn_pki, "sub", "ica", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
                 "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    below_sub = _issue(upn_pki, "below-sub", "sub", LEAF_EXT % "DNS:api.corp.example")
    err = _refused(below_sub, root, intermediates=[sub, ica], hostname="api.corp.example", purpose="server")
    assert err.reasons, err

    _openssl(upn_pki, "req", "-x509", *EC, "-keyout", "rootnc.key", "-out", "rootnc.pem",
             "-subj", "/CN=constrained root", "-days", "3",
             "-addext", "nameConstraints=critical,permitted;DNS:corp.example")
    ica_ext = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
               "nameConstraints=critical,excluded;otherName:%s;UTF8:forbidden\n" % OTHER)
    ica2 = _issue(upn_pki, "ica2", "rootnc", ica_ext)
    leaf = _issue(upn_pki, "leaf2", "ica2", LEAF_EXT % "DNS:api.corp.example")
    err = _refused(leaf, mutls.Certificate.load(upn_pki / "rootnc.pem"), intermediates=[ica2],
                   hostname="api.corp.example", purpose="server")
    assert err.reasons == ["name-constraints"] and "cannot be checked" in str(err), err


@needs_openssl
def test_a_upn_subtree_beside_an_unknown_one(upn_pki: pathlib.Path) -> None:
    """GnuTLS reads a UPN subtree (Microsoft's otherName) but not one of an
    unknown type: with both, mutls leaves both out, so a leaf with a UPN is
    refused (the UPN constraint is not dropped silently) and one without is
    verified."""
    _issue(upn_pki, "mixed", "root", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
           "nameConstraints=critical,excluded;otherName:%s;UTF8:@evil.corp.example,"
           "excluded;otherName:%s;UTF8:forbidden\n" % (UPN, OTHER))
    root = mutls.Certificate.load(upn_pki / "root.pem")
    mixed = mutls.Certificate.load(upn_pki / "mixed.pem")
    plain = _issue(upn_pki, "plain", "mixed", LEAF_EXT % "DNS:api.corp.example")
    assert plain.verify(root, intermediates=[mixed], hostname="api.corp.example", purpose="server")
    upn = _issue(upn_pki, "upn", "mixed", LEAF_EXT % ("DNS:api.corp.example,otherName:%s;UTF8:bob@corp.example"
                                                    % UPN))
    err = _refused(upn, root, intermediates=[mixed], hostname="api.corp.example", purpose="server")
    assert err.reasons == ["name-constraints"] and "cannot be checked" in str(err), err


def test_a_trust_anchor_constraining_an_unknown_other_name_with_its_crl() -> None:
    """pyca/cryptography: the anchor itself excludes an otherName subtree and
    publishes a CRL: the part below the anchor gets that CRL (a revoked
    leaf is refused), and a TLS handshake over it succeeds for the other."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    now = datetime.datetime.now(datetime.timezone.utc)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def make(cn: str, key: Any, ca: bool, exts: List[Any]) -> Any:
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name("anchor"))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False))
        for ext, critical in exts:
            b = b.add_extension(ext, critical)
        return b.sign(keys[0], hashes.SHA256())

    other_excluded = x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=[
        x509.OtherName(ObjectIdentifier(OTHER), b"\x0c\x09forbidden")])
    anchor = make("anchor", keys[0], True, [
        (x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                       encipher_only=False, decipher_only=False), True),
        (other_excluded, True)])
    leaf_exts = [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                 (x509.SubjectAlternativeName([x509.DNSName("api.corp.example")]), False)]
    good = make("api", keys[1], False, leaf_exts)
    revoked = make("old api", keys[2], False, leaf_exts)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name("anchor"))
           .last_update(now - datetime.timedelta(minutes=5)).next_update(now + datetime.timedelta(days=1))
           .add_extension(x509.CRLNumber(1), False)
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(revoked.serial_number)
                                    .revocation_date(now - datetime.timedelta(minutes=1)).build())
           .sign(keys[0], hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())

    def pem(c: Any) -> str:
        return str(c.public_bytes(serialization.Encoding.PEM).decode())

    root = mutls.Certificate.from_pem(pem(anchor))
    assert mutls.Certificate.from_pem(pem(good)).verify(root, hostname="api.corp.example", purpose="server",
                                                        crl=crl)
    err = _refused(mutls.Certificate.from_pem(pem(revoked)), root, hostname="api.corp.example", purpose="server",
                   crl=crl)
    assert err.reasons == ["revoked"], err

    key_pem = keys[1].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    server = mutls.Config(certificate=pem(good), private_key=key_pem, trust=pem(anchor), crl=crl,
                          peer_certificate="none")
    client = mutls.Config(trust=pem(anchor), crl=crl, peer_certificate="require")
    pair = Pair(client.client(server_hostname="api.corp.example"), server.server()).handshake()
    assert pair.client.peer_certificate is not None
    assert pair.client.peer_certificate.subject == "CN=api"
