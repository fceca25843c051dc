"""Config.check_peer: a client chain received outside a mutls handshake (as
nginx hands it over) gets every check of a server handshake -- trust, dates,
purpose, CRL, peers policy, verify hook -- with the handshake's sentence.
Mirrors tests/c/test_check_peer.c and tests/lua/nginx_inbound_spec.lua."""

import pytest

import mutls

DENIED = "spiffe://example.org/banned"


def hook(peer):
    if peer.leaf is not None and DENIED in peer.leaf.uris:
        return "SPIFFE ID %s is denied by the operator" % DENIED
    return True


@pytest.fixture(scope="module")
def pki():
    ca = mutls.TestCA("inbound CA")
    p = {
        "ca": ca,
        "good": ca.issue(cn="orders", uri=["spiffe://example.org/orders"], purpose="client"),
        "stranger": mutls.TestCA("stranger CA").issue(cn="stranger", uri=["spiffe://example.org/orders"], purpose="client"),
        "outsider": ca.issue(cn="billing", uri=["spiffe://other.org/billing"], purpose="client"),
        "expired": ca.issue(cn="old", uri=["spiffe://example.org/old"], purpose="client", not_before=-7200, not_after=-3600),
        "revoked": ca.issue(cn="revoked", uri=["spiffe://example.org/revoked"], purpose="client"),
        "banned": ca.issue(cn="banned", uri=[DENIED], purpose="client"),
    }
    ca.revoke(p["revoked"])
    p["cfg"] = mutls.Config(trust=ca, crl=ca.crl_pem, peers=["uri:spiffe://example.org/*"], verify_hook=hook)
    return p


def handshake_verdict(cfg, identity, ca):
    """The server's verdict in a real in-memory handshake with the same config."""
    server_cfg = mutls.Config(identity=ca.issue(dns=["orders.internal"]), trust=ca, crl=ca.crl_pem,
                              peers=["uri:spiffe://example.org/*"], verify_hook=hook)
    client = mutls.Config(identity=identity, trust=ca).client(server_hostname="orders.internal")
    server = server_cfg.server()
    for _ in range(10):
        for s in (client, server):
            try:
                s.handshake()
            except mutls.WantRead:
                pass
            except mutls.Error:
                pass
        server.feed(client.data_to_send())
        client.feed(server.data_to_send())
    return server.verification.message


def test_good_client_passes(pki):
    s = pki["cfg"].check_peer(pki["good"].chain)
    assert s.verified is True
    assert s.error is None
    assert s.verification.message == "client certificate CN=orders passed every check"
    assert s.peer_certificate == pki["good"].certificate
    assert pki["cfg"].check_peer(pki["good"].certificate).verified


@pytest.mark.parametrize("who,code,reasons,fragment", [
    (None, "no-certificate", [], "client presented no certificate, but one is required"),
    ("stranger", "verify-failed", ["unknown-issuer"], "was issued by an unknown CA (issuer CN=stranger CA)"),
    ("outsider", "verify-failed", ["policy"], "is not allowed by the peers policy"),
    ("expired", "verify-failed", ["expired"], "client certificate CN=old expired at"),
    ("revoked", "verify-failed", ["revoked"], "has been revoked (serial "),
    ("banned", "verify-failed", ["hook"], "was rejected by the verify hook: SPIFFE ID " + DENIED),
])
def test_refusals_are_a_handshakes(pki, who, code, reasons, fragment):
    s = pki["cfg"].check_peer(pki[who].chain if who else [])
    assert s.verified is False
    assert s.error.code == code
    assert s.error.reasons == reasons
    assert fragment in str(s.error)
    assert str(s.error) == s.verification.message
    if who in ("stranger", "outsider", "revoked", "banned"):
        assert s.verification.message == handshake_verdict(pki["cfg"], pki[who], pki["ca"])


def test_a_hook_that_raises_is_code_hook(pki):
    def boom(peer):
        raise RuntimeError("hook broke")
    s = mutls.Config(trust=pki["ca"], verify_hook=boom).check_peer(pki["good"].chain)
    assert s.verified is False
    assert s.error.code == "hook"
    assert "hook broke" in str(s.error)


def test_bad_input(pki):
    with pytest.raises(TypeError, match="must be a sequence of Certificate, not str"):
        pki["cfg"].check_peer("-----BEGIN CERTIFICATE-----")
    with pytest.raises(TypeError, match=r"chain\[1\] is not a Certificate"):
        pki["cfg"].check_peer([pki["good"].certificate, 42])


@pytest.mark.parametrize("who", ["good", None])
def test_the_session_has_no_connection(pki, who):
    s = pki["cfg"].check_peer(pki[who].chain if who else [])
    with pytest.raises(mutls.UsageError, match="has no connection"):
        s.handshake()
    with pytest.raises(mutls.Error):
        s.send(b"x")
    with pytest.raises(mutls.Error):
        s.recv()
    s.close()
    assert "check presence" in s.explain()


def test_a_reused_chain_check_holds_the_crls_of_the_path_that_passed():
    """The chain cache (chain_cache.c) re-uses a passed chain check for
    minutes. Here the peer sends [leaf, Int under Root A, Int under Root B]
    (one subject, one key); the first path, through Root A, breaks its name
    constraints, so the path through Root B passes. Root B's CRL then
    expires: the same Config must refuse the chain as a fresh one does
    (the re-use was bounded by the certificates only, and re-checked the
    CRLs of the first path built, Root A's)."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject, key, issuer, issuer_key, ca, *exts):
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - day).not_valid_after(now + 30 * day)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
             .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False))
        for ext in exts:
            b = b.add_extension(ext, isinstance(ext, x509.NameConstraints))
        return b.sign(issuer_key, hashes.SHA256())

    def crl(issuer, key, next_update):
        return (x509.CertificateRevocationListBuilder().issuer_name(name(issuer))
                .last_update(now - day).next_update(next_update).add_extension(x509.CRLNumber(1), False)
                .sign(key, hashes.SHA256()))

    def pem(obj):
        return obj.public_bytes(serialization.Encoding.PEM).decode()

    ka, kb, ki, kl = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root_a, root_b = cert("Root A", ka, "Root A", ka, True), cert("Root B", kb, "Root B", kb, True)
    only_a = x509.NameConstraints(permitted_subtrees=[x509.DNSName("a.example")], excluded_subtrees=None)
    int_a, int_b = cert("Int", ki, "Root A", ka, True, only_a), cert("Int", ki, "Root B", kb, True)
    leaf = cert("leaf", kl, "Int", ki, False, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                x509.SubjectAlternativeName([x509.DNSName("leaf.b.example")]))
    expires = now + datetime.timedelta(hours=1)  # Root B's CRL's nextUpdate
    clock = {"at": expires - datetime.timedelta(seconds=100)}

    def config():
        return mutls.Config(trust=pem(root_a) + pem(root_b),
                            crl=[pem(crl("Root A", ka, now + 10 * day)), pem(crl("Root B", kb, expires))],
                            verify_time=lambda: clock["at"])

    chain = mutls.load_certificates(pem(leaf) + pem(int_a) + pem(int_b))
    cfg = config()
    first = cfg.check_peer(chain)
    assert first.verified, first.verification.message
    # the story names the root of the path that passed, not the last certificate's issuer
    assert [e.detail for e in first.trace if e.name == "chain"] == ["3 certificates up to trusted CN=Root B"]
    clock["at"] = expires + datetime.timedelta(seconds=50)
    for session in (cfg.check_peer(chain), config().check_peer(chain)):
        assert not session.verified
        assert "the CRL of CN=Root B expired at" in session.verification.message, session.verification.message
