"""The mutls command line, run for real: each subcommand in a subprocess
(python -m mutls ...), bounded by a timeout, over loopback only."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

import mutls

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0

GALLERY = [
    "expired certificate",
    "wrong name",
    "unknown CA",
    "client without a certificate",
    "rogue self-signed client",
    "revoked client",
    "refused by identity policy",
    "reflected record",
]


def env() -> dict:
    e = dict(os.environ)
    e["MUTLS_ROOT"] = str(ROOT)
    e["NO_COLOR"] = "1"
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bindings-python"), e.get("PYTHONPATH")]))
    return e


def cli(*args: str, timeout: float = TIMEOUT, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mutls", *args], capture_output=True, text=True,
                          timeout=timeout, env=env(), cwd=cwd or ROOT)


# ---------------------------------------------------------------- usage


def test_help_everywhere() -> None:
    r = cli("--help")
    assert r.returncode == 0, r.stderr
    for name in ("demo", "inspect", "probe", "serve", "ca"):
        assert name in r.stdout
        sub = cli(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage: mutls " + name in sub.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli().returncode == 2
    assert cli("nonsense").returncode == 2
    assert cli("probe").returncode == 2                   # HOST:PORT missing
    assert cli("probe", "no-port-here").returncode == 2   # not HOST:PORT
    assert cli("inspect", str(tmp_path / "missing.pem")).returncode == 2
    r = cli("serve", "--cert", "x", "--key", "y", "--ca", "z", "--once", "--max", "2")
    assert r.returncode == 2 and "exclude" in r.stderr


def test_version() -> None:
    r = cli("--version")
    assert r.returncode == 0
    assert mutls.__version__ in r.stdout


def test_main_function_returns_codes(capsys: pytest.CaptureFixture) -> None:
    from mutls.__main__ import main

    assert main(["--help"]) == 0
    assert main(["inspect"]) == 2
    capsys.readouterr()


# ---------------------------------------------------------------- demo


def test_demo_runs_to_the_end() -> None:
    r = cli("demo")
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr
    # the story, from the trace
    assert re.search(r"client\s+-> ClientHello .*offers TLS1\.3", out)
    assert re.search(r"server\s+-> ServerHello .*chooses TLS1\.3", out)
    assert re.search(r"server\s+-> CertificateRequest", out)
    for check in ("presence", "validity", "name", "chain", "purpose", "policy"):
        assert re.search(rf"client\s+check {check}\s+ok", out), check
    for check in ("validity", "chain", "purpose", "policy"):
        assert re.search(rf"server\s+check {check}\s+ok", out), check
    assert "valid from 20" in out and "up to trusted CN=mutls demo CA" in out
    assert "key exchange" in out
    assert "client-write:" in out and "server-write:" in out
    assert out.count("  equal") == 2
    assert "different keys for the two directions" in out
    assert "received 'GET /orders/42 (from payments)'" in out
    assert "received 'order 42: 3 items, paid (from orders)'" in out
    # the gallery: every case shown and failed as expected
    for title in GALLERY:
        assert title in out, title
    assert len(re.findall(r"=>\s+as expected", out)) == len(GALLERY)
    assert "UNEXPECTED" not in out
    assert "expired at" in out
    assert "does not match the name" in out
    assert "unknown CA" in out
    assert "no certificate, but one is required" in out
    assert "has been revoked" in out
    assert "is not allowed by the peers policy" in out
    assert "ProtocolError" in out and "failed to decrypt" in out
    assert f"8 of 8 gallery cases failed as expected" in out
    assert "\x1b[" not in out  # no colour when stdout is not a terminal


def test_demo_diagram() -> None:
    r = cli("demo", "--diagram", "--no-gallery")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    out = r.stdout
    assert "sequence diagram" in out
    assert "payments (client)" in out and "orders (server)" in out
    assert re.search(r"\|-+ ClientHello -+>\|", out)
    assert re.search(r"\|<-+ ServerHello -+\|", out)
    assert re.search(r"\|<-+ CertificateRequest -+\|", out)
    assert re.search(r"\|-+ application data -+>\|", out)
    assert re.search(r"chain ok \|", out)            # a client check, left of its lifeline
    assert re.search(r"\| chain ok", out)            # a server check, right of its lifeline


def lua_missing() -> Optional[str]:
    if shutil.which("lua5.4") is None:
        return "lua5.4 is not installed"
    if not (ROOT / "build" / "lua" / "5.4" / "mutls.so").exists():
        return "the Lua module is not built (build/lua/5.4/mutls.so)"
    return None


@pytest.mark.skipif(lua_missing() is not None, reason=str(lua_missing()))
def test_demo_lua() -> None:
    r = cli("demo", "--lua")
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr
    assert "mutls demo (Lua)" in out
    assert re.search(r"client\s+-> ClientHello", out)
    assert out.count("  equal") == 2
    for title in GALLERY:
        assert title in out, title
    assert len(re.findall(r"=>\s+as expected", out)) == len(GALLERY)
    assert "8 of 8 gallery cases failed as expected" in out


@pytest.mark.skipif(lua_missing() is not None, reason=str(lua_missing()))
def test_demo_lua_diagram() -> None:
    r = cli("demo", "--lua", "--diagram", "--no-gallery")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert re.search(r"\|-+ ClientHello -+>\|", r.stdout)


# ---------------------------------------------------------------- ca, inspect


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli") / "pki"
    r = cli("ca", str(d), "--server-name", "localhost", "--server-name", "127.0.0.1",
            "--client-name", "spiffe://example.org/payments", "--client-name", "payments", "--revoked")
    assert r.returncode == 0, r.stderr
    return d


def test_ca_writes_the_files(pki: Path) -> None:
    for rel in ("ca.pem", "crl.pem", "server/cert.pem", "server/chain.pem", "server/key.pem",
                "client/cert.pem", "client/chain.pem", "client/key.pem", "revoked/cert.pem"):
        assert (pki / rel).is_file(), rel
    assert (pki / "server" / "key.pem").stat().st_mode & 0o077 == 0
    ca = mutls.Certificate.load(pki / "ca.pem")
    server = mutls.Certificate.load(pki / "server" / "cert.pem")
    client = mutls.Certificate.load(pki / "client" / "cert.pem")
    assert ca.is_ca
    assert server.dns_names == ["localhost"] and [str(a) for a in server.ip_addresses] == ["127.0.0.1"]
    assert client.uris == ["spiffe://example.org/payments"] and client.dns_names == ["payments"]
    assert server.verify(str(pki / "ca.pem"), hostname="localhost", purpose="server")
    assert client.verify(str(pki / "ca.pem"), purpose="client")
    revoked = mutls.Certificate.load(pki / "revoked" / "cert.pem")
    with pytest.raises(mutls.CertificateVerifyError) as e:
        revoked.verify(str(pki / "ca.pem"), crl=str(pki / "crl.pem"), purpose="client")
    assert "revoked" in e.value.reasons


def test_ca_refuses_to_overwrite(pki: Path) -> None:
    r = cli("ca", str(pki))
    assert r.returncode == 2 and "--force" in r.stderr


def test_inspect_text(pki: Path) -> None:
    r = cli("inspect", str(pki / "server" / "chain.pem"))
    assert r.returncode == 0, r.stderr
    cert = mutls.Certificate.load(pki / "server" / "cert.pem")
    assert f"subject       {cert.subject}" in r.stdout
    assert cert.serial in r.stdout
    assert cert.fingerprint("sha256") in r.stdout
    assert "DNS names     localhost" in r.stdout
    assert "IP addresses  127.0.0.1" in r.stdout
    assert "valid now" in r.stdout


def test_inspect_json(pki: Path) -> None:
    r = cli("inspect", "--json", str(pki / "client" / "cert.pem"))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    cert = mutls.Certificate.load(pki / "client" / "cert.pem")
    assert len(data) == 1
    f = data[0]
    assert f["subject"] == cert.subject and f["issuer"] == cert.issuer
    assert f["serial"] == cert.serial and f["sha256"] == cert.fingerprint()
    assert f["uris"] == ["spiffe://example.org/payments"]
    assert f["is_ca"] is False and f["key_type"] == "p256"
    assert f["common_name"] == cert.common_name


def test_inspect_der_and_chains(pki: Path, tmp_path: Path) -> None:
    cert = mutls.Certificate.load(pki / "ca.pem")
    der = tmp_path / "ca.der"
    der.write_bytes(cert.der)
    r = cli("inspect", "--json", str(der))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["is_ca"] is True
    both = tmp_path / "two.pem"
    both.write_text((pki / "server" / "cert.pem").read_text() + (pki / "ca.pem").read_text())
    r = cli("inspect", str(both))
    assert "certificate 1 of 2" in r.stdout and "certificate 2 of 2" in r.stdout
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert cli("inspect", str(junk)).returncode == 1


# ---------------------------------------------------------------- serve, probe


class Serve:
    """`mutls serve` on port 0; its port read from its first line; always ended."""

    def __init__(self, pki: Path, *extra: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "mutls", "serve", "--cert", str(pki / "server" / "chain.pem"),
             "--key", str(pki / "server" / "key.pem"), "--ca", str(pki / "ca.pem"), "--timeout", "10", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
        assert self.p.stdout is not None
        ready, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        first = self.p.stdout.readline() if ready else ""
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", first.strip())
        if not m:
            self.p.kill()
            pytest.fail(f"serve did not start: {first!r} {self.p.stderr.read() if self.p.stderr else ''}")
        self.port = int(m.group(1))

    def finish(self) -> subprocess.CompletedProcess:
        try:
            out, err = self.p.communicate(timeout=TIMEOUT)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        return subprocess.CompletedProcess(self.p.args, self.p.returncode, out, err)


def probe(pki: Path, port: int, *, cert: Optional[str] = "client", extra: List[str] = ()) -> subprocess.CompletedProcess:
    args = ["probe", f"127.0.0.1:{port}", "--ca", str(pki / "ca.pem"), "--timeout", "10", *extra]
    if cert:
        args += ["--cert", str(pki / cert / "chain.pem"), "--key", str(pki / cert / "key.pem")]
    return cli(*args)


def test_probe_serve_success(pki: Path) -> None:
    srv = Serve(pki, "--once")
    r = probe(pki, srv.port, extra=["--send", "ping"])
    s = srv.finish()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "version:       TLSv1.3" in r.stdout
    assert re.search(r"cipher suite:  TLS_", r.stdout)
    assert "server chain:  1 certificate" in r.stdout
    assert "CN=localhost" in r.stdout
    assert "verification:  verified" in r.stdout
    assert "reply:         b'ping'" in r.stdout
    assert s.returncode == 0, s.stdout + s.stderr
    assert re.search(r"accepted 127\.0\.0\.1:\d+  CN=payments", s.stdout), s.stdout
    assert "uri:spiffe://example.org/payments" in s.stdout and "(verified;" in s.stdout


def test_probe_without_certificate_is_refused_and_explained(pki: Path) -> None:
    srv = Serve(pki, "--once")
    r = probe(pki, srv.port, cert=None)
    s = srv.finish()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the server refused us" in r.stdout
    assert "PeerRejectedError" in r.stdout
    assert "code peer-rejected" in r.stdout and "alert certificate_required" in r.stdout
    assert "explain:" in r.stdout and "handshake succeeded, then failed" in r.stdout
    assert s.returncode == 1
    assert "refused" in s.stdout and "no certificate, but one is required" in s.stdout
    assert "code no-certificate" in s.stdout


def test_serve_reports_revocation_and_policy(pki: Path) -> None:
    srv = Serve(pki, "--crl", str(pki / "crl.pem"), "--peers", "uri:spiffe://example.org/payments", "--max", "2")
    revoked = probe(pki, srv.port, cert="revoked")
    ok = probe(pki, srv.port)
    s = srv.finish()
    assert revoked.returncode == 1 and "certificate_revoked" in revoked.stdout
    assert ok.returncode == 0, ok.stdout
    assert "has been revoked" in s.stdout and "reasons revoked" in s.stdout
    assert "served 2: 1 accepted, 1 refused" in s.stdout

    srv = Serve(pki, "--peers", "uri:spiffe://example.org/other", "--once")
    refused = probe(pki, srv.port)
    s = srv.finish()
    assert refused.returncode == 1 and "access_denied" in refused.stdout
    assert "not allowed by the peers policy" in s.stdout and "reasons policy" in s.stdout


def test_probe_server_name_mismatch(pki: Path) -> None:
    srv = Serve(pki, "--once")
    r = probe(pki, srv.port, extra=["--servername", "orders.internal"])
    srv.finish()
    assert r.returncode == 1
    assert "check" in r.stdout and re.search(r"name\s+FAIL", r.stdout)
    assert "CertificateVerifyError" in r.stdout and "reasons name-mismatch" in r.stdout


def test_probe_nothing_listening() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = cli("probe", f"127.0.0.1:{port}", "--timeout", "5")
    assert r.returncode == 1 and "cannot connect" in r.stdout


# ---------------------------------------------------------------- real peers


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_probe_explains_openssl_server_with_expired_certificate(tmp_path: Path) -> None:
    ca = mutls.TestCA("probe CA")
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    ca.issue(cn="localhost", dns=["localhost"], ip=["127.0.0.1"], purpose="server",
             not_before=-10 * 86400, not_after=-86400).write_to(tmp_path)
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                               str(tmp_path / "cert.pem"), "-key", str(tmp_path / "key.pem"), "-quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port)
        r = cli("probe", f"127.0.0.1:{port}", "--ca", str(tmp_path / "ca.pem"), "--timeout", "10")
    finally:
        server.kill()
        server.wait()
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"validity\s+FAIL expired at", r.stdout)
    assert "verification:  NOT verified (expired)" in r.stdout
    assert "CertificateVerifyError: server certificate CN=localhost expired at" in r.stdout
    assert "code verify-failed, reasons expired, side local, step server-certificate, alert certificate_expired" \
        in r.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_serve_accepts_curl_with_a_certificate_and_refuses_one_without(pki: Path) -> None:
    srv = Serve(pki, "--max", "2")
    url = f"https://127.0.0.1:{srv.port}/hello"
    good = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(pki / "ca.pem"), "--cert",
                           str(pki / "client/cert.pem"), "--key", str(pki / "client/key.pem"), url],
                          capture_output=True, text=True, timeout=TIMEOUT)
    anon = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(pki / "ca.pem"), url],
                          capture_output=True, text=True, timeout=TIMEOUT)
    s = srv.finish()
    assert good.returncode == 0, good.stderr
    assert "hello CN=payments" in good.stdout and "(verified, TLSv1.3)" in good.stdout
    assert "GET /hello HTTP/1.1" in good.stdout
    assert anon.returncode != 0
    assert "alert" in anon.stderr.lower() or "certificate" in anon.stderr.lower(), anon.stderr
    assert "served 2: 1 accepted, 1 refused" in s.stdout
    assert "no certificate, but one is required" in s.stdout


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port: int, timeout: float = 10.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_demo_tls12() -> None:
    """TLS 1.2: the key exchange has its own messages, and the server's
    verdict on the client arrives inside the client's handshake."""
    r = cli("demo", "--tls", "1.2")
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr
    assert re.search(r"server\s+-> ServerKeyExchange", out)
    assert re.search(r"client\s+-> ClientKeyExchange", out)
    assert "version TLSv1.2" in out
    assert len(re.findall(r"=>\s+as expected", out)) == len(GALLERY)


def test_key_text_given_for_a_file_is_never_printed(pki: Path) -> None:
    """Key text passed where a file name belongs (--key, inspect's FILE):
    the error names the option and the fault, and repeats none of it."""
    key = (pki / "server" / "key.pem").read_text()
    body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
    damaged = key.replace("-----BEGIN", "----BEGIN")
    cert = str(pki / "server" / "cert.pem")
    runs = [
        (cli("probe", "127.0.0.1:9", "--cert", cert, "--key", body), "private_key: not PEM text"),
        (cli("probe", "127.0.0.1:9", "--cert", cert, "--key", damaged), "private_key: not PEM text"),
        (cli("serve", "--cert", cert, "--key", body, "--ca", cert, "--port", "0"), "private_key: not PEM text"),
        (cli("inspect", body), "the value is not shown"),
    ]
    for r, said in runs:
        out = r.stdout + r.stderr
        assert r.returncode == 2 and said in out, out
        for i in range(len(body) - 15):
            assert body[i:i + 16] not in out, out
    r = cli("inspect", str(pki / "missing.pem"))
    assert r.returncode == 2 and str(pki / "missing.pem") + ": No such file" in r.stderr, r.stderr
