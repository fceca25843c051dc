"""Strings with an embedded NUL (issue 11, defect 9; mirrors tests/lua/nul_spec.lua).

C reads a string up to its first NUL, so "orders.internal\\0.attacker.example"
would be checked as "orders.internal" and "dns:*.internal\\0..." would widen a
peers pattern. Every string that goes into C is refused (ConfigError naming the
option, or the ValueError of CPython's own conversion), never shortened and
never echoed. Binary values (session data, DER, exporter context) keep their
NULs."""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import pytest

import mutls

from conftest import PKI

EVIL = ".attacker.example"


def refused(fn: Callable[[], Any], option: str | None = None) -> ValueError:
    """fn() must raise a ValueError (ConfigError is one); option: the name it must carry."""
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    assert "NUL" in message or "null" in message, message
    if option is not None:
        assert isinstance(info.value, mutls.ConfigError), repr(info.value)
        assert message.startswith(option + ": "), message
    assert EVIL not in message, "the value was echoed: " + message
    return info.value


def test_server_hostname(pki: PKI, run_pair: Any) -> None:
    ccfg = pki.client_config()
    refused(lambda: ccfg.client(server_hostname="orders.internal\0" + EVIL), "server_hostname")
    refused(lambda: ccfg.client(server_hostname=b"orders.internal\0" + EVIL.encode()), "server_hostname")
    assert run_pair(ccfg, pki.server_config()).ok


def test_peers_patterns_are_not_widened(pki: PKI) -> None:
    refused(lambda: pki.server_config(peers=["uri:spiffe://example.org/*\0/payments"]), "peers")
    refused(lambda: pki.server_config(peers=["uri:spiffe://example.org/payments", "dns:*.internal\0" + EVIL]),
            "peers")
    cert = pki.server_id.certificate
    refused(lambda: cert.verify(pki.ca, peers=["dns:*.internal\0" + EVIL]), "peers")


@pytest.mark.parametrize("option, value", [
    ("priority", "NORMAL\0" + EVIL),
    ("versions", ["1.3\0" + EVIL]),
    ("alpn", ["h2", "http/1.1\0" + EVIL]),
    ("peer_certificate", "none\0" + EVIL),
    ("keylog", "/tmp/keys\0" + EVIL),
])
def test_config_string_options(pki: PKI, option: str, value: Any) -> None:
    refused(lambda: pki.server_config(**{option: value}))


def test_priority_and_peer_certificate_name_the_option(pki: PKI) -> None:
    refused(lambda: pki.server_config(priority="NORMAL\0" + EVIL), "priority")
    # compared as "none", it would turn verification off
    refused(lambda: pki.server_config(peer_certificate="none\0" + EVIL), "peer_certificate")


def test_sources_and_password(pki: PKI) -> None:
    sid = pki.server_id
    err = refused(lambda: mutls.Config(certificate=sid.chain_pem + "\0" + EVIL, private_key=sid.key_pem),
                  "certificate")
    assert "binary DER data? give PEM text or a path" in str(err)
    refused(lambda: mutls.Config(certificate=sid.chain_pem, private_key="/tmp/key.pem\0" + EVIL), "private_key")
    refused(lambda: mutls.Config(trust=pki.ca.cert_pem + "\0" + EVIL), "trust")
    refused(lambda: mutls.Config(trust=[pki.ca, "/etc/ssl/certs\0" + EVIL]), "trust")
    refused(lambda: mutls.Config(trust=pki.ca, crl=pki.ca.crl_pem + "\0" + EVIL), "crl")
    enc = sid.encrypted_key_pem("s3cret")
    refused(lambda: mutls.Config(certificate=sid.chain_pem, private_key=enc, password="s3cret\0" + EVIL),
            "password")
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(certificate=sid.chain_pem, private_key=enc, password=lambda *_: "s3cret\0" + EVIL)
    assert "contains a NUL character" in str(info.value.__cause__)
    assert EVIL not in str(info.value) + str(info.value.__cause__)
    assert mutls.Config(certificate=sid.chain_pem, private_key=enc, password="s3cret").has_identity


def test_verify_hostname(pki: PKI) -> None:
    cert = pki.server_id.certificate
    refused(lambda: cert.verify(pki.ca, hostname="orders.internal\0" + EVIL), "hostname")
    refused(lambda: cert.verify(pki.ca.cert_pem + "\0" + EVIL), "trust")
    assert cert.verify(pki.ca, hostname="orders.internal", purpose="server")


def test_testca_names(pki: PKI) -> None:
    refused(lambda: mutls.TestCA("root\0" + EVIL), "name")
    refused(lambda: pki.ca.intermediate("inter\0" + EVIL), "name")
    refused(lambda: pki.ca.issue(cn="orders\0" + EVIL), "cn")
    refused(lambda: pki.ca.issue(dns=["a.internal", "orders.internal\0" + EVIL]), "dns")
    refused(lambda: pki.ca.issue(uri=["spiffe://example.org/x\0" + EVIL]), "uri")
    refused(lambda: pki.ca.issue(email=["ops@example.org\0" + EVIL]), "email")
    refused(lambda: pki.ca.issue(purpose="server\0" + EVIL), "purpose")  # type: ignore[arg-type]
    refused(lambda: mutls.TestCA(key_type="p256\0" + EVIL), "key_type")
    refused(lambda: pki.server_id.certificate.verify(pki.ca, purpose="server\0" + EVIL), "purpose")


def test_arguments(pki: PKI, tmp_path: pathlib.Path, run_pair: Any) -> None:
    sid = pki.server_id
    refused(lambda: mutls.Certificate.load(str(tmp_path) + "/cert.pem\0" + EVIL))
    refused(lambda: mutls.Certificate.from_pem(sid.cert_pem + "\0" + EVIL), "certificate")
    refused(lambda: mutls.load_certificates(sid.chain_pem + "\0" + EVIL), "certificates")
    refused(lambda: sid.encrypted_key_pem("s3cret\0" + EVIL), "password")
    refused(lambda: sid.write_to(str(tmp_path) + "\0" + EVIL))
    refused(lambda: sid.certificate.fingerprint("sha256\0" + EVIL))
    p = run_pair(pki.client_config(), pki.server_config())
    refused(lambda: p.client.export_keying_material("EXPORTER-test\0" + EVIL, 32))
    # binary values keep their NULs
    assert len(p.client.export_keying_material("EXPORTER-test", 32, b"ctx\0with\0nuls")) == 32
    der = sid.certificate.der
    assert mutls.Certificate.from_der(der).der == der
