"""The engine of bench/run: runs every benchmark, interleaved, and prints one
markdown table (medians, ratios against raw GnuTLS).

Workers (one process per implementation and role) do the work; this file
only sends them commands and times nothing itself except certtool:

    raw     bench/c/bench_worker.c raw     GnuTLS directly, the ceiling
    c       bench/c/bench_worker.c mutls   mutls from C
    py      bench/py_worker.py mutls       mutls from Python
    lua     bench/lua_worker.lua mutls     mutls from Lua 5.4
    jit     bench/lua_worker.lua mutls     mutls from LuaJIT
    ssl     bench/py_worker.py ssl         Python's ssl (OpenSSL); trustme and
                                           certtool for the TestCA row
    luasec  bench/lua_worker.lua luasec    LuaSec (OpenSSL) on Lua 5.4

For every row, each implementation is first calibrated (warm-up runs that
also pick a count filling about --seconds), then the repetitions run with
the implementations interleaved (the order rotates each repetition), so that
machine noise hits all of them alike; the figure is the median.

Every handshake in every worker checks that both peers were verified; a
failure is an error (the cell reads FAILED and the exit status is 1).

Usage (bench/run calls this after building):
    python3 bench/driver.py [--smoke] [--reps N] [--seconds S] [--only SECTIONS]
                            [--save | --no-save]
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
BENCH = os.path.join(ROOT, "bench")
# Not realpath(): a venv's python is a symlink to the base interpreter, and
# only the venv's path sees the venv's packages (mutls, trustme).
PYTHON = sys.executable

CG_REPS = 3  # callgrind counts hardly vary; each run is 50x slower than native

IMPLS = ["raw", "c", "py", "lua", "jit", "ssl", "luasec"]
HEAD = {
    "raw": "raw GnuTLS (C)",
    "c": "mutls C",
    "py": "mutls Python",
    "lua": "mutls Lua 5.4",
    "jit": "mutls LuaJIT",
    "ssl": "Python ssl / trustme",
    "luasec": "LuaSec / certtool",
}
MUTLS_LANGS = ["c", "py", "lua", "jit"]
KT_LABEL = {"p256": "P-256", "ed25519": "Ed25519", "rsa2048": "RSA-2048"}
CIPHER_LABEL = {"aes128gcm": "AES-128-GCM", "chacha20": "ChaCha20-Poly1305"}
SUITE = {"aes128gcm": "TLS_AES_128_GCM_SHA256", "chacha20": "TLS_CHACHA20_POLY1305_SHA256"}

NOTES = {
    "nomem": "LuaSec has no memory mode: it only runs over a socket",
    "noresume": "LuaSec has no session resumption API (no way to hand a session or ticket to a new connection)",
    "nocg": "LuaSec needs a socket; callgrind figures are in-memory loops",
}


class BenchError(Exception):
    pass


# ---- rows --------------------------------------------------------------------

class Row:
    def __init__(self, rid, section, kind, label, unit, **kw):
        self.id, self.section, self.kind, self.label, self.unit = rid, section, kind, label, unit
        self.transport = kw.get("transport", "mem")
        self.kt = kw.get("kt", "p256")
        self.ver = kw.get("ver", "1.3")
        self.cipher = kw.get("cipher")
        self.size = kw.get("size")
        self.na = dict(kw.get("na", {}))  # impl -> note key
        self.lower_better = kw.get("lower_better", False)

    def impls(self):
        return [i for i in IMPLS if i not in self.na]


def make_rows():
    rows = []
    hs_cases = [("1.3", "p256"), ("1.3", "ed25519"), ("1.3", "rsa2048"), ("1.2", "p256")]
    for tr in ("mem", "tcp"):
        where = "in memory" if tr == "mem" else "loopback TCP"
        na = {"luasec": "nomem"} if tr == "mem" else {}
        for ver, kt in hs_cases:
            rows.append(Row(f"hs-{tr}-{ver}-{kt}", "handshake", "hs",
                            f"Full mTLS handshakes, TLS {ver} {KT_LABEL[kt]}, {where}", "handshakes/s",
                            transport=tr, kt=kt, ver=ver, na=na))
    for tr in ("mem", "tcp"):
        where = "in memory" if tr == "mem" else "loopback TCP"
        na = {"luasec": "nomem" if tr == "mem" else "noresume"}
        for ver in ("1.3", "1.2"):
            rows.append(Row(f"resume-{tr}-{ver}", "resume", "resume",
                            f"Resumed handshakes (ticket), TLS {ver} P-256, {where}", "handshakes/s",
                            transport=tr, ver=ver, na=na))
    for tr in ("mem", "tcp"):
        where = "in memory" if tr == "mem" else "loopback TCP"
        na = {"luasec": "nomem"} if tr == "mem" else {}
        for cipher in ("aes128gcm", "chacha20"):
            for size in (16384, 1024):
                rows.append(Row(f"bulk-{tr}-{cipher}-{size}", "bulk", "bulk",
                                f"Bulk one way, {CIPHER_LABEL[cipher]}, {size // 1024} KiB writes, {where}",
                                "MB/s", transport=tr, cipher=cipher, size=size, na=na))
    rows.append(Row("pki", "pki", "pki", "TestCA: P-256 leaves issued (key, certificate, PEM)", "leaves/s"))
    rows.append(Row("cg-hs", "callgrind", "cg-hs",
                    "Instructions per full handshake (callgrind), TLS 1.3 P-256, in memory",
                    "instructions", na={"luasec": "nocg"}, lower_better=True))
    for ver in ("1.3", "1.2"):
        rows.append(Row(f"cg-resume-{ver}", "callgrind", "cg-resume",
                        f"Instructions per resumed handshake (callgrind), TLS {ver} P-256, in memory",
                        "instructions", ver=ver, na={"luasec": "nocg"}, lower_better=True))
    rows.append(Row("rss", "rss", "rss",
                    "Peak RSS growth of a server holding 1,000 idle TLS 1.3 P-256 sessions (TCP)",
                    "MiB", lower_better=True))
    return rows


# ---- workers -------------------------------------------------------------------

def worker_argv(impl, pki):
    """argv and extra environment of a worker process."""
    lua_path = os.path.join(ROOT, "bindings-lua", "?.lua") + ";;"
    if impl in ("raw", "c"):
        return [os.path.join(BUILD, "bench_worker"), "raw" if impl == "raw" else "mutls", pki], {}
    if impl in ("py", "ssl"):
        return [PYTHON, os.path.join(BENCH, "py_worker.py"), "mutls" if impl == "py" else "ssl", pki], {}
    if impl == "lua":
        return (["lua5.4", os.path.join(BENCH, "lua_worker.lua"), "mutls", pki],
                {"LUA_CPATH": os.path.join(BUILD, "lua", "5.4", "?.so") + ";;", "LUA_PATH": lua_path})
    if impl == "jit":
        return (["luajit", os.path.join(BENCH, "lua_worker.lua"), "mutls", pki],
                {"LUA_CPATH": os.path.join(BUILD, "lua", "jit", "?.so") + ";;", "LUA_PATH": lua_path})
    if impl == "luasec":
        return ["lua5.4", os.path.join(BENCH, "lua_worker.lua"), "luasec", pki], {"LUA_PATH": lua_path}
    raise ValueError(impl)


class Worker:
    def __init__(self, ctx, impl, extra_env=None):
        argv, env = worker_argv(impl, ctx.pki)
        full_env = dict(os.environ)
        full_env.update(env)
        full_env.update(extra_env or {})
        self.impl = impl
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                  text=True, bufsize=1, env=full_env, cwd=ROOT)
        self.port = None

    def send(self, line):
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            raise BenchError(f"{self.impl} worker is gone: {self.stderr()}")

    def recv(self, timeout):
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise BenchError(f"{self.impl} worker gave no answer in {timeout:.0f} s")
        line = self.p.stdout.readline()
        if not line:
            raise BenchError(f"{self.impl} worker died: {self.stderr()}")
        line = line.strip()
        if not line.startswith("ok"):
            raise BenchError(f"{self.impl}: {line[4:] if line.startswith('err') else line}")
        return line.split()[1:]

    def cmd(self, line, timeout):
        self.send(line)
        return self.recv(timeout)

    def stderr(self):
        try:
            self.err.seek(0)
            return " ".join(self.err.read().split())[-400:] or "(no stderr)"
        except OSError:
            return "(no stderr)"

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.kill()
        self.err.close()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Pool:
    """Long-lived workers: (impl, role, env tag) -> Worker."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.workers = {}

    def get(self, impl, role="main", cipher=None):
        env_tag = cipher if impl == "ssl" and cipher else ""
        key = (impl, role, env_tag)
        w = self.workers.get(key)
        if w is None or w.p.poll() is not None:
            extra = {"OPENSSL_CONF": self.ctx.openssl_conf(cipher)} if env_tag else {}
            w = Worker(self.ctx, impl, extra)
            if role == "server":
                w.port = int(w.cmd("listen", 30)[0])
            self.workers[key] = w
        return w

    def drop(self, impl):
        for key in [k for k in self.workers if k[0] == impl]:
            self.workers.pop(key).kill()

    def close(self):
        for w in self.workers.values():
            w.close()
        self.workers = {}


