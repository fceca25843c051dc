"""Loading CRLs (`crl=`, mutls_config_add_crl): a source holding a CRL that
cannot be used is refused whole, naming that CRL; mutls uses complete,
direct CRLs only (RFC 5280 5.2 and 5.3: partial, delta and indirect CRLs,
unknown critical extensions and removeFromCRL entries are refused); a CRL's
issuer must be a CA; Certificate.verify(at=) checks a CRL's dates at `at`.
The CRLs are made by `openssl ca -gencrl` (pyca cryptography only for what
openssl cannot write), the certificates by the openssl CLI, or by pyca
cryptography where they must be dated in the past."""

from __future__ import annotations

import datetime
import pathlib
import shutil
import subprocess
from typing import Any, Dict, Iterable, Optional, Tuple

import pytest

import mutls

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
CA_EXT = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
LEAF_EXT = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=clientAuth,serverAuth\nsubjectAltName=DNS:leaf.example\n")
DAY = datetime.timedelta(days=1)


def stamp(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


class Openssl:
    """The openssl CLI in a directory: certificates (name.pem, name.key) and
    CRLs by `openssl ca -gencrl`, each from a fresh database."""

    def __init__(self, where: pathlib.Path) -> None:
        self.dir = where
        self.crls = 0

    def __call__(self, *args: str) -> None:
        r = subprocess.run(("openssl",) + args, cwd=self.dir, capture_output=True, timeout=60)
        assert r.returncode == 0, "openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")[-400:])

    def read(self, name: str) -> str:
        return (self.dir / name).read_text()

    def root(self, name: str, cn: str) -> str:
        self("req", "-x509", *EC, "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=" + cn,
             "-days", "3")
        return self.read(name + ".pem")

    def issue(self, name: str, cn: str, issuer: str, ext: str) -> str:
        (self.dir / (name + ".ext")).write_text(ext)
        self("req", "-new", *EC, "-keyout", name + ".key", "-subj", "/CN=" + cn, "-out", name + ".csr")
        self("x509", "-req", "-in", name + ".csr", "-CA", issuer + ".pem", "-CAkey", issuer + ".key",
             "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")
        return self.read(name + ".pem")

    def add(self, name: str, cert_pem: str, key_pem: str) -> None:
        """A certificate and key made elsewhere (TestCA, pyca), to sign CRLs with."""
        (self.dir / (name + ".pem")).write_text(cert_pem)
        (self.dir / (name + ".key")).write_text(key_pem)

    def crl(self, issuer: str, revoke: Iterable[Tuple[str, Optional[str]]] = (), exts: str = "",
            last: Optional[datetime.datetime] = None, nxt: Optional[datetime.datetime] = None) -> str:
        """issuer's CRL listing the certificates in revoke (their PEM files,
        each with an openssl -crl_reason or None), with the crl_extensions
        lines exts, dated last .. nxt (default: now .. 2 days)."""
        self.crls += 1
        n = self.crls
        (self.dir / ("%d.idx" % n)).write_text("")
        (self.dir / ("%d.num" % n)).write_text("01\n")
        (self.dir / ("%d.cnf" % n)).write_text(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = %d.idx\ncrlnumber = %d.num\ndefault_md = sha256\n"
            "crl_extensions = crlext\n[crlext]\nauthorityKeyIdentifier = keyid:always\n%s\n" % (n, n, exts))
        signer = ("-config", "%d.cnf" % n, "-cert", issuer + ".pem", "-keyfile", issuer + ".key")
        for cert, reason in revoke:
            self("ca", "-batch", *signer, "-revoke", cert, *(("-crl_reason", reason) if reason else ()))
        dates: Tuple[str, ...] = ("-crldays", "2")
        if last or nxt:
            dates = ("-crl_lastupdate", stamp(last or datetime.datetime.now(datetime.timezone.utc)),
                     "-crl_nextupdate", stamp(nxt or datetime.datetime.now(datetime.timezone.utc) + 2 * DAY))
        self("ca", "-batch", *signer, "-gencrl", *dates, "-out", "%d.crl" % n)
        return self.read("%d.crl" % n)


