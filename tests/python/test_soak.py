"""The quick soak (tests/soak/soak.py, issue 5.6): 3,000 full mTLS
handshakes in memory mode in a fresh interpreter, RSS sampled every 1,000
after gc.collect(); RSS may grow at most 2 MiB between handshake 1,000 and
3,000. The long run (100,000; 1 MiB from 10,000) is documented in
docs/hardening.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[1] / "soak" / "soak.py"
TIMEOUT = 90  # seconds; the run takes about 3 s on an idle machine
# Under ASan (scripts/sanitize-bindings) RSS is the quarantine's, not ours:
# every handshake is still checked, the RSS bound is not.
BOUND_KIB = 10_000_000 if os.environ.get("MUTLS_UNDER_SANITIZER") else 2048


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=TIMEOUT)


def test_quick_soak_rss_is_flat() -> None:
    r = run("3000", "--every", "1000", "--base", "1000", "--max-growth-kib", str(BOUND_KIB))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s", r.stdout, re.M)
    assert [int(n) for n, _ in rows] == [0, 1000, 2000, 3000], r.stdout
    rss = {int(n): int(kib) for n, kib in rows}
    assert rss[3000] - rss[1000] <= BOUND_KIB, r.stdout
    m = re.search(rf"RSS growth from 1000 to 3000 handshakes: ([+-]\d+) KiB \(bound {BOUND_KIB} KiB\): ok", r.stdout)
    assert m is not None, r.stdout
    assert int(m.group(1)) == rss[3000] - rss[1000]


def test_soak_fails_when_growth_exceeds_the_bound() -> None:
    """The script's verdict can fail: with an impossible bound it must."""
    r = run("200", "--every", "100", "--base", "100", "--max-growth-kib", "-100000")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "TOO MUCH" in r.stdout, r.stdout