# ---- the context of a run ------------------------------------------------------------

class Ctx:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.tmp = tempfile.mkdtemp(prefix="mutls-bench-")
        self.pki = os.path.join(self.tmp, "pki")
        self.timeout = 60 if self.smoke else 180

    def openssl_conf(self, cipher):
        path = os.path.join(self.tmp, f"openssl-{cipher}.cnf")
        if not os.path.exists(path):
            with open(path, "w") as fh:
                fh.write("openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n"
                         "[ssl_sect]\nsystem_default = system_default_sect\n"
                         f"[system_default_sect]\nCiphersuites = {SUITE[cipher]}\n")
        return path

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_pki(ctx):
    """One CA and a server and a client identity per key type, as files."""
    import mutls
    for kt in KT_LABEL:
        d = os.path.join(ctx.pki, kt)
        os.makedirs(d)
        ca = mutls.TestCA(f"bench CA {kt}", key_type=kt)
        server = ca.issue(cn="orders", dns=["orders.internal"], purpose="server", key_type=kt)
        client = ca.issue(cn="payments", uri=["spiffe://example.org/payments"], purpose="client",
                          key_type=kt)
        files = {"ca.pem": ca.cert_pem, "ca.key": ca.key_pem,
                 "server.pem": server.chain_pem, "server.key": server.key_pem,
                 "client.pem": client.chain_pem, "client.key": client.key_pem}
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as fh:
                fh.write(text)
        if kt == "p256":
            make_bad_pkis(ctx, ca, server, client)


