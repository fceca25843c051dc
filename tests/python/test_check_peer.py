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
