"""IP and email name constraints where GnuTLS 3.7.9 holds too little:
permitted iPAddress subtrees bind only addresses of their own length (a
CA limited to 10.0.0.0/8 could issue 2001:db8::1), and an email subtree
"@example.com" is a mailbox that matches nothing to GnuTLS (and the host
example.com to OpenSSL). mutls refuses both (csrc/nc_names.c;
docs/design.md, Profiles). The chains are made by the openssl CLI, as a
private PKI makes them."""

from __future__ import annotations

import pathlib
import shutil
from typing import Any

import pytest

import mutls

from conftest import Pair
from openssl_pki import CA_EXT, PKI
from openssl_pki import refused as _refused

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

IPV4_10 = "IP:10.0.0.0/255.0.0.0"
IPV6_DB8 = "IP:2001:db8::/ffff:ffff::"


@pytest.fixture
def pki(tmp_path: pathlib.Path) -> PKI:
    return PKI(tmp_path)


def _server(pki: PKI, ica: mutls.Certificate, leaf: mutls.Certificate, address: str) -> Any:
    return leaf.verify(pki.root, intermediates=[ica], hostname=address, purpose="server")


def test_permitted_ipv4_subtrees_permit_no_ipv6_address(pki: PKI) -> None:
    """RFC 5280 4.2.1.10: iPAddress is one name form; an IPv6 address lies
    in no IPv4 subtree. GnuTLS held it against IPv6 subtrees only (none)."""
    ica = pki.ca("ica", "permitted;" + IPV4_10)
    assert _server(pki, ica, pki.leaf("inside", "ica", "IP:10.1.2.3"), "10.1.2.3")
    for name, address in (("v6", "2001:db8::1"), ("loopback", "::1")):
        err = _refused(pki.leaf(name, "ica", "IP:" + address), pki.root, intermediates=[ica], hostname=address,
                       purpose="server")
        assert err.reasons == ["name-constraints"], err
        assert ("names IP:%s, outside what the name constraints of CA CN=ica permit (permitted: "
                "IP:10.0.0.0/8, no IPv6 address)" % address) in str(err), err
    # subtrees of both families: each address against its own
    both = pki.ca("both", "permitted;%s,permitted;%s" % (IPV4_10, IPV6_DB8))
    assert _server(pki, both, pki.leaf("both4", "both", "IP:10.1.2.3"), "10.1.2.3")
    assert _server(pki, both, pki.leaf("both6", "both", "IP:2001:db8::1"), "2001:db8::1")
    for name, address in (("out4", "192.0.2.1"), ("out6", "2001:db9::1")):
        err = _refused(pki.leaf(name, "both", "IP:" + address), pki.root, intermediates=[both], hostname=address,
                       purpose="server")
        assert err.reasons == ["name-constraints"], (address, err)


def test_permitted_ipv6_subtrees_permit_no_ipv4_address(pki: PKI) -> None:
    ica = pki.ca("ica", "permitted;" + IPV6_DB8)
    assert _server(pki, ica, pki.leaf("inside", "ica", "IP:2001:db8::1"), "2001:db8::1")
    err = _refused(pki.leaf("v4", "ica", "IP:192.0.2.1"), pki.root, intermediates=[ica], hostname="192.0.2.1",
                   purpose="server")
    assert err.reasons == ["name-constraints"], err
    assert ("names IP:192.0.2.1, outside what the name constraints of CA CN=ica permit (permitted: "
            "IP:2001:db8::/32, no IPv4 address)") in str(err), err


def test_an_ipv4_mapped_address_is_held_against_ipv4_subtrees(pki: PKI) -> None:
    """::ffff:a.b.c.d reaches a.b.c.d from a dual-stack socket: it is held
    against IPv4 subtrees, permitted and excluded, as that address."""
    ica = pki.ca("ica", "permitted;" + IPV4_10)
    err = _refused(pki.leaf("mapped_out", "ica", "IP:::ffff:192.0.2.1"), pki.root, intermediates=[ica],
                   hostname="::ffff:192.0.2.1", purpose="server")
    assert err.reasons == ["name-constraints"], err
    assert ("names IP:::ffff:192.0.2.1 (the IPv4 address 192.0.2.1), outside what the name constraints of "
            "CA CN=ica permit (permitted: IP:10.0.0.0/8)") in str(err), err
    assert _server(pki, ica, pki.leaf("mapped_in", "ica", "IP:::ffff:10.1.2.3"), "::ffff:10.1.2.3")
    # GnuTLS held it against IPv6 subtrees only: an excluded IPv4 one let it through
    ex = pki.ca("exca", "excluded;IP:192.0.2.0/255.255.255.0")
    assert _server(pki, ex, pki.leaf("ex_other", "exca", "IP:::ffff:198.51.100.1"), "::ffff:198.51.100.1")
    err = _refused(pki.leaf("ex_mapped", "exca", "IP:::ffff:192.0.2.7"), pki.root, intermediates=[ex],
                   hostname="::ffff:192.0.2.7", purpose="server")
    assert err.reasons == ["name-constraints"], err
    assert ("names IP:::ffff:192.0.2.7 (the IPv4 address 192.0.2.7), which the name constraints of CA "
            "CN=exca exclude (excluded: IP:192.0.2.0/24)") in str(err), err


def test_a_ca_below_is_held_to_the_address_family_too(pki: PKI) -> None:
    """GnuTLS checks the leaf only; mutls checked CAs below with the same
    GnuTLS function, so the same gap."""
    ica = pki.ca("ica", "permitted;" + IPV4_10)
    sub = pki.issue("sub", "ica", "/CN=sub", CA_EXT + "subjectAltName=IP:2001:db8::1\n")
    leaf = pki.leaf("svc", "sub", "IP:10.0.0.1")
    err = _refused(leaf, pki.root, intermediates=[sub, ica], hostname="10.0.0.1", purpose="server")
    assert err.reasons == ["name-constraints"], err
    assert ("has in its chain the CA certificate CN=sub, which names IP:2001:db8::1, outside what the name "
            "constraints of CA CN=ica permit") in str(err), err