# Directories like PKI_DIR/p256 whose handshakes must fail, and who must refuse.
BAD = {
    "badname": "client",     # the server's certificate names billing.internal
    "badpurpose": "client",  # the server's certificate is for TLS clients only
    "badserver": "client",   # the server's certificate is from an untrusted CA
    "badclient": "server",   # the client's certificate is from an untrusted CA
}


def make_bad_pkis(ctx, ca, server, client):
    import mutls
    other = mutls.TestCA("untrusted CA")
    variants = {
        "badname": (ca.issue(cn="billing", dns=["billing.internal"], purpose="server"), client),
        "badpurpose": (ca.issue(cn="orders", dns=["orders.internal"], purpose="client"), client),
        "badserver": (other.issue(cn="orders", dns=["orders.internal"], purpose="server"), client),
        "badclient": (server, other.issue(cn="payments", uri=["spiffe://example.org/payments"],
                                          purpose="client")),
    }
    for name, (srv, cli) in variants.items():
        d = os.path.join(ctx.pki, name)
        os.makedirs(d)
        files = {"ca.pem": ca.cert_pem, "server.pem": srv.chain_pem, "server.key": srv.key_pem,
                 "client.pem": cli.chain_pem, "client.key": cli.key_pem}
        for fname, text in files.items():
            with open(os.path.join(d, fname), "w") as fh:
                fh.write(text)


REFUSAL = re.compile(r"handshake|verif|certificate|alert|unknown.ca|refus|acknowledgement|closed", re.I)


def run_negative(ctx, pool, failures):
    """Every implementation must refuse each bad peer, in memory and over TCP:
    proof that the checks the figures rely on are really made. Returns
    (passed, total)."""
    passed = total = 0
    neg_row = Row("negative", "negative", "negative", "Negative checks (bad peers refused)", "")
    for bad in BAD:
        for tr in ("mem", "tcp"):
            for impl in IMPLS:
                if tr == "mem" and impl == "luasec":
                    continue
                total += 1
                errs = {}
                if tr == "mem":
                    try:
                        pool.get(impl).cmd(f"hs-mem {bad} 1.3 1", 30)
                    except BenchError as e:
                        errs[BAD[bad]] = str(e)  # one process: whichever side refused
                else:
                    server = pool.get(impl, "server")
                    client = pool.get(impl, "main")
                    server.send(f"hs-serve {bad} 1.3 1")
                    for side, fn in (("client", lambda: client.cmd(f"hs-client {bad} 1.3 1 {server.port}", 30)),
                                     ("server", lambda: server.recv(30))):
                        try:
                            fn()
                        except BenchError as e:
                            errs[side] = str(e)
                    pool.drop(impl)
                msg = errs.get(BAD[bad])
                if os.environ.get("BENCH_DEBUG"):
                    print(f"    {bad} {tr} {impl}: {errs}", file=sys.stderr)
                if msg and REFUSAL.search(msg):
                    passed += 1
                else:
                    failures.append((neg_row, impl, f"{bad} over {tr}: the {BAD[bad]} did not refuse "
                                                    f"the bad peer ({errs or 'both sides succeeded'})"))
    return passed, total


# ---- one measurement -------------------------------------------------------------------

