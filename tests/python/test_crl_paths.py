"""CRLs of the whole path (csrc/crl_checks.c, docs/design.md "Profiles"):

- a trusted intermediate (trusted so that its own CRL can be loaded) that
  its root's CRL revokes is refused whether or not the peer presents it
  (GnuTLS checks no trust anchor against a CRL);
- the root's CRL must then be current too, at the verification clock;
- an older CRL of an issuer, superseded by a newer one, does not fail every
  check once its own nextUpdate passes;
- a certificate that names its issuer in another string encoding than the
  issuer's subject cannot be matched to that issuer's CRL: refused while the
  CRL is loaded, instead of passing as "not on it".

Each of these failed before (review session, 2026-12-04)."""

from __future__ import annotations

import datetime
from typing import Any, List, Sequence, Tuple

import pytest

import mutls

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def _name(cn: str, printable: bool = False) -> Any:
    if printable:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, x509.name._ASN1Type.PrintableString)])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool) -> Any:
    b = (x509.CertificateBuilder().subject_name(_name(subject))
         .issuer_name(issuer if isinstance(issuer, x509.Name) else _name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
         .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False))
    if not ca:
        b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("leaf.example")]), False))
    return b.sign(issuer_key, hashes.SHA256())


def _crl(issuer: str, key: Any, revoked: Sequence[int] = (), this: Any = None, nxt: Any = None,
         number: int = 1) -> Any:
    b = (x509.CertificateRevocationListBuilder().issuer_name(_name(issuer))
         .last_update(this or NOW - DAY).next_update(nxt or NOW + 10 * DAY)
         .add_extension(x509.CRLNumber(number), False))
    for serial in revoked:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(NOW - DAY).build())
    return b.sign(key, hashes.SHA256())


def _pem(obj: Any) -> str:
    return obj.public_bytes(serialization.Encoding.PEM).decode()


def _check(cfg: mutls.Config, chain: Sequence[Any]) -> Any:
    return cfg.check_peer(mutls.load_certificates("".join(_pem(c) for c in chain)))


@pytest.fixture(scope="module")
def pki() -> Tuple[Any, ...]:
    kr, ki, kl = _key(), _key(), _key()
    root = _cert("Root", kr, "Root", kr, True)
    inter = _cert("Inter", ki, "Root", kr, True)
    leaf = _cert("leaf", kl, "Inter", ki, False)
    return root, kr, inter, ki, leaf


def test_a_revoked_trusted_intermediate_is_refused_even_when_not_presented(pki: Tuple[Any, ...]) -> None:
    root, kr, inter, ki, leaf = pki
    crls = [_pem(_crl("Root", kr, revoked=[inter.serial_number])), _pem(_crl("Inter", ki))]
    cfg = mutls.Config(trust=_pem(root) + _pem(inter), crl=crls)
    serial = "%x" % inter.serial_number
    for chain in ([leaf, inter], [leaf]):
        s = _check(cfg, chain)
        assert not s.verified, len(chain)
        assert s.verification.reasons == ["revoked"], s.verification
        assert "CA certificate CN=Inter" in s.verification.message and "has been revoked" in s.verification.message
        assert serial.lstrip("0") in s.verification.message.replace(" ", ""), s.verification.message
    # offline, the same
    leaf_m = mutls.load_certificates(_pem(leaf))[0]
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf_m.verify(mutls.load_certificates(_pem(root) + _pem(inter)), crl=crls, purpose="client")
    assert e.value.reasons == ["revoked"] and "(a trust anchor)" in str(e.value), e.value
    # not revoked: passes both ways
    ok = mutls.Config(trust=_pem(root) + _pem(inter), crl=[_pem(_crl("Root", kr)), _pem(_crl("Inter", ki))])
    assert _check(ok, [leaf]).verified and _check(ok, [leaf, inter]).verified