@pytest.fixture
def pki(tmp_path: pathlib.Path) -> Dict[str, Any]:
    """Root -> Inter -> leaf, by the openssl CLI."""
    ossl = Openssl(tmp_path)
    root = ossl.root("root", "Root")
    inter = ossl.issue("inter", "Inter", "root", CA_EXT)
    leaf = ossl.issue("leaf", "leaf", "inter", LEAF_EXT)
    return {"ossl": ossl, "trust": root + inter, "leaf": mutls.Certificate.from_pem(leaf),
            "inter": mutls.Certificate.from_pem(inter)}


def config_error(**kw: Any) -> str:
    with pytest.raises(mutls.ConfigError) as e:
        mutls.Config(**kw)
    return str(e.value)


def refused(pki: Dict[str, Any], cfg: mutls.Config) -> Any:
    with pytest.raises(mutls.CertificateVerifyError) as e:
        pki["leaf"].verify(cfg, intermediates=[pki["inter"]], purpose="client")
    return e.value


def test_a_source_with_an_unusable_crl_is_refused_whole(pki: Dict[str, Any]) -> None:
    """A PEM bundle of the root's CRL and the intermediate's: when the
    intermediate's cannot be used, the whole bundle is refused, naming it and
    its place (it was dropped, and the revoked leaf verified)."""
    ossl, now = pki["ossl"], datetime.datetime.now(datetime.timezone.utc)
    root_crl = ossl.crl("root")
    expired = ossl.crl("inter", revoke=[("leaf.pem", None)], last=now - 20 * DAY, nxt=now - DAY)
    # the intermediate's name with another key: its CRL's signature does not verify
    ossl("req", "-x509", *EC, "-keyout", "fake.key", "-out", "fake.pem", "-subj", "/CN=Inter", "-days", "3")
    forged = ossl.crl("fake", revoke=[("leaf.pem", None)])

    msg = config_error(trust=pki["trust"], crl=root_crl + expired)
    assert msg.startswith("crl: the CRL of CN=Inter (the 2nd of the 2 CRLs in this source) expired at "), msg
    assert msg.endswith("(its next update; load a newer CRL) (none of this source's CRLs was added)"), msg
    (ossl.dir / "bundle.crl").write_text(expired + root_crl)
    msg = config_error(trust=pki["trust"], crl=str(ossl.dir / "bundle.crl"))
    assert "bundle.crl: the CRL of CN=Inter (the 1st of the 2 CRLs in this source) expired at " in msg, msg
    for vt in ({}, {"verify_time": now}):
        msg = config_error(trust=pki["trust"], crl=root_crl + forged, **vt)
        assert ("the CRL of CN=Inter (the 2nd of the 2 CRLs in this source) does not verify with that "
                "CA's key (a bad signature)") in msg, msg
    msg = config_error(trust=pki["trust"], crl=forged + root_crl + forged)
    assert "(the 1st of the 3 CRLs in this source)" in msg and "; and 1 more of them cannot be used" in msg, msg
    # alone, as before
    assert "the CRL of CN=Inter expired at " in config_error(trust=pki["trust"], crl=expired)
    # with a verification clock the dates wait for it: the bundle loads, and
    # the intermediate's CRL, expired at the clock's time, is said so
    cfg = mutls.Config(trust=pki["trust"], crl=root_crl + expired, verify_time=now)
    e = refused(pki, cfg)
    assert "expired" in e.reasons and "the CRL of CN=Inter expired at" in str(e), str(e)
    # two days ago it was current (openssl's certificates were not valid yet)
    assert refused(pki, mutls.Config(trust=pki["trust"], crl=root_crl + expired,
                                     verify_time=now - 2 * DAY)).reasons == ["not-yet-valid", "revoked"]


