"""Every code example in the docs runs as written.

Each fenced ```python block of the docs below runs in its own interpreter
(a block of pytest tests, with `def test_...`, runs under pytest), each
```lua block under lua5.4 with the build tree on LUA_CPATH/LUA_PATH, in a
fresh temporary directory, bounded. A block whose info string has a second
word (```lua openresty, ```python fragment) is not run on its own: the
OpenResty ones are the files of examples/openresty/, run by
test_openresty_example below under nginx + the Lua module."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import List, Tuple

import pytest

import mutls

ROOT = Path(__file__).resolve().parents[2]
# the docs whose examples are written to run as they stand
DOCS = [ROOT / "docs" / name for name in ("reference.md", "testing-guide.md", "openresty.md", "errors.md")]
DOCS = [d for d in DOCS if d.exists()]
TIMEOUT = 60.0

FENCE = re.compile(r"^```([a-z0-9]+)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def blocks(lang: str) -> List[Tuple[str, int, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) != lang or m.group(2).strip():
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append((doc.name, line, m.group(3)))
    return found


def lua_env() -> dict:
    e = dict(os.environ)
    e["LUA_CPATH"] = f"{ROOT}/build/lua/5.4/?.so;;"
    e["LUA_PATH"] = f"{ROOT}/bindings-lua/?.lua;{ROOT}/bindings-lua/?/init.lua;;"
    return e


def py_env() -> dict:
    e = dict(os.environ)
    # the mutls this test imported (the venv's, or the ASan build under
    # scripts/sanitize-bindings), never another copy from the tree
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(mutls.__file__).parent.parent), e.get("PYTHONPATH")]))
    e["MUTLS_ROOT"] = str(ROOT)
    return e


PY = blocks("python")
LUA = blocks("lua")


@pytest.mark.parametrize("doc,line,code", PY, ids=[f"{d}:{n}" for d, n, _ in PY])
def test_python_example(doc: str, line: int, code: str, tmp_path: Path) -> None:
    if re.search(r"^def test_", code, re.M):
        # a block of pytest tests (using the mutls fixtures): run it with pytest
        (tmp_path / "test_example.py").write_text(code)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"]
    else:
        cmd = [sys.executable, "-c", code]
    r = subprocess.run(cmd, cwd=tmp_path, env=py_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, f"{doc}:{line}\n{r.stdout}\n{r.stderr}"


@pytest.mark.skipif(shutil.which("lua5.4") is None or not (ROOT / "build/lua/5.4/mutls.so").exists(),
                    reason="lua5.4 or the Lua 5.4 module (build/lua/5.4/mutls.so) is missing")
@pytest.mark.parametrize("doc,line,code", LUA, ids=[f"{d}:{n}" for d, n, _ in LUA])
def test_lua_example(doc: str, line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.lua"
    script.write_text(code)
    r = subprocess.run(["lua5.4", str(script)], cwd=tmp_path, env=lua_env(), capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, f"{doc}:{line}\n{r.stdout}\n{r.stderr}"


def test_every_doc_has_runnable_examples() -> None:
    names = {d for d, _, _ in PY + LUA}
    for doc in ("reference.md", "testing-guide.md", "errors.md"):
        assert doc in names, doc


# ---------------------------------------------------------------- OpenResty

NGINX_LUA = Path("/usr/lib/nginx/modules/ngx_http_lua_module.so")


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.skipif(shutil.which("nginx") is None or not NGINX_LUA.exists()
                    or not (ROOT / "build/lua/jit/mutls.so").exists(),
                    reason="nginx with the Lua module, or the LuaJIT mutls module (build/lua/jit), is missing")
def test_openresty_example(tmp_path: Path) -> None:
    """examples/openresty as docs/openresty.md runs it, on free ports: a
    prefix with the PKI, `mutls serve` as the upstream, nginx, /orders and
    /proof."""
    prefix = tmp_path / "prefix"
    (prefix / "build/openresty/logs").mkdir(parents=True)
    for sub in ("bindings-lua", "examples"):
        (prefix / sub).symlink_to(ROOT / sub)
    (prefix / "build/lua").symlink_to(ROOT / "build/lua")
    r = subprocess.run([sys.executable, "-m", "mutls", "ca", str(prefix / "build/openresty/pki")],
                       env=py_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    pki = prefix / "build/openresty/pki"
    http_port = free_port()
    conf = (ROOT / "examples/openresty/nginx.conf").read_text()
    conf = conf.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{http_port};")
    conf = conf.replace("worker_processes 1;", "worker_processes 1;\ndaemon off;\nmaster_process on;")
    (prefix / "nginx.conf").write_text(conf)

    upstream = subprocess.Popen([sys.executable, "-m", "mutls", "serve", "--cert", str(pki / "server/chain.pem"),
                                 "--key", str(pki / "server/key.pem"), "--ca", str(pki / "ca.pem")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=py_env())
    nginx = None
    try:
        assert upstream.stdout is not None
        ready, _, _ = select.select([upstream.stdout], [], [], TIMEOUT)
        first = upstream.stdout.readline() if ready else ""
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", first.strip())
        assert m, first
        env = dict(os.environ, MUTLS_UPSTREAM=f"127.0.0.1:{m.group(1)}")
        nginx = subprocess.Popen(["nginx", "-p", f"{prefix}/", "-c", "nginx.conf"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def get(path: str) -> Tuple[int, str]:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=20) as resp:
                        return resp.status, resp.read().decode()
                except urllib.error.HTTPError as exc:
                    return exc.code, exc.read().decode()
                except OSError:
                    if time.monotonic() > deadline or nginx.poll() is not None:
                        raise
                    time.sleep(0.1)

        status, body = get("/orders")
        log = (prefix / "build/openresty/logs/error.log")
        assert status == 200, body + (log.read_text() if log.exists() else "")
        assert "upstream CN=localhost (verified, TLSv1.3" in body
        assert "reply: order 42: status?" in body
        status, body = get("/proof?n=20")
        assert status == 200 and "20 mTLS calls in" in body and ": 20 ok, 0 failed" in body, body
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        upstream.kill()
        upstream.wait()


# ---------------------------------------------------------------- the contract

HEADER = ROOT / "csrc" / "include" / "mutls.h"
CONTRACT = ROOT / "docs" / "design.md"


def header_codes() -> List[str]:
    """The code names the header gives each MUTLS_E* value ("want-read", ...)."""
    codes = re.findall(r'^\s*MUTLS_E[A-Z]+\s*=\s*-\d+,?\s*/\*\s*"([a-z-]+)"', HEADER.read_text(), re.M)
    assert len(codes) >= 12, codes
    return codes


def header_reasons() -> List[str]:
    """Every MUTLS_REASON_* bit, named as mutls_reason_name names it."""
    names = re.findall(r"^#define MUTLS_REASON_([A-Z_]+)\s+\(1u << \d+\)", HEADER.read_text(), re.M)
    return [n.lower().replace("_", "-") for n in names]


def test_header_names_are_the_bindings_names() -> None:
    import mutls

    assert set(header_reasons()) == set(mutls.REASONS)
    assert set(header_codes()) - {"out-of-memory"} == set(mutls.CODES)


@pytest.mark.parametrize("doc", ["design.md", "errors.md"])
def test_every_code_and_reason_is_documented(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    missing = [n for n in header_codes() + header_reasons() if f"`{n}`" not in text]
    assert not missing, f"docs/{doc} does not name: {missing}"


def test_contract_names_every_config_option_and_certificate_field() -> None:
    """The options the Python binding takes and the Certificate fields it has
    are all in docs/design.md."""
    import inspect

    import mutls

    text = CONTRACT.read_text()
    stub = (ROOT / "bindings-python" / "mutls" / "_mutls.pyi").read_text()
    init = re.search(r"class Config:\n    def __init__\(\n(.*?)\) -> None", stub, re.S)
    assert init is not None
    options = re.findall(r"^\s+([a-z_]+): ", init.group(1), re.M)
    assert "certificate" in options and "trace" in options
    fields = [n for n, v in inspect.getmembers(mutls.Certificate) if not n.startswith("_")]
    missing = [n for n in options + fields if f"`{n}" not in text]
    assert not missing, f"docs/design.md does not name: {missing}"


def test_no_file_cites_a_design_file_outside_the_repository() -> None:
    """The contract is docs/design.md; nothing points at a DESIGN file that
    only existed outside the repository."""
    needle = "DESIGN" + ".md"  # spelled so that this file does not match itself
    r = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    files = [f for f in r.stdout.decode().split("\0") if f]
    assert "docs/design.md" in files or CONTRACT.exists()
    offenders = []
    for name in files:
        path = ROOT / name
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if needle in line or "/work/" + "shared" in line:
                offenders.append(f"{name}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
