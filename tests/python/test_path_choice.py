"""mutls's own checks (csrc/path_checks.c) count on a path only when GnuTLS
verifies that path too (csrc/verify.c, docs/design.md "Profiles").

A peer holding a name-constrained CA can present, after it, a copy of it:
the same subject and key, the trusted root named as issuer, no constraints,
and a signature nobody can make (a throw-away key). GnuTLS follows the real
CA and passes the chain (it enforces neither URI subtrees nor wildcards
against excluded ones); mutls's own checks refuse that path, and must not
then take the copy's path, whose signatures nobody checked. A second path
that really verifies (the same CA cross-signed by another trusted root,
without the constraint) is still taken."""

from __future__ import annotations

import datetime
from typing import Any, List, Optional, Sequence, Tuple

import pytest

import mutls

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)
KU_CA = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                      encipher_only=False, decipher_only=False)
KU_LEAF = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                        encipher_only=False, decipher_only=False)


def _name(cn: str) -> Any:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str, key: Any, issuer: Optional[Tuple[Any, Any]] = None, constraints: Any = None,
        signer: Any = None) -> Any:
    """A CA certificate for key; issuer (cert, key) or self-signed; signer
    overrides the key that signs (a forged signature)."""
    issuer_name = issuer[0].subject if issuer else _name(cn)
    issuer_key = issuer[1] if issuer else key
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(KU_CA, critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False))
    if constraints is not None:
        b = b.add_extension(constraints, critical=True)
    return b.sign(signer or issuer_key, hashes.SHA256())


def _leaf(issuer: Tuple[Any, Any], sans: Sequence[Any]) -> Any:
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(_name("leaf")).issuer_name(issuer[0].subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(KU_LEAF, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
            .sign(issuer[1], hashes.SHA256()))


def _m(*certs: Any) -> List[mutls.Certificate]:
    return [mutls.Certificate.from_pem(c.public_bytes(serialization.Encoding.PEM).decode()) for c in certs]


def _refused(leaf: mutls.Certificate, trust: Any, **kw: Any) -> mutls.CertificateVerifyError:
    with pytest.raises(mutls.CertificateVerifyError) as e:
        leaf.verify(trust, **kw)
    return e.value


@pytest.fixture(scope="module")
def root() -> Tuple[Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _ca("Root A", key), key


def _copy_of(ca: Any, ca_key: Any, root: Tuple[Any, Any]) -> Any:
    """ca's subject and key, the root named as issuer, no constraints, a forged signature."""
    return _ca(ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, ca_key, issuer=root,
               signer=ec.generate_private_key(ec.SECP256R1()))


def test_a_forged_copy_of_a_constrained_ca_does_not_lift_its_uri_constraint(root: Tuple[Any, Any]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    tenant = _ca("Tenant CA", key, issuer=root, constraints=x509.NameConstraints(
        permitted_subtrees=[x509.UniformResourceIdentifier("corp.example")], excluded_subtrees=None))
    leaf, tenant_m, copy_m, trust = _m(_leaf((tenant, key), [x509.UniformResourceIdentifier(
        "spiffe://evil.example/payments")]), tenant, _copy_of(tenant, key, root), root[0])
    peers = ["uri:spiffe://evil.example/payments"]
    for given in ([tenant_m], [tenant_m, copy_m]):
        err = _refused(leaf, trust, intermediates=given, purpose="client", peers=peers)
        assert err.reasons == ["name-constraints"], (len(given), err)
        assert "outside what the name constraints of CA CN=Tenant CA permit" in str(err), err


def test_a_forged_copy_does_not_lift_an_excluded_subtree_under_a_wildcard(root: Tuple[Any, Any]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    tenant = _ca("Tenant CA 2", key, issuer=root, constraints=x509.NameConstraints(
        permitted_subtrees=None, excluded_subtrees=[x509.DNSName("bar.example.com")]))
    leaf, tenant_m, copy_m, trust = _m(_leaf((tenant, key), [x509.DNSName("*.example.com")]), tenant,
                                       _copy_of(tenant, key, root), root[0])
    err = _refused(leaf, trust, intermediates=[tenant_m, copy_m], purpose="server", hostname="bar.example.com")
    assert err.reasons == ["name-constraints"] and "a wildcard that covers DNS:bar.example.com" in str(err), err


def test_a_forged_copy_does_not_shorten_the_chain_under_max_chain_depth(root: Tuple[Any, Any]) -> None:
    k0, k1 = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    i0 = _ca("I0", k0, issuer=root)
    i1 = _ca("I1", k1, issuer=(i0, k0))
    leaf, i1_m, i0_m, copy_m, trust = _m(_leaf((i1, k1), [x509.DNSName("a.example")]), i1, i0,
                                         _copy_of(i1, k1, root), root[0])
    err = _refused(leaf, trust, intermediates=[i1_m, i0_m, copy_m], purpose="server", hostname="a.example",
                   max_chain_depth=1)
    assert err.reasons == ["path-length"], err


def test_a_real_second_path_is_still_taken(root: Tuple[Any, Any]) -> None:
    """The same CA (subject and key) under Root A with the URI constraint and
    cross-signed by Root B without it: both roots trusted, the constrained
    one presented first; the second path verifies, so it passes."""
    key_b = ec.generate_private_key(ec.SECP256R1())
    root_b = _ca("Root B", key_b), key_b
    key = ec.generate_private_key(ec.SECP256R1())
    under_a = _ca("Shared CA", key, issuer=root, constraints=x509.NameConstraints(
        permitted_subtrees=[x509.UniformResourceIdentifier("corp.example")], excluded_subtrees=None))
    under_b = _ca("Shared CA", key, issuer=root_b)
    leaf, a_m, b_m = _m(_leaf((under_a, key), [x509.UniformResourceIdentifier("spiffe://evil.example/x")]),
                        under_a, under_b)
    trust = _m(root[0], root_b[0])
    assert leaf.verify(trust, intermediates=[a_m, b_m], purpose="client", peers=["uri:spiffe://evil.example/x"])
    # Root B not trusted: only the constrained path remains
    err = _refused(leaf, _m(root[0]), intermediates=[a_m, b_m], purpose="client")
    assert err.reasons == ["name-constraints"], err
