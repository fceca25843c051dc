"""URI and directoryName name constraints, which GnuTLS reads but does not
enforce: a CA limited to URIs under corp.example must not be able to issue
spiffe://evil.example/..., nor one limited to O=corp a certificate for
O=evil (csrc/nc_names.c; docs/design.md, Profiles). The chains are made by
the openssl CLI, as a private PKI makes them."""

from __future__ import annotations

import pathlib
import shutil
from typing import Any, List

import pytest

import mutls

from conftest import Pair
from openssl_pki import CA_EXT, LEAF_EXT, PKI
from openssl_pki import refused as _refused

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

@pytest.fixture
def pki(tmp_path: pathlib.Path) -> PKI:
    return PKI(tmp_path)


def test_permitted_uri_subtree_binds_spiffe_ids(pki: PKI) -> None:
    ica = pki.ca("ica", "permitted;URI:corp.example")
    inside = pki.leaf("svc", "ica", "URI:spiffe://corp.example/ns/prod/sa/svc")
    assert inside.verify(pki.root, intermediates=[ica], purpose="client",
                         peers=["uri:spiffe://corp.example/ns/prod/sa/svc"])
    for name, uri in (("evil", "spiffe://evil.example/ns/prod/sa/svc"),
                      ("deeper", "spiffe://a.corp.example/svc"),  # no leading period: that host only
                      ("longer", "spiffe://xcorp.example/svc")):
        leaf = pki.leaf(name, "ica", "URI:" + uri)
        err = _refused(leaf, pki.root, intermediates=[ica], purpose="client", peers=["uri:" + uri])
        assert err.reasons == ["name-constraints"], err
        assert ("names URI:%s, outside what the name constraints of CA CN=ica permit" % uri) in str(err), err


