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
    # the mutls this test imported (the venv's, or the ASan build under
    # scripts/sanitize-bindings), never another copy from the tree
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(mutls.__file__).parent.parent), e.get("PYTHONPATH")]))
    return e


def cli(*args: str, timeout: float = TIMEOUT, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mutls", *args], capture_output=True, text=True,
                          timeout=timeout, env=env(), cwd=cwd or ROOT)


# ---------------------------------------------------------------- usage


def test_help_everywhere() -> None:
    r = cli("--help")
    assert r.returncode == 0, r.stderr
    for name in ("demo", "inspect", "probe", "serve", "asgi", "ca"):
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


def assert_short_story(out: str, offers: str = "TLS1.3, TLS1.2") -> None:
    """The short demo (C and Lua): payments calls orders, every event in
    the core's words; analytics is refused, each side's error in mutls's."""
    assert re.search(rf"payments\s+-> ClientHello .*offers {offers};.*\(the offer\)", out)
    assert re.search(r"orders\s+-> CertificateRequest", out)
    for check in ("presence", "validity", "name", "chain", "purpose", "policy"):
        assert re.search(rf"payments\s+check {check}\s+ok .*\(.*\?\)", out), check
    assert re.search(r"orders\s+check policy\s+ok\s+matches one of: uri:spiffe://example.org/payments", out)
    assert 'payments  sent "GET /orders/42"; orders received "GET /orders/42"' in out
    assert 'orders    sent "order 42: 3 items, paid"; payments received "order 42: 3 items, paid"' in out
    assert re.search(r"analytics\s+<- alert access_denied \(49\)", out)
    assert ('orders    verify-failed: "client certificate CN=analytics is not allowed by the peers policy '
            '(it names URI:spiffe://example.org/analytics; allowed: uri:spiffe://example.org/payments)"') in out
    assert 'analytics peer-rejected: "peer rejected our certificate (alert access_denied)"' in out
    # the refusal shows only what went wrong: no passed check, no note
    refusal = out.split("== analytics calls orders", 1)[1]
    assert " ok " not in refusal.split("== result")[0] and "   (" not in refusal
    assert out.rstrip().endswith("== result: ok (the call worked and the refusal was the expected one)")


def one_story(out: str) -> dict:
    """Each service's lines and the headings, with what differs from run to
    run (sizes, dates, key fingerprints) masked."""
    out = re.sub(r"\d+ bytes", "N bytes", out)
    out = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "DATE", out)
    out = re.sub(r"sha256 [0-9a-f]+", "sha256 X", out)
    lines = out.splitlines()[1:]  # after the banner, which names the language
    return {who: [ln for ln in lines if ln.startswith(who)] for who in ("payments", "orders", "analytics", "==")}


C_DEMO = ROOT / "build" / "mtls_demo"


@pytest.mark.skipif(not C_DEMO.exists(), reason="the C demo is not built (build/mtls_demo)")
def test_demo_c() -> None:
    r = subprocess.run([str(C_DEMO)], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert r.stdout.startswith("mtls_demo: mutual TLS between two services")
    assert_short_story(r.stdout)


@pytest.mark.skipif(lua_missing() is not None, reason=str(lua_missing()))
def test_demo_lua() -> None:
    r = cli("demo", "--lua")
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr
    assert out.startswith("mutls demo (Lua): mutual TLS between two services")
    assert_short_story(out)


@pytest.mark.skipif(lua_missing() is not None or not C_DEMO.exists(), reason="the C demo or the Lua module is not built")
def test_demo_c_and_lua_tell_one_story() -> None:
    """The narration is the core's: the two short demos print the same lines."""
    c = subprocess.run([str(C_DEMO)], capture_output=True, text=True, timeout=TIMEOUT)
    lua = cli("demo", "--lua")
    assert c.returncode == 0 and lua.returncode == 0, c.stdout[-2000:] + lua.stdout[-2000:]
    assert one_story(c.stdout) == one_story(lua.stdout)


@pytest.mark.skipif(lua_missing() is not None, reason=str(lua_missing()))
def test_demo_lua_options() -> None:
    r = cli("demo", "--lua", "--tls", "1.2")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert re.search(r"orders\s+-> ServerHello .*chooses TLS1\.2", r.stdout)
    assert_short_story(r.stdout, offers="TLS1.2")
    for extra in ("--diagram", "--no-gallery"):  # the Python demo's alone
        r = cli("demo", "--lua", extra)
        assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
        assert "belong to the Python demo" in r.stderr


def installed_copy(tmp_path: Path) -> Path:
    """The package as pip installs it: a directory with mutls/ (the
    extension, the package files and their data) and nothing of the
    checkout around it."""
    site = tmp_path / "site"
    shutil.copytree(Path(mutls.__file__).parent, site / "mutls",
                    ignore=shutil.ignore_patterns("__pycache__"))  # follows the demo.lua link, as pip does
    return site


def installed_env(site: Path, home: Path, lua_cpath: str) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("MUTLS_ROOT", "LUA_PATH", "LUA_CPATH", "PYTHONPATH")}
    e.update(PYTHONPATH=str(site), NO_COLOR="1", HOME=str(home), LUA_CPATH=lua_cpath)
    return e