def test_handshake_refuses_an_ipv6_server_under_an_ipv4_only_ca(pki: PKI) -> None:
    """A client that trusts the IPv4-only CA, connecting to 2001:db8::1."""
    ica = pki.ca("ica", "permitted;" + IPV4_10)
    pki.leaf("server", "ica", "IP:2001:db8::1")
    chain = (pki.dir / "server.pem").read_text() + ica.pem
    server = mutls.Config(certificate=chain, private_key=(pki.dir / "server.key").read_text(),
                          trust=pki.root.pem, peer_certificate="none")
    client = mutls.Config(trust=pki.root.pem)
    pair = Pair(client.client(server_hostname="2001:db8::1"), server.server()).handshake()
    assert isinstance(pair.client_exc, mutls.Error), pair.client_exc
    assert "name-constraints" in pair.client_exc.reasons, pair.client_exc
    assert "names IP:2001:db8::1, outside what the name constraints of CA CN=ica permit" in str(pair.client_exc)


def test_email_subtrees_take_the_three_forms_of_rfc5280_only(pki: PKI) -> None:
    """RFC 5280 4.2.1.10 gives three forms: a mailbox, a host, .domain.
    "@example.com" is none: GnuTLS read it as a mailbox that never matches,
    so an excluded one excluded nothing (OpenSSL reads it as the host)."""
    for i, (subtree, inside, outside) in enumerate((
            ("ops@example.com", "ops@example.com", "dev@example.com"),
            ("example.com", "ops@example.com", "ops@mail.example.com"),
            (".example.com", "ops@mail.example.com", "ops@example.com"))):
        ica = pki.ca("ica%d" % i, "permitted;email:" + subtree)
        assert pki.leaf("in%d" % i, "ica%d" % i, "email:" + inside).verify(
            pki.root, intermediates=[ica], purpose="client"), subtree
        err = _refused(pki.leaf("out%d" % i, "ica%d" % i, "email:" + outside), pki.root, intermediates=[ica],
                       purpose="client")
        assert err.reasons == ["name-constraints"] and "malformed" not in str(err), (subtree, err)
    for where in ("excluded", "permitted"):
        ica = pki.ca(where, "%s;email:@example.com" % where)
        for email in ("ops@example.com", "ops@EXAMPLE.com"):
            err = _refused(pki.leaf("at", where, "email:" + email), pki.root, intermediates=[ica],
                           purpose="client", peers=["email:@example.com"])
            assert err.reasons == ["name-constraints"], (where, err)
            assert "CA certificate CN=%s with malformed name constraints" % where in str(err), err
            assert "an email subtree is a mailbox, a host or a .domain" in str(err), err


def test_many_addresses_under_many_subtrees_are_not_refused_as_too_costly(pki: PKI) -> None:
    """1000 addresses under 1000 subtrees of their family: GnuTLS compares
    them (milliseconds); mutls adds no comparison of its own, so its work
    bound does not refuse the chain (made with pyca/cryptography)."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.timezone.utc)
    root_key = serialization.load_pem_private_key((pki.dir / "root.key").read_bytes(), None)
    root_name = x509.load_pem_x509_certificate((pki.dir / "root.pem").read_bytes()).subject
    nets = [ipaddress.ip_network("10.%d.%d.0/24" % (i // 256, i % 256)) for i in range(1000)]
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]

    def build(subject: str, issuer: Any, key: Any, signer: Any, ca: bool, ext: Any) -> Any:
        return (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
                .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
                .add_extension(ext, ca).sign(signer, hashes.SHA256()))

    ica = build("CN=ica", root_name, keys[0], root_key, True,
                x509.NameConstraints(permitted_subtrees=[x509.IPAddress(n) for n in nets], excluded_subtrees=None))
    leaf = build("CN=many", ica.subject, keys[1], keys[0], False,
                 x509.SubjectAlternativeName([x509.IPAddress(n.network_address + 1) for n in nets]))
    ica_m, leaf_m = (mutls.Certificate.from_pem(c.public_bytes(serialization.Encoding.PEM).decode())
                     for c in (ica, leaf))
    assert leaf_m.verify(pki.root, intermediates=[ica_m], hostname="10.3.231.1", purpose="server")


def test_a_ca_below_with_a_dns_name_too_long_to_be_one_is_refused(pki: PKI) -> None:
    """A CA below a constrained one, with a DNS subjectAltName of 600 bytes
    (no DNS name is longer than 253): its SANs were read into a 512-byte
    buffer and a longer one was skipped, so it escaped the constraints."""
    pki.ca("ica", "permitted;DNS:corp.example")
    label = "a" * 60
    long_name = ".".join([label] * 9) + ".evil.example"
    sub = pki.issue("sub", "ica", "/CN=sub", CA_EXT + "subjectAltName=DNS:%s\n" % long_name)
    leaf = pki.leaf("svc", "sub", "DNS:api.corp.example")
    err = _refused(leaf, pki.root, intermediates=[sub, mutls.Certificate.load(pki.dir / "ica.pem")],
                   hostname="api.corp.example", purpose="server")
    assert err.reasons == ["name-constraints"], err
    assert ("has in its chain the CA certificate CN=sub, which has a DNS name subjectAltName of %d bytes, "
            "which is not one" % len(long_name)) in str(err), err