def test_a_leading_period_permits_the_hosts_below_only(pki: PKI) -> None:
    ica = pki.ca("ica", "permitted;URI:.corp.example")
    for uri in ("https://api.corp.example/v1", "https://user@api.corp.example:8443/v1?x=1",
                "spiffe://prod.corp.example/svc", "https://API.Corp.Example./v1"):
        leaf = pki.leaf("ok", "ica", "URI:" + uri)
        assert leaf.verify(pki.root, intermediates=[ica], purpose="client"), uri
    for uri, why in (("https://corp.example/v1", "outside what"),
                     ("https://evil.example/.corp.example", "outside what"),
                     # a backslash (doubled for openssl.cnf): URL parsers read host evil.example
                     ("https://evil.example\\\\@a.corp.example/x", "outside what"),
                     ("https://evil.example%2e.corp.example/", "no host name"),
                     ("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "no host name"),
                     ("https://192.0.2.1/v1", "no host name"),
                     ("https://[2001:db8::1]/v1", "no host name")):
        leaf = pki.leaf("bad", "ica", "URI:" + uri)
        err = _refused(leaf, pki.root, intermediates=[ica], purpose="client")
        assert err.reasons == ["name-constraints"] and why in str(err), (uri, err)


def test_a_ca_below_is_held_to_the_uri_subtrees_too(pki: PKI) -> None:
    """GnuTLS checks the leaf only; RFC 5280 holds every certificate below."""
    ica = pki.ca("ica", "permitted;URI:corp.example")
    sub = pki.issue("sub", "ica", "/CN=sub", CA_EXT + "subjectAltName=URI:spiffe://evil.example\n")
    leaf = pki.leaf("svc", "sub", "URI:spiffe://corp.example/svc")
    err = _refused(leaf, pki.root, intermediates=[sub, ica], purpose="client")
    assert err.reasons == ["name-constraints"], err
    assert "has in its chain the CA certificate CN=sub, which names URI:spiffe://evil.example" in str(err), err


def test_excluded_uri_subtree(pki: PKI) -> None:
    ica = pki.ca("ica", "excluded;URI:evil.example")
    err = _refused(pki.leaf("evil", "ica", "URI:spiffe://evil.example/svc"), pki.root, intermediates=[ica],
                   purpose="client")
    assert err.reasons == ["name-constraints"], err
    assert "which the name constraints of CA CN=ica exclude" in str(err), err
    # a leaf without a URI is not constrained by them
    assert pki.leaf("dns", "ica", "DNS:api.corp.example").verify(
        pki.root, intermediates=[ica], hostname="api.corp.example", purpose="server")
    # GnuTLS refuses any URI under an excluded URI subtree: said as such
    err = _refused(pki.leaf("other", "ica", "URI:spiffe://corp.example/svc"), pki.root, intermediates=[ica],
                   purpose="client")
    assert err.reasons == ["name-constraints"], err
    assert "GnuTLS refuses every certificate with a URI under such a CA" in str(err), err


def test_permitted_directory_name_subtree(pki: PKI) -> None:
    more = "\n[corp]\nO=corp\n"
    ica = pki.ca("ica", "permitted;dirName:corp", subject="/O=corp/CN=ica", more=more)
    san = "DNS:api.corp.example"
    kw = dict(intermediates=[ica], hostname="api.corp.example", purpose="server")
    assert pki.leaf("api", "ica", san, subject="/O=corp/CN=api").verify(pki.root, **kw)
    # RFC 5280 7.1: case and runs of spaces do not count in a DirectoryString
    assert pki.leaf("api2", "ica", san, subject="/O=  CORP /CN=api").verify(pki.root, **kw)
    # an empty subject is not constrained
    assert pki.issue("anon", "ica", "/", LEAF_EXT + "subjectAltName=critical,%s\n" % san).verify(pki.root, **kw)
    for name, subject in (("evil", "/O=evil/CN=api"), ("flat", "/CN=api"), ("inside-out", "/CN=api/O=corp")):
        err = _refused(pki.leaf(name, "ica", san, subject=subject), pki.root, **kw)
        assert err.reasons == ["name-constraints"], (subject, err)
        assert "outside what the name constraints of CA CN=ica permit" in str(err), err
    # a directoryName subjectAltName outside
    leaf = pki.issue("dirsan", "ica", "/O=corp/CN=api", LEAF_EXT + "subjectAltName=%s,dirName:evil\n"
                     "[evil]\nO=evil\n" % san)
    err = _refused(leaf, pki.root, **kw)
    assert err.reasons == ["name-constraints"] and "a directoryName subjectAltName" in str(err), err
    # a CA below with a subject outside (not self-issued)
    sub = pki.issue("sub", "ica", "/O=evil/CN=sub", CA_EXT)
    err = _refused(pki.leaf("under", "sub", san, subject="/O=corp/CN=api"), pki.root,
                   intermediates=[sub, ica], hostname="api.corp.example", purpose="server")
    assert err.reasons == ["name-constraints"], err
    assert "has in its chain the CA certificate" in str(err) and "O=evil" in str(err), err


def _tlv(tag: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


def test_malformed_constraints_are_refused(pki: PKI) -> None:
    """Values openssl cannot write (made with pyca/cryptography): GnuTLS
    reads some of them; mutls refuses each as malformed."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    corp = _tlv(0x30, _tlv(0x82, b"corp.example"))
    evil = _tlv(0x30, _tlv(0x82, b"evil.example"))
    other = _tlv(0x30, _tlv(0xa0, _tlv(0x06, bytes.fromhex("2b0601040183b24301")) + _tlv(0xa0, b"\x0c\x01x")))
    values = {
        "lists out of order": _tlv(0x30, _tlv(0xa1, evil) + _tlv(0xa0, corp)),
        "a list twice": _tlv(0x30, _tlv(0xa0, corp) + _tlv(0xa0, evil)),
        "a list twice, with an otherName": _tlv(0x30, _tlv(0xa0, corp) + _tlv(0xa0, evil) + _tlv(0xa1, other)),
        "a maximum": _tlv(0x30, _tlv(0xa0, _tlv(0x30, _tlv(0x82, b"corp.example") + _tlv(0x81, b"\x01")))),
        "an otherName without its value": _tlv(0x30, _tlv(0xa0, corp) + _tlv(0xa1, _tlv(0x30, _tlv(
            0xa0, _tlv(0x06, bytes.fromhex("2b0601040183b24301")))))),
    }
    now = datetime.datetime.now(datetime.timezone.utc)
    root_key = serialization.load_pem_private_key((pki.dir / "root.key").read_bytes(), None)
    root_name = x509.load_pem_x509_certificate((pki.dir / "root.pem").read_bytes()).subject
    for what, value in values.items():
        key = ec.generate_private_key(ec.SECP256R1())
        ica = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=bad ica"))
               .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
               .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.30"), value), True)
               .sign(root_key, hashes.SHA256()))  # type: ignore[arg-type]
        leaf = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=api"))
                .issuer_name(ica.subject).public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.evil.example")]), False)
                .sign(key, hashes.SHA256()))
        ica_m, leaf_m = (mutls.Certificate.from_pem(c.public_bytes(serialization.Encoding.PEM).decode())
                         for c in (ica, leaf))
        err = _refused(leaf_m, pki.root, intermediates=[ica_m], hostname="api.evil.example", purpose="server")
        assert err.reasons == ["name-constraints"] and "malformed name constraints" in str(err), (what, err)


def _der(tag: int, body: bytes) -> bytes:
    """A DER element, any length (the long form from 128 bytes)."""
    n = len(body)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body


def _chain_with_raw(pki: PKI, constraints: bytes, leaf_san: bytes, leaf_subject: str = "CN=leaf") -> List[mutls.Certificate]:
    """root (openssl) -> an intermediate with the nameConstraints value
    constraints -> a leaf with the subjectAltName value leaf_san, both as
    given (pyca/cryptography writes them)."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.timezone.utc)
    root_key = serialization.load_pem_private_key((pki.dir / "root.key").read_bytes(), None)
    root_name = x509.load_pem_x509_certificate((pki.dir / "root.pem").read_bytes()).subject
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]

    def build(subject: str, issuer: Any, key: Any, signer: Any, ext: Any) -> Any:
        return (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
                .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ext[0] == "2.5.29.30", path_length=None), True)
                .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(ext[0]), ext[1]), ext[0] == "2.5.29.30")
                .sign(signer, hashes.SHA256()))

    ica = build("CN=ica", root_name, keys[0], root_key, ("2.5.29.30", constraints))
    leaf = build(leaf_subject, ica.subject, keys[1], keys[0], ("2.5.29.17", leaf_san))
    return [mutls.Certificate.from_pem(c.public_bytes(serialization.Encoding.PEM).decode()) for c in (ica, leaf)]


