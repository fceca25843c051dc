"""Config: every option in every accepted form (PEM str/bytes, paths as str,
bytes or os.PathLike, directories, "system", Certificate, TestCA, lists),
read-back properties, immutability. Bad values are in test_errors.py."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

import mutls

from conftest import PKI, Pair

HOST = "orders.internal"


def handshake_ok(ccfg: mutls.Config, scfg: mutls.Config, hostname: str = HOST) -> Pair:
    p = Pair(ccfg.client(server_hostname=hostname), scfg.server()).run()
    assert p.ok, (p.client_exc, p.server_exc)
    return p


def test_identity_and_trust_as_pem_text(pki: PKI) -> None:
    sid, cid = pki.server_id, pki.client_id
    scfg = mutls.Config(certificate=sid.chain_pem, private_key=sid.key_pem, trust=pki.ca.cert_pem)
    ccfg = mutls.Config(certificate=cid.cert_pem.encode(), private_key=cid.key_pem.encode(),
                        trust=pki.ca.cert_pem.encode())
    assert scfg.has_identity and ccfg.has_identity
    handshake_ok(ccfg, scfg)


def test_identity_and_trust_as_files(pki: PKI, tmp_path: pathlib.Path) -> None:
    spaths = pki.server_id.write_to(tmp_path / "server")
    cpaths = pki.client_id.write_to(tmp_path / "client")
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "ca.pem").write_text(pki.ca.cert_pem)
    ca_file = tmp_path / "trust" / "ca.pem"
    scfg = mutls.Config(certificate=pathlib.Path(spaths["chain"]), private_key=spaths["key"],
                        trust=tmp_path / "trust")  # a directory of PEM files
    ccfg = mutls.Config(certificate=os.fsencode(cpaths["cert"]), private_key=pathlib.Path(cpaths["key"]),
                        trust=[str(ca_file)])
    handshake_ok(ccfg, scfg)


def test_certificate_and_key_in_one_file(pki: PKI, tmp_path: pathlib.Path) -> None:
    both = tmp_path / "both.pem"
    both.write_text(pki.server_id.chain_pem + pki.server_id.key_pem)
    scfg = mutls.Config(certificate=both, trust=pki.ca)  # no private_key: it is in the same file
    assert scfg.has_identity
    handshake_ok(pki.client_config(), scfg)
    combined = pki.client_id.cert_pem + pki.client_id.key_pem
    assert mutls.Config(certificate=combined).has_identity
    with pytest.raises(mutls.ConfigError, match="without a certificate"):
        mutls.Config(private_key=pki.client_id.key_pem)


def test_trust_forms(pki: PKI) -> None:
    other = mutls.TestCA()
    for trust in (pki.ca, pki.ca.certificate, [other, pki.ca], (other.cert_pem, pki.ca.certificate),
                  [[pki.ca]], pki.ca.cert_pem.encode()):
        handshake_ok(pki.client_config(trust=trust), pki.server_config())


def test_trust_system(pki: PKI) -> None:
    if not os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
        pytest.skip("no system trust store here")
    cfg = mutls.Config(identity=pki.client_id, trust="system")
    p = Pair(cfg.client(server_hostname=HOST), pki.server_config().server()).run()
    assert p.client_exc is not None and p.client_exc.reasons == ["unknown-issuer"]
    cfg = mutls.Config(identity=pki.client_id, trust=["system", pki.ca])
    handshake_ok(cfg, pki.server_config())


def test_crl_forms(pki: PKI, tmp_path: pathlib.Path) -> None:
    pki.ca.revoke(pki.client_id)
    crl_file = tmp_path / "ca.crl"
    crl_file.write_text(pki.ca.crl_pem)
    for crl in (pki.ca.crl_pem, pki.ca.crl_pem.encode(), crl_file, str(crl_file), [crl_file], pki.ca):
        p = Pair(pki.client_config().client(server_hostname=HOST), pki.server_config(crl=crl).server()).run()
        assert p.server_exc is not None and p.server_exc.reasons == ["revoked"], crl


def test_peer_certificate_modes_read_back(pki: PKI) -> None:
    assert mutls.Config().peer_certificate == "require"
    assert mutls.Config(peer_certificate="request").peer_certificate == "request"
    assert mutls.Config(peer_certificate="none").peer_certificate == "none"
    assert mutls.Config().has_identity is False
    assert "peer_certificate='require'" in repr(mutls.Config())


def test_check_hostname_off(pki: PKI) -> None:
    ccfg = pki.client_config(check_hostname=False)
    p = Pair(ccfg.client(), pki.server_config().server()).run()
    assert p.ok and p.client.verified  # chain, purpose, validity still checked
    p = Pair(ccfg.client(server_hostname="billing.internal"), pki.server_config().server()).run()
    assert p.ok
    other = mutls.TestCA()
    p = Pair(pki.client_config(trust=other, check_hostname=0).client(), pki.server_config().server()).run()
    assert p.client_exc.reasons == ["unknown-issuer"]


@pytest.mark.parametrize("versions,expected", [(["1.2"], "TLSv1.2"), ("1.3", "TLSv1.3"),
                                                (("1.2", "1.3"), "TLSv1.3")])
def test_versions(pki: PKI, versions: Any, expected: str) -> None:
    p = handshake_ok(pki.client_config(versions=versions), pki.server_config())
    assert p.client.version == expected


def test_versions_without_overlap(pki: PKI) -> None:
    p = Pair(pki.client_config(versions=["1.2"]).client(server_hostname=HOST),
             pki.server_config(versions=["1.3"]).server()).run()
    assert isinstance(p.server_exc, mutls.HandshakeError)
    assert isinstance(p.client_exc, mutls.HandshakeError)


def test_priority(pki: PKI) -> None:
    p = handshake_ok(pki.client_config(priority="NORMAL:-VERS-ALL:+VERS-TLS1.2:-AES-256-GCM"),
                     pki.server_config())
    assert p.client.version == "TLSv1.2"
    assert "AES_256" not in p.client.cipher


def test_hooks_read_back(pki: PKI) -> None:
    def hook(peer: mutls.Peer) -> bool:
        return True

    def trace(event: mutls.TraceEvent) -> None:
        pass

    cfg = mutls.Config(verify_hook=hook, trace=trace)
    assert cfg.verify_hook is hook and cfg.trace is trace
    assert mutls.Config().verify_hook is None


def test_immutable_and_shared(pki: PKI) -> None:
    cfg = pki.server_config()
    with pytest.raises(mutls.UsageError, match="immutable"):
        cfg.__init__(trust=pki.ca)
    # one Config, many sessions
    ccfg = pki.client_config()
    for _ in range(3):
        handshake_ok(ccfg, cfg)
    s = cfg.server()
    assert s.config is cfg


def test_config_is_the_python_class(pki: PKI) -> None:
    assert mutls.Config.__module__ == "mutls"
    assert mutls.Config.connect.__qualname__ == "Config.connect"
    assert type(pki.server_config()) is mutls.Config


def test_session_cache_and_send_ca_names_options() -> None:
    mutls.Config(session_cache=0, send_ca_names=False)
    mutls.Config(session_cache=1 << 20, send_ca_names=True)
    for bad in (True, "1024", 1.5, None):
        with pytest.raises(TypeError, match="session_cache: expected an int"):
            mutls.Config(session_cache=bad)
    with pytest.raises(mutls.ConfigError, match="session_cache: expected a number of entries from 0 up"):
        mutls.Config(session_cache=-1)
    with pytest.raises(mutls.ConfigError, match="more than the limit of 1048576"):
        mutls.Config(session_cache=(1 << 20) + 1)
    with pytest.raises(TypeError, match="send_ca_names: expected a bool"):
        mutls.Config(send_ca_names="no")


def test_certificate_without_private_key_names_the_certificate(pki: PKI, tmp_path: pathlib.Path) -> None:
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(certificate=pki.server_id.chain_pem)
    assert info.value.code == "config"
    assert str(info.value).startswith(
        "private_key: no private key was given for certificate CN=orders"), str(info.value)
    cert = tmp_path / "cert.pem"
    cert.write_text(pki.client_id.cert_pem)
    with pytest.raises(mutls.ConfigError, match="no private key was given for certificate CN=payments"):
        mutls.Config(certificate=cert)


@pytest.mark.parametrize("side", ["client", "server"])
def test_no_trust_anchors_said_at_handshake(pki: PKI, side: str) -> None:
    ccfg = pki.client_config(trust=None) if side == "client" else pki.client_config()
    scfg = pki.server_config(trust=None) if side == "server" else pki.server_config()
    p = Pair(ccfg.client(server_hostname=HOST), scfg.server()).run()
    assert not p.ok
    s = p.client if side == "client" else p.server
    e = s.error
    assert e is not None and e.code == "verify-failed" and list(e.reasons) == ["unknown-issuer"], e
    peer = "server certificate CN=orders" if side == "client" else "client certificate CN=payments"
    assert str(e).startswith(peer + " could not be checked: no trust anchors were configured"), str(e)
    assert "give trust" in str(e)


KEYWIPE_SCRIPT = r'''
import ctypes, sys
import mutls

scan = ctypes.CDLL(None)  # the preloaded freescan library (tests/c/freescan.c)
scan.freescan_count.restype = ctypes.c_size_t
scan.freescan_count.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
scan.freescan_stop.restype = ctypes.c_ulong
ca = mutls.TestCA()
ident = ca.issue(cn="orders", dns=["orders.internal"])
key, chain = ident.key_pem, ident.chain_pem
body = key.split("\n", 1)[1]
# the private value's base64 (after the 48 characters every P-256 key shares)
marks = [body[48:64].encode(), body[65:81].encode(), body[75:91].encode()]
key_bytearray = bytearray(key.encode())   # the caller's own objects, made
key_memoryview = memoryview(key.encode()) # before the window
both = chain + key
probe = b"freescan-canary!" * 64

assert scan.freescan_start() == 0
bytes(bytearray(probe))                   # a released block the scanner must see
for _ in range(3):
    mutls.Config(certificate=chain, private_key=key)
    mutls.Config(certificate=chain, private_key=key_bytearray)
    mutls.Config(certificate=chain, private_key=key_memoryview)
    mutls.Config(certificate=both)
released = scan.freescan_stop()
assert released > 0 and scan.freescan_count(b"freescan-canary!", 16) >= 1, "the scanner saw nothing"
found = {m.decode(): scan.freescan_count(m, 16) for m in marks}
print("released", released, "found", found)
sys.exit(1 if any(found.values()) else 0)
'''


def test_python_copies_of_key_text_are_wiped(tmp_path: pathlib.Path) -> None:
    """The bytes the binding encodes a str/bytearray/memoryview key into are
    wiped before they are released: a child Python with every allocation on
    malloc (PYTHONMALLOC=malloc) and tests/c/freescan.c preloaded keeps every
    released block, then looks for pieces of the key's base64."""
    import shutil
    import subprocess
    import sys

    if (os.environ.get("MUTLS_UNDER_SANITIZER") or "asan" in os.environ.get("LD_PRELOAD", "")
            or shutil.which("cc") is None):
        # ASan's allocator replaces free for the whole process: there the C
        # test (test_keywipe, through ASan's free hook) does this job
        pytest.skip("needs a C compiler, and a process without ASan's allocator")
    root = pathlib.Path(__file__).resolve().parents[2]
    lib = tmp_path / "libfreescan.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(root / "tests/c/freescan.c")],
                   check=True)
    env = dict(os.environ, PYTHONMALLOC="malloc", LD_PRELOAD=str(lib))
    r = subprocess.run([sys.executable, "-c", KEYWIPE_SCRIPT], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "released" in r.stdout