@pytest.mark.parametrize("exts, why", [
    ("issuingDistributionPoint = critical, @idp\n[idp]\nonlyCA = TRUE\n",
     "it has an issuingDistributionPoint extension (a partial or indirect CRL; mutls uses complete, "
     "direct CRLs only: load the CA's full CRL)"),
    ("issuingDistributionPoint = critical, @idp\n[idp]\nfullname = URI:http://crl.example/inter-1.crl\n",
     "it has an issuingDistributionPoint extension"),
    ("issuingDistributionPoint = critical, @idp\n[idp]\nindirectCRL = TRUE\n",
     "it has an issuingDistributionPoint extension"),
    # openssl ca knows no name for deltaCRLIndicator: its OID, an INTEGER
    ("2.5.29.27 = critical, ASN1:INTEGER:1\n",
     "it is a delta CRL (deltaCRLIndicator; mutls uses complete CRLs only: load the CA's full CRL)"),
    ("1.3.6.1.4.1.55555.1 = critical, ASN1:NULL\n",
     "it has a critical extension mutls does not know (OID 1.3.6.1.4.1.55555.1)"),
])
def test_partial_delta_and_unknown_critical_crls_are_refused(pki: Dict[str, Any], exts: str, why: str) -> None:
    """RFC 5280 5.2: a CRL whose extensions narrow its scope (IDP) or make it
    a delta CRL must not be taken as the CA's complete CRL (the leaf passed as
    "not on the CRL of its issuer"), nor one with a critical extension not
    understood. OpenSSL refuses the IDP and unknown ones too ("different CRL
    scope", "unhandled critical CRL extension")."""
    now = datetime.datetime.now(datetime.timezone.utc)
    crl = pki["ossl"].crl("inter", exts=exts)
    for vt in ({}, {"verify_time": now}):
        msg = config_error(trust=pki["trust"], crl=crl, **vt)
        assert msg.startswith("crl: the CRL of CN=Inter cannot be used: " + why), msg


def test_known_and_non_critical_crl_extensions_are_used(pki: Dict[str, Any]) -> None:
    """authorityKeyIdentifier and cRLNumber (openssl ca writes both), a
    non-critical extension mutls does not know, reasons and invalidity dates
    on entries: the CRL is used."""
    ossl = pki["ossl"]
    crl = ossl.crl("inter", revoke=[("leaf.pem", "keyCompromise")],
                   exts="1.3.6.1.4.1.55555.2 = ASN1:NULL\n")
    assert refused(pki, mutls.Config(trust=pki["trust"], crl=crl)).reasons == ["revoked"]
    crl = ossl.crl("inter", revoke=[("leaf.pem", None)])
    ossl("ca", "-batch", "-config", "%d.cnf" % ossl.crls, "-cert", "inter.pem", "-keyfile", "inter.key",
         "-revoke", "inter.pem", "-crl_compromise", "20240101000000Z")  # invalidityDate
    ossl("ca", "-batch", "-config", "%d.cnf" % ossl.crls, "-cert", "inter.pem", "-keyfile", "inter.key",
         "-gencrl", "-crldays", "2", "-out", "with-dates.crl")
    assert refused(pki, mutls.Config(trust=pki["trust"], crl=ossl.read("with-dates.crl"))).reasons == ["revoked"]


