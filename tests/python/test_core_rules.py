"""Rules the core owns once, for both bindings (issue 16, item 1).

Each test pins one piece of logic that the Python and Lua bindings used to
carry each in its own way; tests/lua/core_rules_spec.lua holds the same
cases, expecting the same outcome."""

from __future__ import annotations

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
