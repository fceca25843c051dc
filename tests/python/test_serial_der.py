"""A certificate whose serialNumber INTEGER is not DER (a redundant leading
byte: 02 03 00 12 34 for the number 0x1234) escaped its CA's CRL: GnuTLS
matches serials byte for byte, and the CRL lists 12 34. mutls refuses such
a serial in both profiles (reason nonconforming; csrc/path_checks.c,
docs/design.md, Profiles). A CA that writes such serials is needed; the
certificates here are re-signed by pyca/cryptography keys after their
serial is padded."""

from __future__ import annotations

import base64
import datetime
from typing import Any, Literal, Tuple

import pytest

import mutls

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)


def _header(der: bytes, at: int) -> Tuple[int, int]:
    """The content's start and end of the DER element at der[at]."""
    n = der[at + 1]
    if n < 0x80:
        return at + 2, at + 2 + n
    size = n & 0x7F
    length = int.from_bytes(der[at + 2:at + 2 + size], "big")
    return at + 2 + size, at + 2 + size + length


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def _padded(cert: Any, signer: Any) -> mutls.Certificate:
    """cert with a 00 byte put in front of its serial's content, signed again by signer."""
    der = cert.public_bytes(serialization.Encoding.DER)
    start, _ = _header(der, 0)
    tbs_start, tbs_end = _header(der, start)
    sig_alg_end = _header(der, tbs_end)[1]
    fields = tbs_start
    if der[fields] == 0xA0:  # [0] version
        fields = _header(der, fields)[1]
    assert der[fields] == 0x02
    serial_start, serial_end = _header(der, fields)
    tbs = _tlv(0x30, der[tbs_start:fields] + _tlv(0x02, b"\x00" + der[serial_start:serial_end]) +
               der[serial_end:tbs_end])
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    padded = _tlv(0x30, tbs + der[tbs_end:sig_alg_end] + _tlv(0x03, b"\x00" + signature))
    return mutls.Certificate.from_der(padded)


def _cert(cn: str, key: Any, issuer: Any, issuer_key: Any, ca: bool, serial: int) -> Any:
    name = x509.Name.from_rfc4514_string("CN=" + cn)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=10))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
         .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False))
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
    if not ca:
        b = (b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("leaf.example")]), False))
    return b.sign(issuer_key or key, hashes.SHA256())


def _crl(issuer: Any, key: Any, *serials: int) -> str:
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
         .last_update(NOW - datetime.timedelta(days=1)).next_update(NOW + datetime.timedelta(days=5))
         .add_extension(x509.CRLNumber(1), False))
    for serial in serials:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(NOW - datetime.timedelta(days=1)).build())
    return str(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


def _m(cert: Any) -> mutls.Certificate:
    return mutls.Certificate.from_pem(cert.public_bytes(serialization.Encoding.PEM).decode())


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_a_serial_with_a_redundant_leading_byte_is_refused(profile: Literal["default", "strict"]) -> None:
    root_key, ica_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("serial root", root_key, None, None, True, 1)
    ica = _cert("serial ica", ica_key, root, root_key, True, 0x77)
    leaf = _cert("leaf", leaf_key, root, root_key, False, 0x1234)
    kw = dict(purpose="client", crl=_crl(root, root_key, 0x1234), profile=profile)
    # the CRL matches the DER serial: revoked
    with pytest.raises(mutls.CertificateVerifyError) as e:
        _m(leaf).verify(_m(root), **kw)  # type: ignore[arg-type]
    assert e.value.reasons == ["revoked"], e.value
    # 00 12 34 is the same number; GnuTLS did not find it on the CRL
    padded = _padded(leaf, root_key)
    assert padded.serial == "001234"
    with pytest.raises(mutls.CertificateVerifyError) as e:
        padded.verify(_m(root), **kw)  # type: ignore[arg-type]
    assert e.value.reasons == ["nonconforming"], e.value
    assert ("certificate CN=leaf has a serial number that is not DER (a redundant leading byte), so "
            "revocation lists could not be matched against it") in str(e.value), e.value
    # a CA of the chain too
    with pytest.raises(mutls.CertificateVerifyError) as e:
        _m(_cert("leaf2", leaf_key, ica, ica_key, False, 0x99)).verify(
            _m(root), intermediates=[_padded(ica, root_key)], purpose="client", profile=profile)
    assert e.value.reasons == ["nonconforming"], e.value
    assert ("has in its chain the CA certificate CN=serial ica, which has a serial number that is not "
            "DER") in str(e.value), e.value
    # a trust anchor is taken as configured
    assert _m(leaf).verify(_padded(root, root_key), purpose="client", profile=profile)


def _crl_with_padded_entry(issuer: Any, key: Any, serial: int) -> str:
    """A CRL listing serial with a 00 byte put in front of its content (not
    DER), signed again by key."""
    der = x509.load_pem_x509_crl(_crl(issuer, key, serial).encode()).public_bytes(serialization.Encoding.DER)
    start, _ = _header(der, 0)
    tbs_start, tbs_end = _header(der, start)
    sig_alg_end = _header(der, tbs_end)[1]
    at, fields = tbs_start, []
    while at < tbs_end:
        end = _header(der, at)[1]
        fields.append(der[at:end])
        at = end
    revoked = next(i for i, f in enumerate(fields) if f[0] == 0x30 and f[_header(f, 0)[0]] == 0x30 and i >= 3)
    lst = fields[revoked]
    entry_start, entry_end = _header(lst, _header(lst, 0)[0])
    s_start, s_end = _header(lst, entry_start)
    entry = _tlv(0x02, b"\x00" + lst[s_start:s_end]) + lst[s_end:entry_end]
    fields[revoked] = _tlv(0x30, _tlv(0x30, entry))
    tbs = _tlv(0x30, b"".join(fields))
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    crl = _tlv(0x30, tbs + der[tbs_end:sig_alg_end] + _tlv(0x03, b"\x00" + signature))
    body = base64.encodebytes(crl).decode().replace("\n", "")
    return "-----BEGIN X509 CRL-----\n%s\n-----END X509 CRL-----\n" % "\n".join(
        body[i:i + 64] for i in range(0, len(body), 64))


def test_a_crl_listing_a_serial_that_is_not_der_is_refused_when_loaded() -> None:
    """The other way round: the CRL lists 00 12 34, the certificate's serial
    is 12 34; GnuTLS would never match them, so the leaf passed as not
    revoked. The CRL is refused when it is added."""
    root_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    root = _cert("serial root", root_key, None, None, True, 1)
    leaf = _cert("leaf", leaf_key, root, root_key, False, 0x1234)
    crl = _crl_with_padded_entry(root, root_key, 0x1234)
    with pytest.raises(mutls.ConfigError) as e:
        _m(leaf).verify(_m(root), purpose="client", crl=crl)
    assert "its entry for serial 001234 is not DER (a redundant leading byte)" in str(e.value), e.value
    with pytest.raises(mutls.ConfigError):
        mutls.Config(trust=_m(root), crl=crl)