def test_crl_entries_that_change_the_meaning_are_refused(pki: Dict[str, Any]) -> None:
    """An entry with the reason removeFromCRL (meaningful in a delta CRL only:
    the certificate is *not* revoked; it was read as revoked), an indirect
    CRL's certificateIssuer entry (another CA's certificate; it was applied to
    this CA's serial), or any other critical entry extension."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    ossl, serial = pki["ossl"], pki["leaf"].serial
    crl = ossl.crl("inter", revoke=[("leaf.pem", "removeFromCRL")])
    msg = config_error(trust=pki["trust"], crl=crl)
    assert msg == ("crl: the CRL of CN=Inter cannot be used: its entry for serial %s has the reason "
                   "removeFromCRL (meaningful in a delta CRL only; mutls uses complete CRLs only)" % serial), msg

    # openssl ca writes neither: pyca cryptography, signed by the intermediate's key
    key = serialization.load_pem_private_key((ossl.dir / "inter.key").read_bytes(), None)
    inter = x509.load_pem_x509_certificate(ossl.read("inter.pem").encode())
    now = datetime.datetime.now(datetime.timezone.utc)

    def crl_with(ext: Any, critical: bool = True) -> str:
        entry = (x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(now - DAY)
                 .add_extension(ext, critical).build())
        return (x509.CertificateRevocationListBuilder().issuer_name(inter.subject)
                .last_update(now - DAY).next_update(now + DAY).add_extension(x509.CRLNumber(1), False)
                .add_revoked_certificate(entry).sign(key, hashes.SHA256())
                .public_bytes(serialization.Encoding.PEM).decode())

    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other")])
    for critical in (True, False):  # RFC 5280 5.3.3: always critical; refused either way
        msg = config_error(trust=pki["trust"],
                           crl=crl_with(x509.CertificateIssuer([x509.DirectoryName(other)]), critical))
        assert ("its entry for serial %s has a certificateIssuer extension (an indirect CRL, listing another "
                "CA's certificates; mutls uses direct CRLs only)" % serial) in msg, msg
    unknown = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.3"), b"\x05\x00")
    msg = config_error(trust=pki["trust"], crl=crl_with(unknown), verify_time=now)
    assert "its entry for serial %s has a critical extension mutls does not know (OID 1.3.6.1.4.1.55555.3)" \
        % serial in msg, msg


def test_a_crl_of_a_trusted_certificate_that_is_not_a_ca_is_refused(pki: Dict[str, Any]) -> None:
    """A trusted leaf (CA:FALSE, no keyUsage) cannot issue CRLs: refused in
    both modes, naming it (with verify_time it was loaded; without, it was
    said to be "not signed by a trusted CA")."""
    ossl = pki["ossl"]
    pinned = ossl.issue("pinned", "Pinned", "root", "basicConstraints=critical,CA:FALSE\n")
    crl = ossl.crl("pinned")
    now = datetime.datetime.now(datetime.timezone.utc)
    for vt in ({}, {"verify_time": now}):
        msg = config_error(trust=pki["trust"] + pinned, crl=crl, **vt)
        assert msg == ("crl: the CRL of CN=Pinned cannot be used: its issuer CN=Pinned is not a CA (a trusted "
                       "certificate without basicConstraints CA:TRUE cannot sign CRLs)"), msg


def test_verify_at_checks_the_crls_dates_at_that_time(tmp_path: pathlib.Path) -> None:
    """Certificate.verify(crl=..., at=T): the CRL's dates are checked at T
    when it is loaded (they were checked at the system clock: a config
    error for a CRL current at T but not now)."""
    ossl = Openssl(tmp_path)
    ca = mutls.TestCA("dated CRLs")
    ossl.add("ca", ca.cert_pem, ca.key_pem)
    leaf = ca.issue(cn="revoked", dns=["r.internal"], purpose="server", not_after=365 * 86400)
    (tmp_path / "leaf.pem").write_text(leaf.cert_pem)
    now = datetime.datetime.now(datetime.timezone.utc)
    # current from two days ahead to five: not valid yet now
    crl = ossl.crl("ca", revoke=[("leaf.pem", None)], last=now + 2 * DAY, nxt=now + 5 * DAY)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.certificate.verify(ca, crl=crl, purpose="server", at=now + 3 * DAY)
    assert e.value.reasons == ["revoked"], str(e.value)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.certificate.verify(ca, crl=crl, purpose="server", at=lambda: now + 6 * DAY)
    assert "expired" in e.value.reasons and "the CRL of CN=dated CRLs expired at" in str(e.value), str(e.value)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.certificate.verify(ca, crl=crl, purpose="server", at=int((now + DAY).timestamp()))
    assert "not-yet-valid" in e.value.reasons and "is not valid until" in str(e.value), str(e.value)
    # without at=, the system clock, as before
    with pytest.raises(mutls.ConfigError, match="the CRL of CN=dated CRLs is not valid until"):
        leaf.certificate.verify(ca, crl=crl, purpose="server")


def past_chain(now: datetime.datetime, start: datetime.timedelta, end: datetime.timedelta) -> Dict[str, Any]:
    """Root -> Inter -> leaf by pyca cryptography, valid from now+start to
    now+end (openssl 3.0's req and x509 cannot date a certificate back)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out: Dict[str, Any] = {}
    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("Root", "Inter", "leaf")}
    for n, issuer in (("Root", "Root"), ("Inter", "Root"), ("leaf", "Inter")):
        ca = n != "leaf"
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, n)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(keys[n].public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now + start).not_valid_after(now + end)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
             .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(keys[n].public_key()), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(keys[issuer].public_key()), False))
        if not ca:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        out[n] = b.sign(keys[issuer], hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
        out[n + ".key"] = keys[n].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode()
    return out


def test_verify_at_a_past_time_with_the_crl_current_then(tmp_path: pathlib.Path) -> None:
    """The review's case: verifying at five days ago with the CRL that was
    current then (expired since) finds the leaf revoked; a CRL already
    expired at that time is said so."""
    ossl, now = Openssl(tmp_path), datetime.datetime.now(datetime.timezone.utc)
    c = past_chain(now, -30 * DAY, 30 * DAY)
    ossl.add("root", c["Root"], c["Root.key"])
    (tmp_path / "leaf.pem").write_text(c["leaf"])
    ossl.add("inter", c["Inter"], c["Inter.key"])
    leaf, inter, root = (mutls.Certificate.from_pem(c[n]) for n in ("leaf", "Inter", "Root"))
    crls = [ossl.crl("root", last=now - 10 * DAY, nxt=now - 3 * DAY),
            ossl.crl("inter", revoke=[("leaf.pem", None)], last=now - 10 * DAY, nxt=now - 3 * DAY)]
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.verify([root, inter], crl=crls, purpose="client", at=now - 5 * DAY)
    assert e.value.reasons == ["revoked"], str(e.value)
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.verify([root, inter], crl=crls, purpose="client", at=now - 2 * DAY)
    assert "expired" in e.value.reasons and "expired at" in str(e.value), str(e.value)


def test_a_revoked_intermediate_is_named_at_a_past_verification_clock(tmp_path: pathlib.Path) -> None:
    """verify_time in the past and a chain expired by the system clock: the
    revoked intermediate is named with its serial (the leaf was named, with
    the leaf's serial: the search for the revoked certificate checked dates
    at the system clock, where GnuTLS never reaches its CRL step)."""
    ossl, now = Openssl(tmp_path), datetime.datetime.now(datetime.timezone.utc)
    c = past_chain(now, -100 * DAY, -50 * DAY)
    ossl.add("root", c["Root"], c["Root.key"])
    ossl.add("inter", c["Inter"], c["Inter.key"])
    at = now - 70 * DAY
    crls = [ossl.crl("root", revoke=[("inter.pem", None)], last=at - DAY, nxt=at + DAY),
            ossl.crl("inter", last=at - DAY, nxt=at + DAY)]
    inter = mutls.Certificate.from_pem(c["Inter"])
    cfg = mutls.Config(trust=c["Root"] + c["Inter"], crl=crls, verify_time=at)
    s = cfg.check_peer(mutls.load_certificates(c["leaf"] + c["Inter"]))
    assert not s.verified
    assert s.verification.reasons == ["revoked"], s.verification.message
    assert ("has in its chain the CA certificate CN=Inter, which has been revoked (serial %s)" % inter.serial
            in s.verification.message), s.verification.message
