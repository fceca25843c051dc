#!/usr/bin/env python3
"""Soak: N full mTLS handshakes in memory mode from Python, sampling RSS.

Each handshake: a fresh client and server session from two shared Configs
(one TestCA; the client's and the server's identity; both verify the peer,
the client checks the name, the server requires a certificate), driven to
completion by moving bytes, both sides `verified`, then one message each
way. Every --every handshakes the script collects garbage (gc.collect()) and
reads VmRSS from /proc/self/status.

It prints a table and exits 1 if RSS grew by more than --max-growth-kib
between handshake --base and handshake N (the warm-up before --base is not
counted: allocator pools, GnuTLS caches, the interpreter's own structures),
or if any handshake failed.

    python3 tests/soak/soak.py                 # 100,000; bound 1 MiB from 10,000
    python3 tests/soak/soak.py 3000 --every 1000 --base 1000 --max-growth-kib 2048
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import mutls

HOST = "orders.internal"
MSG_C = b"ping from the client"
MSG_S = b"pong from the server"


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def move(src: mutls.Session, dst: mutls.Session) -> int:
    data = src.data_to_send()
    if data:
        dst.feed(data)
    return len(data)


def one_handshake(ccfg: mutls.Config, scfg: mutls.Config) -> None:
    c = ccfg.client(server_hostname=HOST)
    s = scfg.server()
    c_done = s_done = False
    for _ in range(16):
        if not c_done:
            try:
                c.handshake()
                c_done = True
            except mutls.WantRead:
                pass
        moved = move(c, s)
        if not s_done:
            try:
                s.handshake()
                s_done = True
            except mutls.WantRead:
                pass
        moved += move(s, c)
        if c_done and s_done and moved == 0:
            break
    if not (c_done and s_done and c.verified and s.verified):
        raise AssertionError(f"handshake incomplete or unverified: client {c.error}, server {s.error}")
    c.sendall(MSG_C)
    move(c, s)
    if s.recv() != MSG_C:
        raise AssertionError("the server read something else")
    s.sendall(MSG_S)
    move(s, c)
    if c.recv() != MSG_S:
        raise AssertionError("the client read something else")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=100_000, help="handshakes (default 100,000)")
    ap.add_argument("--every", type=int, default=10_000, help="sample RSS every K handshakes (default 10,000)")
    ap.add_argument("--base", type=int, default=None, help="growth is measured from this sample (default: --every)")
    ap.add_argument("--max-growth-kib", type=int, default=1024, help="allowed RSS growth (default 1024 KiB)")
    args = ap.parse_args(argv)
    base_at = args.every if args.base is None else args.base
    if args.n < base_at or args.every <= 0 or base_at % args.every:
        ap.error("need n >= base, and base a multiple of --every")

    ca = mutls.TestCA("soak CA")
    scfg = mutls.Config(identity=ca.issue(cn="orders", dns=[HOST], purpose="server"), trust=ca)
    ccfg = mutls.Config(identity=ca.issue(cn="payments", uri=["spiffe://soak.test/payments"], purpose="client"),
                        trust=ca, peers=[f"dns:{HOST}"])

    samples = []
    gc.collect()
    start = time.monotonic()
    samples.append((0, rss_kib(), 0.0))
    print(f"mutls {mutls.__version__}, GnuTLS {mutls.GNUTLS_VERSION}, Python {sys.version.split()[0]}")
    print(f"{'handshakes':>10}  {'RSS KiB':>9}  {'delta KiB':>9}  {'seconds':>8}  {'hs/s':>7}")
    print(f"{0:>10}  {samples[0][1]:>9}  {'':>9}  {0:>8.1f}  {'':>7}", flush=True)
    last_t = start
    for i in range(1, args.n + 1):
        one_handshake(ccfg, scfg)
        if i % args.every == 0 or i == args.n:
            gc.collect()
            now = time.monotonic()
            rss = rss_kib()
            rate = (i - samples[-1][0]) / (now - last_t) if now > last_t else 0.0
            print(f"{i:>10}  {rss:>9}  {rss - samples[-1][1]:>+9}  {now - start:>8.1f}  {rate:>7.0f}", flush=True)
            samples.append((i, rss, now - start))
            last_t = now
    base = next(rss for n, rss, _ in samples if n == base_at)
    final = samples[-1][1]
    growth = final - base
    ok = growth <= args.max_growth_kib
    print(f"RSS growth from {base_at} to {args.n} handshakes: {growth:+d} KiB "
          f"(bound {args.max_growth_kib} KiB): {'ok' if ok else 'TOO MUCH'}; "
          f"{args.n} handshakes in {samples[-1][2]:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
