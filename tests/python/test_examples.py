"""The Python examples run as written: make_pki.py writes a PKI, the blocking
and asyncio servers (--once, port 0) serve the blocking and asyncio clients,
refusals are reported on both sides, and mypy --strict accepts them all."""

from __future__ import annotations

import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

import mutls

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"
TIMEOUT = 30.0


def run(args: List[str], cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("examples")
    r = run([str(EXAMPLES / "make_pki.py"), "pki"], cwd=d)
    assert r.returncode == 0, r.stderr
    return d


class Server:
    """An example server started with --port 0 --once; its port read from
    its first line; always terminated."""

    def __init__(self, script: str, cwd: Path, *extra: str, once: bool = True) -> None:
        self.p = subprocess.Popen([sys.executable, str(EXAMPLES / script), "--port", "0",
                                   *(["--once"] if once else []), *extra],
                                  cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.p.stdout is not None
        ready, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        line = self.p.stdout.readline() if ready else ""
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.stop()
            pytest.fail(f"{script} did not start: {line!r} {self.p.stderr.read() if self.p.stderr else ''}")
        self.port = int(m.group(1))
        self.out = ""
        self.err = ""

    def finish(self) -> int:
        try:
            self.out, self.err = self.p.communicate(timeout=TIMEOUT)
        finally:
            self.stop()
        return self.p.returncode

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            out, err = self.p.communicate(timeout=10)
            self.out += out or ""
            self.err += err or ""


@pytest.fixture
def servers() -> Iterator[List[Server]]:
    started: List[Server] = []
    yield started
    for s in started:
        s.stop()


def test_make_pki_writes_usable_files(workdir: Path) -> None:
    pki = workdir / "pki"
    ca = mutls.Certificate.load(pki / "ca.pem")
    assert ca.is_ca
    server = mutls.Certificate.load(pki / "server" / "cert.pem")
    client = mutls.Certificate.load(pki / "client" / "cert.pem")
    assert server.dns_names == ["localhost"] and [str(ip) for ip in server.ip_addresses] == ["127.0.0.1"]
    assert client.uris == ["spiffe://example.org/client"]
    for cert in (server, client):
        assert cert.issuer == ca.subject
    assert server.verify(str(pki / "ca.pem"), hostname="localhost", purpose="server")
    assert client.verify(str(pki / "ca.pem"), purpose="client")
    for name in ("server", "client"):
        assert "PRIVATE KEY" in (pki / name / "key.pem").read_text()
        assert (pki / name / "chain.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("server_script", ["server.py", "aio_server.py"])
@pytest.mark.parametrize("client_script", ["client.py", "aio_client.py"])
def test_client_and_server(workdir: Path, servers: List[Server], client_script: str, server_script: str) -> None:
    server = Server(server_script, workdir)
    servers.append(server)
    r = run([str(EXAMPLES / client_script), str(server.port), "hello examples"], cwd=workdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reply: hello examples" in r.stdout
    assert "DNS:localhost" in r.stdout or "localhost" in r.stdout
    assert server.finish() == 0, server.out + server.err
    assert "client" in server.out and "spiffe://example.org/client" in server.out, server.out


@pytest.mark.parametrize("client_script", ["client.py", "aio_client.py"])
def test_wrong_server_name_is_refused_by_the_client(workdir: Path, servers: List[Server],
                                                    client_script: str) -> None:
    server = Server("server.py", workdir)
    servers.append(server)
    r = run([str(EXAMPLES / client_script), str(server.port), "--server-hostname", "orders.internal"], cwd=workdir)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "code=verify-failed reasons=name-mismatch" in r.stderr, r.stderr
    assert server.finish() == 1, server.out + server.err
    assert "refused:" in server.out and "code=peer-rejected" in server.out, server.out


def test_client_not_allowed_by_policy(workdir: Path, servers: List[Server]) -> None:
    server = Server("server.py", workdir, "--peer", "uri:spiffe://example.org/payments")
    servers.append(server)
    r = run([str(EXAMPLES / "client.py"), str(server.port)], cwd=workdir)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "code=peer-rejected" in r.stderr and "alert=access_denied" in r.stderr, r.stderr
    assert server.finish() == 1, server.out + server.err
    assert "code=verify-failed reasons=policy" in server.out, server.out


def test_server_serves_others_while_a_client_sits_idle(workdir: Path, servers: List[Server]) -> None:
    """An idle TCP connection (no ClientHello) does not stall the next client."""
    server = Server("server.py", workdir, once=False)
    servers.append(server)
    with socket.create_connection(("127.0.0.1", server.port)):
        start = time.monotonic()
        r = run([str(EXAMPLES / "client.py"), str(server.port), "while one idles"], cwd=workdir, timeout=15)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "reply: while one idles" in r.stdout
        assert time.monotonic() - start < 10
    server.stop()
    assert "spiffe://example.org/client" in server.out, server.out


def test_server_ends_an_idle_handshake_after_handshake_timeout(workdir: Path, servers: List[Server]) -> None:
    """One worker: the idle client holds it only until --handshake-timeout."""
    server = Server("server.py", workdir, "--workers", "1", "--handshake-timeout", "0.5", once=False)
    servers.append(server)
    with socket.create_connection(("127.0.0.1", server.port)):
        time.sleep(0.1)  # the worker takes the idle connection first
        r = run([str(EXAMPLES / "client.py"), str(server.port), "after the idle one"], cwd=workdir, timeout=15)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "reply: after the idle one" in r.stdout
    server.stop()
    assert "refused: handshake timed out: the server waited 0.5 s for the client's ClientHello" in server.out, \
        server.out
    assert "code=timeout" in server.out


ROOT = EXAMPLES.parents[1]


@pytest.fixture
def lua_server(workdir: Path) -> Iterator[subprocess.Popen[str]]:
    """examples/lua/server.lua under lua5.4 with this checkout's build, --handshake-timeout 0.5."""
    import os
    import shutil

    so = ROOT / "build" / "lua" / "5.4" / "mutls.so"
    if not shutil.which("lua5.4") or not so.exists():
        pytest.skip("lua5.4 or build/lua/5.4/mutls.so missing (bash bindings-lua/run-tests builds it)")
    if subprocess.run(["lua5.4", "-e", "require 'socket'"], capture_output=True).returncode != 0:
        pytest.skip("LuaSocket is not installed for lua5.4")
    env = dict(os.environ, LUA_CPATH=f"{so.parent}/?.so;;", LUA_PATH=f"{ROOT}/bindings-lua/?.lua;;")
    p = subprocess.Popen(["lua5.4", str(ROOT / "examples" / "lua" / "server.lua"), "--port", "0",
                          "--handshake-timeout", "0.5"], cwd=workdir, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield p
    if p.poll() is None:
        p.kill()
    p.communicate(timeout=10)


def test_lua_server_serves_others_while_a_client_sits_idle(workdir: Path,
                                                         lua_server: subprocess.Popen[str]) -> None:
    assert lua_server.stdout is not None
    ready, _, _ = select.select([lua_server.stdout], [], [], TIMEOUT)
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", lua_server.stdout.readline().strip() if ready else "")
    assert m, "server.lua did not start"
    port = int(m.group(1))
    with socket.create_connection(("127.0.0.1", port)):
        start = time.monotonic()
        for text in ("while one idles", "and again"):
            r = run([str(EXAMPLES / "client.py"), str(port), text + "\n"], cwd=workdir, timeout=15)  # a line
            assert r.returncode == 0, r.stdout + r.stderr
            assert f"reply: {text}" in r.stdout
        assert time.monotonic() - start < 10
        time.sleep(1.5)  # past --handshake-timeout: the idle handshake was ended
    lua_server.kill()
    out, _ = lua_server.communicate(timeout=10)
    assert out.count("is spiffe://example.org/client") == 2, out
    assert "refused: handshake timed out: the server waited 0.5 s for the client's ClientHello" in out, out


def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    scripts = sorted(str(p) for p in EXAMPLES.glob("*.py"))
    assert len(scripts) >= 5
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), *scripts],
                       capture_output=True, text=True, timeout=300, cwd=EXAMPLES)
    assert r.returncode == 0, r.stdout + r.stderr