def test_the_roots_crl_must_be_current_for_a_trusted_intermediate(pki: Tuple[Any, ...]) -> None:
    root, kr, inter, ki, leaf = pki
    at = [int(NOW.timestamp())]
    cfg = mutls.Config(trust=_pem(root) + _pem(inter), verify_time=lambda: at[0],
                       crl=[_pem(_crl("Root", kr, nxt=NOW + datetime.timedelta(hours=1))),
                            _pem(_crl("Inter", ki))])
    assert _check(cfg, [leaf]).verified
    at[0] += 2 * 3600
    for chain in ([leaf, inter], [leaf]):
        s = _check(cfg, chain)
        assert not s.verified and s.verification.reasons == ["expired"], s.verification
        assert "the CRL of CN=Root expired at" in s.verification.message, s.verification.message


def test_a_superseded_crl_past_its_next_update_does_not_fail_the_check(pki: Tuple[Any, ...]) -> None:
    root, kr, inter, ki, leaf = pki
    at = [int(NOW.timestamp())]
    older = _crl("Inter", ki, this=NOW - 2 * DAY, nxt=NOW + datetime.timedelta(hours=1), number=1)
    newer = _crl("Inter", ki, this=NOW - DAY, nxt=NOW + 7 * DAY, number=2)
    for order in ([older, newer], [newer, older]):
        at[0] = int(NOW.timestamp())
        cfg = mutls.Config(trust=_pem(root) + _pem(inter), verify_time=lambda: at[0],
                           crl=[_pem(c) for c in order])
        assert _check(cfg, [leaf, inter]).verified
        at[0] += 2 * 3600  # the older one is past its nextUpdate, the newer one current
        s = _check(cfg, [leaf, inter])
        assert s.verified, s.verification
        at[0] += 8 * 24 * 3600  # both past: refused
        s = _check(cfg, [leaf, inter])
        assert not s.verified and s.verification.reasons == ["expired"], s.verification


def test_an_issuer_name_in_another_encoding_is_refused_while_its_crl_is_loaded(pki: Tuple[Any, ...]) -> None:
    root, kr, inter, ki, _ = pki
    kl = _key()
    odd = _cert("leaf", kl, _name("Inter", printable=True), ki, False)  # Inter's subject is UTF8String
    chain: List[Any] = [odd, inter]
    # without CRLs the chain verifies (GnuTLS compares names, not encodings)
    assert _check(mutls.Config(trust=_pem(root)), chain).verified
    cfg = mutls.Config(trust=_pem(root) + _pem(inter),
                       crl=[_pem(_crl("Inter", ki, revoked=[odd.serial_number])), _pem(_crl("Root", kr))])
    s = _check(cfg, chain)
    assert not s.verified and s.verification.reasons == ["nonconforming"], s.verification
    assert "in another encoding than that CA's own subject" in s.verification.message, s.verification.message


def test_a_trusted_intermediate_naming_its_issuer_in_another_encoding_is_refused() -> None:
    """The root's subject is a PrintableString, the intermediate's issuer
    field the same name as a UTF8String; the root's CRL lists the
    intermediate. The CRL is found by the raw name, so it would never be
    matched to the intermediate (a trust anchor, so GnuTLS does not link it
    to the root either): refused while that CRL is loaded."""
    kr, ki, kl = _key(), _key(), _key()
    root_name = _name("Root", printable=True)
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(kr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(kr.public_key()), False)
            .sign(kr, hashes.SHA256()))
    inter = _cert("Inter", ki, _name("Root"), kr, True)  # issuer CN=Root as a UTF8String
    leaf = _cert("leaf", kl, "Inter", ki, False)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root_name)
           .last_update(NOW - DAY).next_update(NOW + 10 * DAY).add_extension(x509.CRLNumber(1), False)
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(inter.serial_number)
                                    .revocation_date(NOW - DAY).build())
           .sign(kr, hashes.SHA256()))
    cfg = mutls.Config(trust=_pem(root) + _pem(inter), crl=[_pem(crl)])
    for chain in ([leaf], [leaf, inter]):
        s = _check(cfg, chain)
        assert not s.verified and s.verification.reasons == ["nonconforming"], (len(chain), s.verification)
        assert "names its issuer in another encoding than that CA's CRL does" in s.verification.message
    # without that CRL loaded, the intermediate is a trust anchor like any other
    assert _check(mutls.Config(trust=_pem(root) + _pem(inter)), [leaf]).verified
