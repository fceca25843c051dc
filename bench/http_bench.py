"""The HTTP section of bench/run (issue 13): HTTP/1.1 requests per second,
one FastAPI app (bench/http_worker.py), the client and the servers on this
machine, every connection mutually authenticated.

    (a) clients: httpx over mutls.httpx vs httpx over an ssl.SSLContext with
        a client certificate, against uvicorn with ssl (CERT_REQUIRED);
    (b) servers: mutls.asgi vs uvicorn with its own ssl options
        (ssl_cert_reqs=CERT_REQUIRED), called by httpx over ssl (one client
        for both).
Each in two modes: keep-alive (one client, one connection, N sequential
requests) and one connection per request (the pool keeps no idle
connection). The pair of a row runs interleaved (A, B, B, A, ...); each
repetition gives a ratio mutls/ssl, the figure is the median of those
ratios (and the median requests/s of each side).

driver.py calls run(); it returns the markdown table, the targets as
(ok, text) and the failures as (row label, text).
"""

import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKER = os.path.join(BENCH, "http_worker.py")

# (id, label, what varies, mode, target)
ROWS = [
    ("http-client-keepalive", "(a) client, keep-alive", "client", "keepalive", 0.95),
    ("http-client-conn", "(a) client, one connection per request", "client", "conn", 1.0),
    ("http-server-keepalive", "(b) server, keep-alive", "server", "keepalive", 0.95),
    ("http-server-conn", "(b) server, one connection per request", "server", "conn", 1.0),
]
HEADS = {
    "client": ("httpx over mutls.httpx", "httpx over ssl", "server: uvicorn with ssl, CERT_REQUIRED"),
    "server": ("mutls.asgi", "uvicorn with ssl", "client: httpx over ssl"),
}


class HttpError(Exception):
    pass


class Proc:
    def __init__(self, argv, python):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen([python, WORKER, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True, bufsize=1, cwd=ROOT)
        self.name = " ".join(argv[:2])

    def stderr(self):
        self.err.seek(0)
        return " ".join(self.err.read().split())[-400:] or "(no stderr)"

    def recv(self, timeout):
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise HttpError(f"{self.name}: no answer in {timeout:.0f} s")
        line = self.p.stdout.readline().strip()
        if not line:
            raise HttpError(f"{self.name} died: {self.stderr()}")
        if not line.startswith("ok"):
            raise HttpError(f"{self.name}: {line}")
        return line.split()[1:]

    def cmd(self, line, timeout):
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except OSError:
            raise HttpError(f"{self.name} is gone: {self.stderr()}")
        return self.recv(timeout)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.p.kill()
                self.p.wait()
        self.err.close()


def run(pki, python, smoke, reps, seconds, timeout, log=None):
    """Runs the four rows; returns (table_md, targets, failures)."""
    procs = []
    failures = []
    results = {}
    try:
        servers = {}
        for stack in ("mutls", "ssl"):
            p = Proc(["server", stack, pki], python)
            procs.append(p)
            servers[stack] = int(p.recv(60)[0])
        client = Proc(["client", pki], python)
        procs.append(client)
        # the checks the figures rely on: each server refuses a client
        # without a certificate
        for stack, port in servers.items():
            try:
                client.cmd(f"neg {port}", timeout)
            except HttpError as e:
                failures.append(("negative", f"{stack} server: {e}"))

        def measure(what, side, mode, n):
            if what == "client":  # the client stack varies, the server is uvicorn + ssl
                line = f"run {side} {mode} {n} {servers['ssl']}"
            else:  # the server varies, the client is httpx over ssl
                line = f"run ssl {mode} {n} {servers[side]}"
            secs, conns, resumed = client.cmd(line, timeout)
            return n / float(secs), int(resumed)

        for rid, label, what, mode, target in ROWS:
            try:
                counts = {}
                for side in ("mutls", "ssl"):
                    if smoke:
                        counts[side] = 3 if mode == "keepalive" else 2
                    else:
                        rate, _ = measure(what, side, mode, 20)  # warm-up, then a count filling `seconds`
                        rate, _ = measure(what, side, mode, max(20, int(rate * seconds / 3)))
                        counts[side] = max(20, int(rate * seconds))
                rates = {"mutls": [], "ssl": []}
                resumed = 0
                for rep in range(1 if smoke else reps):
                    order = ("mutls", "ssl") if rep % 2 == 0 else ("ssl", "mutls")
                    for side in order:
                        rate, res = measure(what, side, mode, counts[side])
                        rates[side].append(rate)
                        if side == "mutls" and what == "client":
                            resumed = max(resumed, res)
                ratios = [a / b for a, b in zip(rates["mutls"], rates["ssl"])]
                results[rid] = (statistics.median(rates["mutls"]), statistics.median(rates["ssl"]),
                                statistics.median(ratios), resumed, counts)
                if log:
                    log(f"{label}: mutls {results[rid][0]:,.0f}/s, ssl {results[rid][1]:,.0f}/s, "
                        f"median ratio {results[rid][2]:.3f}")
            except HttpError as e:
                failures.append((label, str(e)))
    except HttpError as e:
        failures.append(("start", str(e)))
    finally:
        for p in procs:
            p.close()
    return table(results), targets(results), failures


def table(results):
    lines = ["| HTTP/1.1, FastAPI app, requests/s | mutls side | ssl side | median ratio mutls/ssl | fixed |",
             "|---|---:|---:|---:|---|"]
    for rid, label, what, mode, target in ROWS:
        mine, theirs, fixed = HEADS[what]
        if rid not in results:
            lines.append(f"| {label} | FAILED | FAILED | | {fixed} |")
            continue
        a, b, q, resumed, counts = results[rid]
        note = fixed
        if what == "client" and mode == "conn":
            note += f"; mutls.httpx resumed {resumed} of {counts['mutls']} connections"
        lines.append(f"| {label} | {mine}: {a:,.0f} | {theirs}: {b:,.0f} | {q:.3f}x | {note} |")
    return "\n".join(lines)


def targets(results):
    out = []
    for rid, label, what, mode, target in ROWS:
        if rid in results:
            q = results[rid][2]
            out.append((q >= target, f"HTTP {label}: {q:.3f}x ssl (target >= {target:.2f}x)"))
    return out


if __name__ == "__main__":  # python3 bench/http_bench.py PKI_DIR [--smoke]
    t0 = time.monotonic()
    md, tl, fl = run(sys.argv[1], sys.executable, "--smoke" in sys.argv, 9, 1.0, 120,
                     log=lambda s: print(f"  [{time.monotonic() - t0:6.1f}s] {s}", file=sys.stderr, flush=True))
    print(md)
    for ok, t in tl:
        print(("met: " if ok else "missed: ") + t)
    for where, msg in fl:
        print(f"FAILED: {where}: {msg}")
    sys.exit(1 if fl else 0)