def measure(ctx, pool, row, impl, n):
    """Runs row for impl with count n (bytes for bulk); returns the figure.

    In-process rows (memory, TestCA) are timed by the worker's CPU time, so
    that other load on the machine does not count; TCP rows by the client's
    wall clock (two processes and the kernel take part)."""
    to = ctx.timeout
    if row.kind == "pki":
        if impl == "luasec":  # the certtool column: CPU of the certtool processes
            cpu = float(pool.get("ssl").cmd(f"pki-certtool {n}", to)[1])
        else:
            cpu = float(pool.get(impl).cmd(f"pki {n}", to)[1])
        return n / cpu
    if row.transport == "mem":
        w = pool.get(impl, cipher=row.cipher)
        if row.kind == "hs":
            cpu = float(w.cmd(f"hs-mem {row.kt} {row.ver} {n}", to)[1])
        elif row.kind == "resume":
            cpu = float(w.cmd(f"resume-mem {row.kt} {row.ver} {n}", to)[1])
        else:
            cpu = float(w.cmd(f"bulk-mem {row.cipher} {row.size} {n}", to)[1])
            return n / cpu / 1e6
        return n / cpu
    server = pool.get(impl, "server", row.cipher)
    client = pool.get(impl, "main", row.cipher)
    if row.kind == "hs":
        s_cmd = f"hs-serve {row.kt} {row.ver} {n}"
        c_cmd = f"hs-client {row.kt} {row.ver} {n} {server.port}"
    elif row.kind == "resume":
        s_cmd = f"resume-serve {row.kt} {row.ver} {n + 1}"
        c_cmd = f"resume-client {row.kt} {row.ver} {n} {server.port}"
    else:
        s_cmd = f"bulk-serve {row.cipher} {row.size} {n}"
        c_cmd = f"bulk-client {row.cipher} {row.size} {n} {server.port}"
    server.send(s_cmd)
    try:
        t = float(client.cmd(c_cmd, to)[0])
        server.recv(to)
    except BenchError:
        pool.drop(impl)  # a half-done exchange leaves the pair unusable
        raise
    return n / t / 1e6 if row.kind == "bulk" else n / t


def start_count(row, impl):
    if row.kind == "bulk":
        return 1 << 22
    if row.kind == "pki":
        return 3 if impl == "luasec" else 10
    return 10


def smoke_count(row, impl):
    if row.kind == "bulk":
        return 1 << 17
    if row.kind == "pki":
        return 1 if impl == "luasec" else 2
    return 2


def count_for(row, rate, seconds):
    """A count that takes about `seconds` at `rate` (figure units)."""
    if row.kind == "bulk":
        n = int(rate * 1e6 * seconds)
        return max(1 << 20, (n + 65535) // 65536 * 65536)
    return max(3, int(rate * seconds))


def calibrate(ctx, pool, row, impl, seconds):
    n = start_count(row, impl)
    rate = measure(ctx, pool, row, impl, n)
    # a second, longer warm-up where the first was very short (JIT, caches)
    n2 = count_for(row, rate, min(0.15, seconds / 3))
    if n2 > n:
        rate = measure(ctx, pool, row, impl, n2)
    return count_for(row, rate, seconds)


# ---- callgrind ---------------------------------------------------------------------------

def callgrind_total(ctx, impl, cmd):
    argv, env = worker_argv(impl, ctx.pki)
    full_env = dict(os.environ)
    full_env.update(env)
    fd, out = tempfile.mkstemp(prefix="cg-", dir=ctx.tmp)
    os.close(fd)
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv, *cmd.split()],
                       env=full_env, cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        tail = " ".join((p.stdout + p.stderr).split())[-300:]
        raise BenchError(f"{impl} under callgrind: exit {p.returncode}: {tail}")
    total = None
    with open(out) as fh:
        for line in fh:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    os.unlink(out)
    if total is None:
        raise BenchError(f"{impl}: no totals in the callgrind output")
    return total


def run_callgrind(ctx, rows, results, failures):
    """Instructions per handshake: (I(2N) - I(N)) / N, setup subtracted."""
    n_hs, n_res = (1, 1) if ctx.smoke else (5, 10)
    reps = 1 if ctx.smoke else CG_REPS
    jobs = []
    for row in rows:
        n = n_hs if row.kind == "cg-hs" else n_res
        op = "hs-mem p256 1.3" if row.kind == "cg-hs" else f"resume-mem p256 {row.ver}"
        for rep in range(reps):
            for impl in row.impls():
                # smoke: Python's start-up alone is ~250 M instructions (3-4 s
                # under callgrind); its resumption rows run in the full run only
                if ctx.smoke and row.kind != "cg-hs" and impl in ("py", "ssl"):
                    results[row.id][impl] = "smoke"
                    continue
                jobs.append((row, impl, rep, n, op))
    outs = {}

    def one(job):
        row, impl, rep, n, op = job
        a = callgrind_total(ctx, impl, f"{op} {n}")
        b = callgrind_total(ctx, impl, f"{op} {2 * n}")
        return (b - a) / n

    # instruction counts do not depend on load: two at a time
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        futs = {ex.submit(one, j): j for j in jobs}
        for fut in concurrent.futures.as_completed(futs):
            row, impl, rep, n, op = futs[fut]
            try:
                outs.setdefault((row.id, impl), []).append(fut.result())
            except (BenchError, subprocess.TimeoutExpired) as e:
                failures.append((row, impl, str(e)))
                outs.setdefault((row.id, impl), []).append(None)
    for (rid, impl), vals in outs.items():
        results[rid][impl] = vals