@pytest.mark.skipif(lua_missing() is not None, reason=str(lua_missing()))
@pytest.mark.skipif(not (Path(mutls.__file__).parent / "cli" / "demo.lua").is_file(),
                    reason="this copy of the package lost its demo.lua link (e.g. cp -r of the source tree)")
def test_demo_lua_after_pip_install(tmp_path: Path) -> None:
    """No checkout around the package: the demo script comes with the
    package and the Lua module is found where the user installed it (here a
    luarocks-style tree on LUA_CPATH), or the error says what to install."""
    site = installed_copy(tmp_path)
    assert (site / "mutls" / "cli" / "demo.lua").is_file() and not (site / "mutls" / "cli" / "demo.lua").is_symlink()
    tree = tmp_path / "tree" / "lib" / "lua" / "5.4"
    tree.mkdir(parents=True)
    shutil.copy(ROOT / "build" / "lua" / "5.4" / "mutls.so", tree / "mutls.so")
    home = tmp_path / "home"
    home.mkdir()
    run = [sys.executable, "-m", "mutls", "demo", "--lua"]
    r = subprocess.run(run, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                       env=installed_env(site, home, f"{tree}/?.so;;"))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "mutls demo (Lua)" in r.stdout and "== result: ok" in r.stdout
    # ~/.luarocks (luarocks --local) is found without LUA_CPATH
    local = home / ".luarocks" / "lib" / "lua" / "5.4"
    local.mkdir(parents=True)
    shutil.copy(tree / "mutls.so", local / "mutls.so")
    env = installed_env(site, home, "")
    del env["LUA_CPATH"]
    r = subprocess.run(run, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    # nowhere: exit 2 and the exact way to install it
    (local / "mutls.so").unlink()
    r = subprocess.run(run, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                       env=installed_env(site, home, f"{tmp_path}/empty/?.so"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert 'the Lua module "mutls" for lua5.4 was not found' in r.stderr
    assert "luarocks --lua-version 5.4 make bindings-lua/mutls-scm-1.rockspec" in r.stderr
    assert str(home / ".luarocks") in r.stderr


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


def test_ca_write_key_then_issue_more(tmp_path: Path) -> None:
    """--write-key keeps the CA key (0600, never through a symlink) so that
    --issue can add identities from the same CA later."""
    d = tmp_path / "pki"
    r = cli("ca", str(d), "--write-key")
    assert r.returncode == 0, r.stderr
    key = d / "ca-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    ca = mutls.TestCA.load(d / "ca.pem", key)
    assert ca.certificate == mutls.Certificate.load(d / "ca.pem")
    r = cli("ca", str(d), "--issue", "billing", "--client-name", "spiffe://example.org/billing")
    assert r.returncode == 0, r.stderr
    billing = mutls.Certificate.load(d / "billing" / "cert.pem")
    assert billing.uris == ["spiffe://example.org/billing"] and billing.extended_key_usage == ["clientAuth"]
    assert billing.verify(str(d / "ca.pem"), purpose="client")
    assert (d / "billing" / "key.pem").stat().st_mode & 0o077 == 0
    r = cli("ca", str(d), "--issue", "api", "--server-name", "api.internal")
    api = mutls.Certificate.load(d / "api" / "cert.pem")
    assert api.verify(str(d / "ca.pem"), hostname="api.internal", purpose="server")
    # the identities work together in a real handshake with the first ones
    server = mutls.Config(certificate=str(d / "api" / "chain.pem"), private_key=str(d / "api" / "key.pem"),
                          trust=str(d / "ca.pem"))
    client = mutls.Config(certificate=str(d / "client" / "chain.pem"), private_key=str(d / "client" / "key.pem"),
                          trust=str(d / "ca.pem"))
    c, s = client.client(server_hostname="api.internal"), server.server()
    for _ in range(10):
        for sess in (c, s):
            try:
                sess.handshake()
            except mutls.WantRead:
                pass
        s.feed(c.data_to_send())
        c.feed(s.data_to_send())
    assert c.verified and s.verified
    # refusals: the same name twice, no key kept, a symlink in the key's place
    r = cli("ca", str(d), "--issue", "billing")
    assert r.returncode == 2 and "--force" in r.stderr
    other = tmp_path / "nokey"
    assert cli("ca", str(other)).returncode == 0
    r = cli("ca", str(other), "--issue", "x")
    assert r.returncode == 2 and "--write-key" in r.stderr
    trap = tmp_path / "trap"
    trap.mkdir()
    (trap / "ca-key.pem").symlink_to(tmp_path / "elsewhere.pem")
    r = cli("ca", str(trap), "--write-key")
    assert r.returncode == 2 and not (tmp_path / "elsewhere.pem").exists()
    r = cli("ca", str(trap), "--write-key", "--force")
    assert r.returncode == 2 and "symbolic link" in r.stderr
    assert not (tmp_path / "elsewhere.pem").exists()


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


def test_inspect_shows_key_usage_and_purposes(pki: Path) -> None:
    """A server certificate offered as a client one is the classic mTLS
    mistake: inspect says which purposes each certificate allows."""
    r = cli("inspect", str(pki / "server" / "cert.pem"))
    assert r.returncode == 0, r.stderr
    assert re.search(r"key usage\s+digitalSignature", r.stdout)
    assert re.search(r"purposes\s+serverAuth \(TLS server only\)", r.stdout)
    r = cli("inspect", str(pki / "client" / "cert.pem"))
    assert re.search(r"purposes\s+clientAuth \(TLS client only\)", r.stdout)
    r = cli("inspect", str(pki / "ca.pem"))
    assert re.search(r"key usage\s+digitalSignature, keyCertSign, cRLSign", r.stdout)
    assert re.search(r"purposes\s+\(no extension: any purpose", r.stdout)
    data = json.loads(cli("inspect", "--json", str(pki / "server" / "chain.pem")).stdout)
    assert data[0]["extended_key_usage"] == ["serverAuth"]
    assert data[0]["key_usage"][0] == "digitalSignature"


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
    r = probe(pki, srv.port, extra=["--send", "GET /x HTTP/1.0\\r\\n\\r\\n"])
    s = srv.finish()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "version:       TLSv1.3" in r.stdout
    assert re.search(r"cipher suite:  TLS_", r.stdout)
    assert "server chain:  1 certificate" in r.stdout
    assert "CN=localhost" in r.stdout
    assert "verification:  verified" in r.stdout
    assert "client cert:   the server asked for a client certificate; we sent CN=payments; it was accepted" \
        in r.stdout
    # the whole reply, up to the server's close (escapes: a real HTTP request)
    assert re.search(r"reply:         \d+ bytes; the server closed the connection \(close_notify\)", r.stdout)
    assert "  | HTTP/1.1 200 OK" in r.stdout and "  | GET /x HTTP/1.0" in r.stdout
    assert "  | hello CN=payments" in r.stdout
    assert s.returncode == 0, s.stdout + s.stderr
    assert re.search(r"accepted 127\.0\.0\.1:\d+  CN=payments", s.stdout), s.stdout
    assert "uri:spiffe://example.org/payments" in s.stdout and "(verified;" in s.stdout


def test_probe_json_and_curl_spellings(pki: Path) -> None:
    """--json: one object with the facts; --cacert is --ca (curl's spelling)."""
    srv = Serve(pki, "--once")
    r = cli("probe", f"127.0.0.1:{srv.port}", "--cacert", str(pki / "ca.pem"), "--timeout", "10",
            "--cert", str(pki / "client" / "chain.pem"), "--key", str(pki / "client" / "key.pem"), "--json",
            "--tls", "1.2", "--send", "GET / HTTP/1.0\\r\\n\\r\\n")
    srv.finish()
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)  # nothing but the object on stdout
    assert data["ok"] is True and data["error"] is None
    assert data["version"] == "TLSv1.2" and data["cipher"].startswith("TLS_ECDHE_")
    assert data["alpn"] is None
    assert data["peer_certificate"]["subject"] == "CN=localhost"
    assert data["peer_certificate"]["extended_key_usage"] == ["serverAuth"]
    assert data["verification"]["verified"] is True and data["verification"]["reasons"] == []
    assert [c["name"] for c in data["verification"]["checks"]][:2] == ["presence", "validity"]
    assert data["client_certificate"] == {
        "requested": True, "sent": "CN=payments", "accepted": True,
        "summary": "the server asked for a client certificate; we sent CN=payments; it was accepted"}
    assert data["reply"].startswith("HTTP/1.1 200 OK") and "hello CN=payments" in data["reply"]
    assert "close_notify" in data["reply_ended"]


def test_probe_without_certificate_is_refused_and_explained(pki: Path) -> None:
    srv = Serve(pki, "--once")
    r = probe(pki, srv.port, cert=None)
    s = srv.finish()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the server refused us" in r.stdout
    assert "PeerRejectedError" in r.stdout
    assert "code peer-rejected" in r.stdout and "alert certificate_required" in r.stdout
    assert "explain:" in r.stdout and "handshake succeeded, then failed" in r.stdout
    assert "client cert:   the server asked for a client certificate; we sent none; it refused us " \
           "(alert certificate_required): it requires one" in r.stdout
    assert s.returncode == 1
    assert "refused" in s.stdout and "no certificate, but one is required" in s.stdout
    assert "code no-certificate" in s.stdout

    # the same refusal as JSON: code, reasons, alert and the sentence
    srv = Serve(pki, "--once")
    r = probe(pki, srv.port, cert=None, extra=["--json"])
    srv.finish()
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["ok"] is False
    assert data["error"]["code"] == "peer-rejected" and data["error"]["alert"] == "certificate_required"
    assert data["error"]["class"] == "PeerRejectedError" and data["error"]["when"] == "after-handshake"
    assert "we sent none" in data["error"]["message"]
    assert data["client_certificate"]["accepted"] is False and data["client_certificate"]["sent"] is None

    # TLS 1.2: the refusal is inside the handshake, and its alert
    # (handshake_failure) does not say why: probe says what is likely
    srv = Serve(pki, "--once")
    r = probe(pki, srv.port, cert=None, extra=["--tls", "1.2"])
    srv.finish()
    assert r.returncode == 1
    assert "we sent none; it refused us (alert handshake_failure), most likely because it requires one" in r.stdout


def test_probe_optional_client_certificate_and_echo_until_timeout(pki: Path) -> None:
    """A server that asks but does not require: said so; --send reads the
    echo until --timeout when the server keeps the connection open."""
    srv = Serve(pki, "--optional", "--once")
    r = cli("probe", f"127.0.0.1:{srv.port}", "--ca", str(pki / "ca.pem"), "--timeout", "3",
            "--send", "ping\\n")
    srv.finish()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "we sent none; it let us in without one (it asks for one but does not require it)" in r.stdout
    assert "reply:         5 bytes; --timeout (3 s) passed; the server kept the connection open" in r.stdout
    assert "  | ping" in r.stdout


def test_probe_server_that_does_not_ask(pki: Path) -> None:
    """Python's ssl as the server, with no client verification: no
    CertificateRequest, so ours is not sent, and probe says so."""
    import socket
    import ssl
    import threading

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "server" / "chain.pem"), str(pki / "server" / "key.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]

    def serve_one() -> None:
        try:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                tls.sendall(tls.recv(100).upper())
        except OSError:
            pass

    t = threading.Thread(target=serve_one, daemon=True)
    t.start()
    try:
        r = probe(pki, port, extra=["--send", "hello", "--json", "--timeout", "5"])
    finally:
        t.join(TIMEOUT)
        listener.close()
    data = json.loads(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert data["client_certificate"]["requested"] is False and data["client_certificate"]["sent"] is None
    assert data["client_certificate"]["summary"] == \
        "the server did not ask for a client certificate (ours, CN=payments, was not sent)"
    assert data["reply"] == "HELLO"


def test_probe_non_tls_peer_negotiated_nothing() -> None:
    """A plain-text server: no version line pretends TLS 1.2 was agreed."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]

    def answer() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nnot TLS\n")
        except OSError:
            pass

    for extra in ([], ["--json"]):
        t = threading.Thread(target=answer, daemon=True)
        t.start()
        r = cli("probe", f"127.0.0.1:{port}", "--timeout", "5", *extra)
        t.join(TIMEOUT)
        assert r.returncode == 1, r.stdout + r.stderr
        if extra:
            data = json.loads(r.stdout)
            assert data["version"] is None and data["cipher"] is None
            assert data["error"]["code"] == "protocol"
            assert data["client_certificate"]["requested"] is None
        else:
            assert "version:       (not negotiated)" in r.stdout
            assert "TLSv1.2" not in r.stdout.split("explain:")[0]
            assert "code protocol" in r.stdout
    listener.close()


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


def test_probe_of_a_plain_http_server_says_it_is_not_tls(pki: Path) -> None:
    """python -m http.server: the error names what answered, once, with no
    doubled "handshake failed: handshake failed:" prefix."""
    http = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert http.stdout is not None
        port = int(http.stdout.readline().split(" port ")[1].split()[0])
        r = probe(pki, port)
    finally:
        http.kill()
        http.wait(10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ProtocolError: the server answered with something that is not TLS (it looks like " in r.stdout
    assert "client: handshake failed: the server answered with something that is not TLS" in r.stdout
    assert "handshake failed: handshake failed" not in r.stdout
    assert "unexpected TLS packet" not in r.stdout


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


# ------------------------------------------ serve against a conformance suite


def client_context(pki: Path) -> "ssl.SSLContext":
    import ssl

    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(str(pki / "client" / "chain.pem"), str(pki / "client" / "key.pem"))
    return ctx


def test_serve_reads_a_request_line_sent_one_byte_per_record(pki: Path) -> None:
    """Python's ssl makes one record per write: the request line arrives in
    27 records and is still answered as HTTP, not echoed byte by byte."""
    import socket

    srv = Serve(pki, "--once")
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw, \
            client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
        for i in range(len(request)):
            tls.sendall(request[i:i + 1])
        reply = b""
        while True:
            data = tls.recv(4096)
            if not data:
                break
            reply += data
    s = srv.finish()
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply
    assert b"you sent:\nGET / HTTP/1.1\r\nHost: x\r\n\r\n" in reply
    assert "echoed 27 bytes" in s.stdout


def test_serve_still_echoes_what_is_not_http(pki: Path) -> None:
    import socket

    srv = Serve(pki, "--once")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw, \
            client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"G")       # could be HTTP ...
        tls.sendall(b"ossip\n")  # ... but is not
        got = b""
        while len(got) < 7:
            got += tls.recv(64)
        tls.sendall(b"more")
        got += tls.recv(64)
    srv.finish()
    assert got == b"Gossip\nmore"


def test_serve_alert_reaches_a_client_sending_a_16_mib_client_hello(pki: Path) -> None:
    """The client sends a whole 16 MiB ClientHello before reading: the
    server refuses it early, and must not close on it while it is still
    sending (a reset: broken pipe, and the alert lost)."""
    import socket

    srv = Serve(pki, "--once")
    total = (1 << 24) - 1 + 4
    first = bytes([1, 0xFF, 0xFF, 0xFF, 3, 3])
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sent = 0
        while sent < total:
            body = min(16384, total - sent)
            payload = (first + bytes(body - len(first))) if sent == 0 else bytes(body)
            sock.sendall(bytes([22, 3, 1]) + body.to_bytes(2, "big") + payload)
            sent += body
        reply = b""
        while len(reply) < 7:
            data = sock.recv(7 - len(reply))
            if not data:
                break
            reply += data
    s = srv.finish()
    assert reply[:1] == b"\x15" and reply[5] == 2, reply  # a fatal alert record
    m = re.search(r"alert (\w+)", s.stdout)
    assert m, s.stdout
    assert reply[6] == {"decode_error": 50, "record_overflow": 22, "illegal_parameter": 47}.get(m.group(1), -1), s.stdout


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def s_client(pki: Path, port: int, *extra: str) -> str:
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki / "ca.pem"),
                        "-cert", str(pki / "client" / "cert.pem"), "-key", str(pki / "client" / "key.pem"), *extra],
                       input="hello\n", capture_output=True, text=True, timeout=TIMEOUT)
    return r.stdout + r.stderr


@needs_openssl
def test_serve_resumes_a_tls12_session_by_id(pki: Path, tmp_path: Path) -> None:
    """openssl s_client without tickets: the second connection resumes by
    session ID (the server's session cache), and is verified again."""
    srv = Serve(pki, "--max", "2")
    sess = tmp_path / "sess.pem"
    first = s_client(pki, srv.port, "-tls1_2", "-no_ticket", "-sess_out", str(sess))
    second = s_client(pki, srv.port, "-tls1_2", "-no_ticket", "-sess_in", str(sess))
    s = srv.finish()
    assert re.search(r"^New, TLSv1\.2", first, re.M), first
    assert re.search(r"^Reused, TLSv1\.2", second, re.M), second
    accepted = [line for line in s.stdout.splitlines() if line.startswith("accepted")]
    assert len(accepted) == 2 and "resumed" not in accepted[0]
    assert "(verified; TLSv1.2" in accepted[1] and accepted[1].endswith(", resumed)"), s.stdout


@needs_openssl
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_serve_names_its_trust_anchor_in_the_certificate_request(pki: Path, version: str) -> None:
    srv = Serve(pki, "--once")
    out = s_client(pki, srv.port, version)
    srv.finish()
    ca = mutls.Certificate.load(pki / "ca.pem")
    assert "Acceptable client certificate CA names" in out, out
    assert "No client certificate CA names sent" not in out
    # OpenSSL 3.0 prints "CN = name", 3.5 "CN=name"
    names = out.split("Acceptable client certificate CA names", 1)[1].replace("CN = ", "CN=")
    assert f"CN={ca.common_name}" in names


needs_gnutls_cli = pytest.mark.skipif(shutil.which("gnutls-cli") is None, reason="gnutls-cli not installed")


@needs_openssl
@needs_gnutls_cli
def test_serve_does_not_negotiate_ed448(tmp_path: Path) -> None:
    """A server whose own key is Ed448 and a client that offers only Ed448
    signatures: with the default priority there is nothing in common."""
    def openssl(*args: str) -> None:
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
        if r.returncode != 0:
            pytest.skip("openssl cannot make Ed448 certificates: " + r.stderr[-200:])

    openssl("req", "-x509", "-newkey", "ed448", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=ed448 test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ed448", "-nodes", "-keyout", "key.pem", "-out", "req.pem", "-subj", "/CN=localhost")
    (tmp_path / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "cert.pem", "-days", "1", "-extfile", "ext")
    p = subprocess.Popen([sys.executable, "-m", "mutls", "serve", "--cert", str(tmp_path / "cert.pem"),
                          "--key", str(tmp_path / "key.pem"), "--ca", str(tmp_path / "ca.pem"), "--optional",
                          "--once", "--timeout", "10"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        assert p.stdout is not None
        port = int(p.stdout.readline().rsplit(":", 1)[1])
        r = subprocess.run(["gnutls-cli", "--x509cafile", str(tmp_path / "ca.pem"),
                            "--priority", "NORMAL:-SIGN-ALL:+SIGN-EDDSA-ED448", "-p", str(port), "localhost"],
                           input="", capture_output=True, text=True, timeout=TIMEOUT)
        out, _ = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert r.returncode != 0, r.stdout
    assert "Handshake was completed" not in r.stdout
    assert "served 1: 0 accepted, 1 refused" in out, out


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