def test_odd_encodings_do_not_slip_past_the_subtrees(pki: PKI) -> None:
    """A subjectAltName with a non-minimal long-form length (GnuTLS reads
    it, so the URI reaches `uri:` peer patterns), a subtree RDN that
    repeats an attribute, and names that would cost too much to compare."""
    permitted_uri = _der(0x30, _der(0xa0, _der(0x30, _der(0x86, b".corp.example"))))
    evil = _der(0x86, b"spiffe://evil.example/x")
    for what, san in (("the list", b"\x30\x84" + len(evil).to_bytes(4, "big") + evil),
                      ("the URI", b"\x30" + bytes([len(evil) + 4]) + b"\x86\x84" +
                       (len(evil) - 2).to_bytes(4, "big") + evil[2:])):
        ica, leaf = _chain_with_raw(pki, permitted_uri, san)
        assert leaf.uris == ["spiffe://evil.example/x"], what
        err = _refused(leaf, pki.root, intermediates=[ica], purpose="client", peers=["uri:spiffe://evil.example/x"])
        assert err.reasons == ["name-constraints"] and "outside what" in str(err), (what, err)

    def rdn(*avas: bytes) -> bytes:
        return _der(0x31, b"".join(sorted(avas)))

    def ava(oid: bytes, tag: int, value: bytes) -> bytes:
        return _der(0x30, _der(0x06, oid) + _der(tag, value))

    cn_oid, o_oid = bytes.fromhex("550403"), bytes.fromhex("55040a")
    twice = _der(0x30, rdn(ava(cn_oid, 0x0c, b"x"), ava(cn_oid, 0x0c, b"x")))
    other = _der(0x30, rdn(ava(cn_oid, 0x0c, b"x"), ava(o_oid, 0x0c, b"evil")))
    ica, leaf = _chain_with_raw(pki, _der(0x30, _der(0xa0, _der(0x30, _der(0xa4, twice)))),
                                _der(0x30, _der(0xa4, other)), leaf_subject="")
    err = _refused(leaf, pki.root, intermediates=[ica], purpose="client")
    assert "a directoryName subjectAltName outside what" in str(err), err

    # one RDN of 3,000 CNs as BMP strings against 3,000 as UTF-8 (each
    # comparison "cannot tell"): refused once the work bound is spent
    many = 3000
    bmp = _der(0x30, rdn(*(ava(cn_oid, 0x1e, ("b%d" % i).encode("utf-16-be")) for i in range(many))))
    utf8 = _der(0x30, rdn(*(ava(cn_oid, 0x0c, b"n%d" % i) for i in range(many))))
    ica, leaf = _chain_with_raw(pki, _der(0x30, _der(0xa0, _der(0x30, _der(0xa4, bmp)))), _der(0x30, _der(0xa4, utf8)),
                                leaf_subject="")
    err = _refused(leaf, pki.root, intermediates=[ica], purpose="client")
    assert err.reasons == ["name-constraints"] and "would take more work to compare" in str(err), err


def test_handshake_refuses_a_spiffe_id_outside_the_intermediates_uri_subtree(pki: PKI) -> None:
    """The same check in a handshake: a server that requires client
    certificates and allows the client's SPIFFE ID by pattern still refuses
    it when the intermediate was not allowed to issue it."""
    ica = pki.ca("ica", "permitted;URI:corp.example")
    server_cert = pki.leaf("server", "root", "DNS:api.corp.example")
    uri = "spiffe://evil.example/ns/prod/sa/payments"
    pki.leaf("client", "ica", "URI:" + uri)
    chain = (pki.dir / "client.pem").read_text() + (pki.dir / "ica.pem").read_text()
    server = mutls.Config(certificate=server_cert.pem, private_key=(pki.dir / "server.key").read_text(),
                          trust=pki.root.pem, peer_certificate="require", peers=["uri:" + uri])
    client = mutls.Config(certificate=chain, private_key=(pki.dir / "client.key").read_text(), trust=pki.root.pem)
    pair = Pair(client.client(server_hostname="api.corp.example"), server.server()).handshake()
    assert isinstance(pair.server_exc, mutls.Error), pair.server_exc
    assert "name-constraints" in pair.server_exc.reasons, pair.server_exc
    assert "outside what the name constraints of CA CN=ica permit" in str(pair.server_exc), pair.server_exc