# ---- memory use of idle sessions ---------------------------------------------------------------

def run_rss(ctx, row, results, failures):
    n = 5 if ctx.smoke else 1000
    reps = 1 if ctx.smoke else ctx.args.reps
    for rep in range(reps):
        order = row.impls()
        order = order[rep % len(order):] + order[:rep % len(order)]
        for impl in order:
            server = client = None
            try:
                server = Worker(ctx, impl)
                server.port = int(server.cmd("listen", 30)[0])
                client = Worker(ctx, "raw")
                server.send(f"rss-serve p256 1.3 {n}")
                client.cmd(f"rss-client p256 1.3 {n} {server.port}", ctx.timeout)
                growth_kib = int(server.recv(ctx.timeout)[0])
                results[row.id].setdefault(impl, []).append(growth_kib / 1024.0 * 1000.0 / n)
            except BenchError as e:
                failures.append((row, impl, str(e)))
                results[row.id].setdefault(impl, []).append(None)
            finally:
                for w in (client, server):
                    if w:
                        w.kill()
                        w.err.close()


# ---- the timed rows ----------------------------------------------------------------------------

def run_timed(ctx, pool, row, results, failures, progress):
    impls = row.impls()
    tcp = row.transport == "tcp" and row.kind != "pki"
    seconds = ctx.args.tcp_seconds if tcp else ctx.args.seconds
    if row.kind == "bulk":
        seconds *= 0.75
    counts = {}
    for impl in list(impls):
        try:
            counts[impl] = smoke_count(row, impl) if ctx.smoke else calibrate(ctx, pool, row, impl, seconds)
        except BenchError as e:
            failures.append((row, impl, str(e)))
            results[row.id][impl] = [None]
            impls.remove(impl)
    reps = 1 if ctx.smoke else (ctx.args.tcp_reps if tcp else ctx.args.reps)
    for rep in range(reps):
        order = impls[rep % len(impls):] + impls[:rep % len(impls)] if impls else []
        for impl in order:
            if results[row.id].get(impl) == [None]:
                continue
            try:
                v = measure(ctx, pool, row, impl, counts[impl])
                results[row.id].setdefault(impl, []).append(v)
            except BenchError as e:
                failures.append((row, impl, str(e)))
                results[row.id][impl] = [None]
    progress(row)


# ---- HTTP (issue 13) ----------------------------------------------------------------------------

def run_http(ctx, t_start):
    """bench/http_bench.py: requests/s of the FastAPI app, mutls vs ssl
    (its own table; RESULTS.md's HTTP section is written by hand)."""
    sys.path.insert(0, BENCH)
    import http_bench

    def log(text):
        print(f"  [{time.monotonic() - t_start:6.1f}s] HTTP {text}", file=sys.stderr, flush=True)

    return http_bench.run(ctx.pki, PYTHON, ctx.smoke, ctx.args.http_reps, ctx.args.http_seconds,
                          ctx.timeout, log=log)


# ---- formatting --------------------------------------------------------------------------------

def median(vals):
    if not vals or vals == "smoke" or any(v is None for v in vals):
        return None
    return statistics.median(vals)


def fmt_value(row, v):
    if row.unit == "instructions":
        return f"{v / 1e6:.2f} M"
    if row.unit == "MiB":
        return f"{v:.1f} MiB"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def cell(row, impl, med):
    if impl in row.na:
        return "n/a"
    v = med.get(impl)
    if v is None:
        return "skipped" if results_flag(row, impl) == "smoke" else "FAILED"
    text = fmt_value(row, v)
    if impl == "luasec" and row.kind == "pki":
        text = "certtool " + text
    elif impl == "ssl" and row.kind == "pki":
        text = "trustme " + text
    raw = med.get("raw")
    if impl != "raw" and raw:
        text += f" · {v / raw:.2f}x"
    return text


_RESULTS = {}


def results_flag(row, impl):
    return _RESULTS.get(row.id, {}).get(impl)


def table(rows, results):
    _RESULTS.update(results)
    meds = {r.id: {i: median(results[r.id].get(i)) for i in r.impls()} for r in rows}
    lines = ["| Benchmark | unit | " + " | ".join(HEAD[i] for i in IMPLS) + " |",
             "|---|---|" + "---:|" * len(IMPLS)]
    for r in rows:
        lines.append(f"| {r.label} | {r.unit} | " + " | ".join(cell(r, i, meds[r.id]) for i in IMPLS) + " |")
    return "\n".join(lines), meds


def ratio(meds, rid, impl, base="raw"):
    m = meds.get(rid, {})
    if m.get(impl) is None or not m.get(base):
        return None
    return m[impl] / m[base]


