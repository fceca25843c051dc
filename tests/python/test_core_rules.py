"""Rules the core owns once, for both bindings (issue 16, item 1).

Each test pins one piece of logic that the Python and Lua bindings used to
carry each in its own way; tests/lua/core_rules_spec.lua holds the same
cases, expecting the same outcome."""

from __future__ import annotations

from typing import Any

import pytest

import mutls

from conftest import PKI


# ---- 2. name tables: peer_certificate modes and purposes ---------------------

@pytest.mark.parametrize("mode", ["require", "request", "none", "observe"])
def test_peer_mode_names_round_trip(pki: PKI, mode: str) -> None:
    assert pki.server_config(peer_certificate=mode).peer_certificate == mode


def test_unknown_peer_mode_is_a_config_error_worded_by_the_core(pki: PKI) -> None:
    with pytest.raises(mutls.ConfigError) as info:
        pki.server_config(peer_certificate="always")
    assert info.value.code == "config"
    assert str(info.value) == 'peer_certificate: expected "require", "request", "none" or "observe", not "always"'


def test_unknown_purpose_is_a_usage_error_worded_by_the_core(pki: PKI) -> None:
    message = 'purpose: expected "server", "client", "both", "none" or "any", not "sideways"'
    with pytest.raises(mutls.UsageError, match=message):
        pki.ca.issue(cn="x", purpose="sideways")  # type: ignore[arg-type]
    with pytest.raises(mutls.UsageError, match=message):
        pki.server_id.certificate.verify(pki.ca, purpose="sideways")  # type: ignore[arg-type]


def test_purpose_any_verifies_and_issue_only_purposes_are_refused(pki: PKI) -> None:
    assert pki.server_id.certificate.verify(pki.ca, purpose="any") is True
    with pytest.raises(mutls.UsageError, match='purpose must be "server", "client" or "any", not "both"'):
        pki.server_id.certificate.verify(pki.ca, purpose="both")  # type: ignore[arg-type]


# ---- 4. the hook's failure message: the core's alone --------------------------

def _boom(*_: object) -> None:
    raise RuntimeError("boom-4711")


@pytest.mark.parametrize("hook", ["verify_hook", "trace", "verify_time"])
def test_hook_failure_message_comes_from_the_core(pki: PKI, run_pair: Any, hook: str) -> None:
    p = run_pair(pki.client_config(), pki.server_config(**{hook: _boom}))
    exc = p.server_exc
    assert exc is not None and exc.code == "hook", exc
    assert exc.hook_message is not None and "boom-4711" in exc.hook_message
    assert exc.hook_message in str(exc)
    assert isinstance(exc.__cause__, RuntimeError)


def test_hook_message_is_none_for_other_errors(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(peers=["cn:billing"]))
    assert p.server_exc is not None and p.server_exc.code == "verify-failed"
    assert p.server_exc.hook_message is None


def test_check_peer_hook_failure_carries_the_hook_message(pki: PKI) -> None:
    cfg = pki.server_config(verify_hook=_boom)
    s = cfg.check_peer(pki.client_id.chain)
    assert s.error is not None and s.error.code == "hook"
    assert s.error.hook_message is not None and "boom-4711" in s.error.hook_message
    assert s.error.hook_message in str(s.error)


# ---- 6. a peer's ok, the error's certificate, the GnuTLS version ---------------

def test_peer_ok_is_the_cores(pki: PKI, run_pair: Any) -> None:
    seen: list[tuple[bool, int]] = []

    def hook(peer: mutls.Peer) -> bool:
        seen.append((peer.ok, len(peer.chain)))
        return True

    anon = mutls.Config(trust=pki.ca)
    p = run_pair(anon, pki.server_config(peer_certificate="request", verify_hook=hook))
    assert p.ok
    assert seen == [(False, 0)]  # an anonymous peer passed no check
    seen.clear()
    p = run_pair(pki.client_config(), pki.server_config(verify_hook=hook))
    assert p.ok
    assert seen == [(True, 2)] or seen == [(True, 1)]


def test_error_certificate_rule(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(peers=["cn:billing"]))
    assert p.server_exc is not None and p.server_exc.peer_certificate is not None
    assert p.server_exc.peer_certificate.subject == pki.client_id.certificate.subject
    # a usage error of a session that has a peer carries no certificate
    p = run_pair(pki.client_config(), pki.server_config())
    assert p.ok
    p.client.close()
    with pytest.raises(mutls.UsageError) as info:
        p.client.send(b"x")
    assert info.value.peer_certificate is None


def test_gnutls_version_through_mutls() -> None:
    import re
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", mutls.GNUTLS_VERSION)


# ---- 3. pinning a certificate in peers (scenario rows certificate-pin-*) ------

def test_peers_take_a_certificate_in_verify(pki: PKI) -> None:
    cert = pki.client_id.certificate
    assert cert.verify(pki.ca, peers=[cert]) is True
    with pytest.raises(mutls.CertificateVerifyError) as info:
        cert.verify(pki.ca, peers=[pki.server_id.certificate])
    assert info.value.reasons == ["policy"]


# ---- 1. the error that goes with a return code --------------------------------

def test_a_failed_session_reports_its_own_error_after_another_failure(pki: PKI, run_pair: Any) -> None:
    p = run_pair(pki.client_config(), pki.server_config(peers=["cn:billing"]))
    first = p.server_exc
    assert first is not None and first.code == "verify-failed"
    with pytest.raises(mutls.ConfigError):  # the thread's last error is now another one
        pki.server_config(peer_certificate="bogus")
    with pytest.raises(mutls.CertificateVerifyError) as info:
        p.server.send(b"x")
    assert (info.value.code, info.value.reasons, info.value.step) == (first.code, first.reasons, first.step)
    assert str(info.value) == str(first)
    assert info.value.peer_certificate is not None


# ---- 5. the re-entry guard: the core session's --------------------------------

@pytest.mark.parametrize("call", ["handshake", "feed", "close"])
def test_a_hook_driving_its_own_session_is_refused_by_the_core(pki: PKI, run_pair: Any, call: str) -> None:
    def hook(peer: mutls.Peer) -> bool:
        if call == "feed":
            peer.session.feed(b"x")
        else:
            getattr(peer.session, call)()
        return True

    p = run_pair(pki.client_config(), pki.server_config(verify_hook=hook))
    e = p.server_exc
    assert e is not None and e.code == "hook"
    assert isinstance(e.__cause__, mutls.UsageError)
    assert e.hook_message is not None
    assert "the session is already in a call: one of its own hooks used it" in e.hook_message