def targets(rows, meds):
    """The issue's targets: list of (ok, text)."""
    out = []
    by_id = {r.id: r for r in rows}

    def add(ok, text):
        out.append((ok, text))

    for r in rows:
        if r.kind in ("hs", "resume"):
            for impl in ("py", "lua", "jit"):
                q = ratio(meds, r.id, impl)
                if q is not None:
                    add(q >= 0.95, f"{r.label}: {HEAD[impl]} {q:.3f}x raw (target >= 0.95x)")
        if r.kind == "bulk":
            limit = 0.90 if r.size == 16384 else 0.80
            for impl in MUTLS_LANGS:
                q = ratio(meds, r.id, impl)
                if q is not None:
                    add(q >= limit, f"{r.label}: {HEAD[impl]} {q:.3f}x raw (target >= {limit:.2f}x)")
        if r.kind in ("cg-hs", "cg-resume"):
            for impl in MUTLS_LANGS:
                q = ratio(meds, r.id, impl)
                if q is not None:
                    add(q <= 1.05, f"{r.label}: {HEAD[impl]} {q:.3f}x raw (target <= 1.05x)")
        ecdsa_like = r.kind in ("hs", "resume") and r.kt in ("p256", "ed25519")
        aes = r.kind == "bulk" and r.cipher == "aes128gcm"
        if ecdsa_like or aes:
            m = meds[r.id]
            for mine, theirs in (("py", "ssl"), ("lua", "luasec"), ("jit", "luasec")):
                if m.get(mine) is not None and m.get(theirs) is not None and theirs not in r.na:
                    add(m[mine] > m[theirs],
                        f"{r.label}: {HEAD[mine]} {fmt_value(r, m[mine])} vs "
                        f"{HEAD[theirs].split(' /')[0]} {fmt_value(r, m[theirs])} (target: ahead)")
    if "pki" in by_id:
        m = meds["pki"]
        for impl in MUTLS_LANGS:
            if m.get(impl) is not None and m.get("ssl") is not None:
                add(m[impl] > m["ssl"], f"TestCA: {HEAD[impl]} {m[impl]:,.0f} leaves/s vs trustme "
                                        f"{m['ssl']:,.0f} (target: faster)")
    return out


# ---- machine and results file ----------------------------------------------------------------------

def sh(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    import ssl
    lscpu = sh(["lscpu"])
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    info = {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "gnutls": (re.search(r"gnutls-cli ([\d.]+)", sh(["gnutls-cli", "--version"])) or [None, "?"])[1],
        "openssl": ssl.OPENSSL_VERSION,
        "python": platform.python_version(),
        "lua": sh(["lua5.4", "-v"]).strip().split("  ")[0],
        "luajit": sh(["luajit", "-v"]).strip().split(" --")[0],
        "luasec": sh(["lua5.4", "-e", "io.write(require('ssl')._VERSION)"]).strip(),
        "trustme": sh([PYTHON, "-c", "import importlib.metadata as m; print(m.version('trustme'))"]).strip(),
        "certtool": sh(["certtool", "--version"]).splitlines()[0] if sh(["certtool", "--version"]) else "?",
        "valgrind": sh(["valgrind", "--version"]).strip(),
    }
    return info


def machine_md(info, started, duration, args):
    return "\n".join([
        f"Run: {started:%Y-%m-%d %H:%M} UTC, `bash bench/run` (full), {duration / 60:.1f} minutes; "
        f"medians of interleaved repetitions: {args.reps} of about {args.seconds:g} s of CPU time "
        f"for in-process rows, {args.tcp_reps} of about {args.tcp_seconds:g} s of wall time for TCP "
        f"rows; callgrind: medians of {CG_REPS}; RSS: {args.reps} fresh server processes.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}; "
        f"GnuTLS {info['gnutls']}, {info['openssl']}, Python {info['python']}, {info['lua']}, "
        f"{info['luajit']}, LuaSec {info['luasec']}, trustme {info['trustme']}, {info['certtool']}, "
        f"{info['valgrind']}.",
    ])


FOOTNOTES = """Cells: the median, then the ratio against raw GnuTLS (C) in the same run
(for instructions and RSS lower is better). Every handshake verified both
peers (chain to the test CA, key purpose, and the server's name), in every
implementation. n/a: LuaSec has no memory mode (it only runs over a socket)
and no session resumption API. The TestCA row compares mutls's TestCA with
a GnuTLS C loop doing the same (key, certificate, signature, PEM of both),
trustme (in the Python ssl column) and two certtool processes per leaf (in
the LuaSec column). MB/s is 10^6 bytes of plaintext per second; bulk over
TCP is timed by the sender from the first write to the receiver's
one-byte acknowledgement. Defaults otherwise: GnuTLS's NORMAL priority
(TLS 1.3 suite TLS_AES_256_GCM_SHA384, key share secp256r1) for raw GnuTLS
and mutls, OpenSSL's defaults (TLS_AES_256_GCM_SHA384, key share X25519)
for Python's ssl and LuaSec; bulk rows pin the suite in every
implementation (GnuTLS priority string; OpenSSL Ciphersuites) and check it."""


def write_results(table_md, targets_list, info, started, duration, args, failures, neg):
    path = os.path.join(BENCH, "RESULTS.md")
    misses = [t for ok, t in targets_list if not ok]
    met = sum(1 for ok, _ in targets_list if ok)
    gen = [
        machine_md(info, started, duration, args), "",
        table_md, "",
        FOOTNOTES, "",
    ]
    if neg:
        gen += [f"Negative checks in the same run: {neg[0]} of {neg[1]} bad-peer handshakes were refused "
                "(server certificate with the wrong name, for the wrong purpose or from an untrusted CA; "
                "client certificate from an untrusted CA; in memory and over TCP, every implementation).",
                ""]
    gen += [
        f"Targets from issue 6: {met} met, {len(misses)} missed.",
    ]
    if misses:
        gen += ["", "Missed:", ""] + [f"- {t}" for t in misses]
    if failures:
        gen += ["", "FAILURES:", ""] + [f"- {r.label} / {HEAD[i]}: {m}" for r, i, m in failures]
    block = "<!-- BEGIN GENERATED (bench/run replaces this block) -->\n" + "\n".join(gen) + \
        "\n<!-- END GENERATED -->"
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
        if "<!-- BEGIN GENERATED" in old and "<!-- END GENERATED -->" in old:
            new = re.sub(r"<!-- BEGIN GENERATED.*?<!-- END GENERATED -->", lambda _: block, old,
                         flags=re.S)
        else:
            new = old.rstrip() + "\n\n" + block + "\n"
    else:
        new = ("# mutls benchmarks: results\n\n`bash bench/run` wrote the block below; "
               "the analysis after it is written by hand.\n\n" + block +
               "\n\n## Analysis\n\n(to be written)\n")
    with open(path, "w") as fh:
        fh.write(new)
    return path


def chart(rows, meds, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ["c", "py", "lua", "jit", "ssl", "luasec"]
    colors = {"c": "#1f77b4", "py": "#2ca02c", "lua": "#9467bd", "jit": "#8c564b",
              "ssl": "#ff7f0e", "luasec": "#d62728"}
    names = {"c": "mutls C", "py": "mutls Python", "lua": "mutls Lua 5.4", "jit": "mutls LuaJIT",
             "ssl": "Python ssl (OpenSSL)", "luasec": "LuaSec (OpenSSL)"}
    top = 1.6  # taller bars are cut here and labelled with their value
    panels = [
        ("Handshakes per second (full and resumed), ratio to raw GnuTLS; dashed: target 0.95",
         [r for r in rows if r.kind in ("hs", "resume")], [0.95]),
        ("Bulk throughput one way, ratio to raw GnuTLS; dashed: targets 0.90 (16 KiB) and 0.80 (1 KiB)",
         [r for r in rows if r.kind == "bulk"], [0.90, 0.80]),
    ]
    fig, axes = plt.subplots(2, 1, figsize=(15, 12))
    handles = {}
    for ax, (title, prow, lines) in zip(axes, panels):
        width = 0.8 / len(shown)
        for k, impl in enumerate(shown):
            xs, ys = [], []
            for j, r in enumerate(prow):
                q = ratio(meds, r.id, impl)
                if q is not None:
                    x = j + (k - (len(shown) - 1) / 2) * width
                    xs.append(x)
                    ys.append(min(q, top))
                    if q > top:
                        ax.text(x, top + 0.01, f"{q:.1f}x", rotation=90, ha="center", va="bottom",
                                fontsize=7, color=colors[impl])
            handles[impl] = ax.bar(xs, ys, width, label=names[impl], color=colors[impl])
        ax.axhline(1.0, color="black", linewidth=1)
        for y in lines:
            ax.axhline(y, color="gray", linestyle="--", linewidth=1)
        labels = [r.label.replace("Full mTLS handshakes, ", "full ")
                  .replace("Resumed handshakes (ticket), ", "resumed ")
                  .replace("Bulk one way, ", "").replace("loopback TCP", "TCP").replace("in memory", "memory")
                  .replace("ChaCha20-Poly1305", "ChaCha20")
                  for r in prow]
        ax.set_xticks(range(len(prow)))
        ax.set_xticklabels(labels, rotation=25, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("x raw GnuTLS (same run)")
        ax.set_ylim(0, top + 0.25)
        ax.set_xlim(-0.6, len(prow) - 0.4)
        ax.grid(axis="y", alpha=0.3)
    fig.legend([handles[i] for i in shown], [names[i] for i in shown], ncol=6, loc="lower center",
               fontsize=9, frameon=False)
    fig.suptitle("mutls against raw GnuTLS, Python's ssl and LuaSec (bench/run; medians, one run)")
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---- main --------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="mutls benchmarks (see bench/run)")
    ap.add_argument("--smoke", action="store_true", help="every benchmark once with tiny counts")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.4,
                    help="target CPU time of one in-process repetition")
    ap.add_argument("--tcp-reps", type=int, default=9, help="repetitions of a TCP row")
    ap.add_argument("--tcp-seconds", type=float, default=0.25,
                    help="target wall time of one TCP repetition")
    ap.add_argument("--http-reps", type=int, default=9, help="repetitions of an HTTP row")
    ap.add_argument("--http-seconds", type=float, default=1.0,
                    help="target wall time of one HTTP repetition")
    ap.add_argument("--only", default="",
                    help="comma list of sections: negative,handshake,resume,bulk,pki,callgrind,rss,http")
    ap.add_argument("--save", dest="save", action="store_true", default=None,
                    help="write bench/RESULTS.md and bench/ratios.png (default for a full run of everything)")
    ap.add_argument("--no-save", dest="save", action="store_false")
    args = ap.parse_args()
    if args.reps < 1 or args.tcp_reps < 1:
        ap.error("--reps and --tcp-reps must be >= 1")
    only = {s for s in args.only.split(",") if s}
    save = args.save if args.save is not None else (not args.smoke and not only)

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    ctx = Ctx(args)
    rows = [r for r in make_rows() if not only or r.section in only]
    results = {r.id: {} for r in rows}
    failures = []
    pool = Pool(ctx)
    neg = None
    http = None

    def progress(row):
        m = {i: median(results[row.id].get(i)) for i in row.impls()}
        parts = [f"{i} {fmt_value(row, v)}" if v is not None else
                 f"{i} {'skipped' if results[row.id].get(i) == 'smoke' else 'FAILED'}" for i, v in m.items()]
        print(f"  [{time.monotonic() - t_start:6.1f}s] {row.label}: " + ", ".join(parts),
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    try:
        make_pki(ctx)
        print(f"mutls benchmarks ({'smoke' if ctx.smoke else 'full'}): {len(rows)} rows", file=sys.stderr)
        if not only or "negative" in only:
            neg = run_negative(ctx, pool, failures)
            print(f"  [{time.monotonic() - t_start:6.1f}s] negative checks: {neg[0]}/{neg[1]} refused",
                  file=sys.stderr, flush=True)
        for r in rows:
            if r.section in ("handshake", "resume", "bulk", "pki"):
                run_timed(ctx, pool, r, results, failures, progress)
        pool.close()
        cg_rows = [r for r in rows if r.section == "callgrind"]
        if cg_rows:
            if shutil.which("valgrind"):
                run_callgrind(ctx, cg_rows, results, failures)
                for r in cg_rows:
                    progress(r)
            else:
                for r in cg_rows:
                    failures.append((r, "raw", "valgrind is not installed"))
        for r in rows:
            if r.section == "rss":
                run_rss(ctx, r, results, failures)
                progress(r)
        if not only or "http" in only:
            http = run_http(ctx, t_start)
    finally:
        pool.close()
        ctx.cleanup()

    duration = time.monotonic() - t_start
    table_md, meds = table(rows, results)
    if rows:
        print(table_md)
        print()
    if neg:
        print(f"Negative checks: {neg[0]} of {neg[1]} bad-peer handshakes refused "
              "(wrong name, wrong purpose, untrusted server, untrusted client; memory and TCP).")
    tl = targets(rows, meds) if not ctx.smoke else []
    if tl:
        misses = [t for ok, t in tl if not ok]
        print(f"Targets from issue 6: {len(tl) - len(misses)} met, {len(misses)} missed.")
        for t in misses:
            print(f"- missed: {t}")
    for r, impl, msg in failures:
        print(f"FAILED: {r.label} / {HEAD[impl]}: {msg}")
    if http:
        print()
        print(http[0])
        for ok, text in (http[1] if not ctx.smoke else []):
            print(f"- {'met' if ok else 'missed'}: {text}")
        for where, msg in http[2]:
            print(f"FAILED: HTTP {where}: {msg}")
    print(f"({'smoke' if ctx.smoke else 'full'} run: {duration:.1f} s)")

    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, "bench-results.json"), "w") as fh:
        json.dump({"started": started.isoformat(), "duration_s": duration, "smoke": ctx.smoke,
                   "results": results, "medians": meds,
                   "failures": [(r.id, i, m) for r, i, m in failures]}, fh, indent=1)
    if save:
        info = machine()
        path = write_results(table_md, tl, info, started, duration, args, failures, neg)
        chart(rows, meds, os.path.join(BENCH, "ratios.png"))
        print(f"wrote {os.path.relpath(path, ROOT)} and bench/ratios.png", file=sys.stderr)
    return 1 if failures or (http and http[2]) else 0


if __name__ == "__main__":
    sys.exit(main())
