"""Lifetimes: a Session keeps its Config (and the hooks) alive; dropping a
Config while its sessions run is safe; reference cycles through hooks,
peers and stored exceptions are collected; no leaks over many handshakes."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import weakref
from typing import Any, Dict, List

import pytest

import mutls

from conftest import PKI, Pair, move

HOST = "orders.internal"


def collect() -> None:
    for _ in range(3):
        gc.collect()


def test_config_dropped_while_its_sessions_run(pki: PKI) -> None:
    calls: List[str] = []
    ccfg = pki.client_config(verify_hook=lambda peer: calls.append("client") or True)
    scfg = pki.server_config(verify_hook=lambda peer: calls.append("server") or True,
                             trace=lambda ev: None)
    ref = weakref.ref(ccfg)
    p = Pair(ccfg.client(server_hostname=HOST), scfg.server())
    with pytest.raises(mutls.WantRead):
        p.client.handshake()  # mid-handshake
    del ccfg, scfg
    collect()
    assert ref() is not None  # the session keeps it
    p.handshake()
    assert p.ok and calls == ["client", "server"]
    assert p.client.config is ref()
    del p
    collect()
    assert ref() is None


def test_config_dropped_while_a_thread_handshakes(pki: PKI) -> None:
    a, b = socket.socketpair()
    result: Dict[str, Any] = {}
    with a, b:
        a.settimeout(10)
        b.settimeout(10)
        holder = {"cfg": pki.server_config(verify_hook=lambda peer: True)}
        ref = weakref.ref(holder["cfg"])
        session = holder["cfg"].server(b)

        def serve() -> None:
            try:
                session.handshake()  # the GIL is released while it waits
                result["ok"] = session.verified
            except BaseException as exc:
                result["error"] = exc

        t = threading.Thread(target=serve)
        t.start()
        del holder["cfg"]
        collect()
        c = pki.client_config().client(a, server_hostname=HOST)
        c.handshake()
        t.join(10)
        assert result == {"ok": True}
        del session, t
        collect()
        assert ref() is None


def assert_collected(make: Any) -> None:
    """make() builds objects in a cycle and returns weakrefs to them; they
    must survive plain refcounting and go away with gc.collect()."""
    collect()
    gc.disable()
    try:
        refs = make()
        assert all(r() is not None for r in refs), "not a cycle: freed without the collector"
    finally:
        gc.enable()
    collect()
    assert [r() for r in refs] == [None] * len(refs)


def test_cycle_hook_refers_to_its_config(pki: PKI) -> None:
    def make() -> List[Any]:
        cfg = None

        def hook(peer: mutls.Peer) -> bool:
            return cfg is not None

        cfg = mutls.Config(identity=pki.server_id, trust=pki.ca, verify_hook=hook, trace=lambda e: cfg,
                           keylog=lambda line: cfg)
        return [weakref.ref(cfg), weakref.ref(hook)]

    assert_collected(make)


def test_cycle_through_sessions_and_peers(pki: PKI) -> None:
    def make() -> List[Any]:
        kept: List[Any] = []
        scfg = pki.server_config(verify_hook=lambda peer: kept.append(peer) or True,
                                 trace=lambda ev: kept.append(ev))
        ccfg = pki.client_config(verify_hook=lambda peer: kept.append(peer.session) or True)
        p = Pair(ccfg.client(server_hostname=HOST), scfg.server()).run()
        assert p.ok and any(isinstance(k, mutls.Peer) for k in kept)
        kept.append(p.client)
        return [weakref.ref(scfg), weakref.ref(ccfg), weakref.ref(p.client), weakref.ref(p.server)]

    assert_collected(make)


def test_cycle_through_a_hook_exception(pki: PKI) -> None:
    def make() -> List[Any]:
        box: Dict[str, Any] = {}

        def hook(peer: mutls.Peer) -> bool:
            session = peer.session  # the traceback's frame refers to the session
            assert session is not None
            raise RuntimeError("no")

        scfg = pki.server_config(verify_hook=hook)
        p = Pair(pki.client_config().client(server_hostname=HOST), scfg.server()).run()
        err = p.server_exc
        assert isinstance(err.__cause__, RuntimeError)
        box["err"] = err  # error -> cause -> traceback -> frame -> session -> config -> hook -> box
        return [weakref.ref(p.server), weakref.ref(scfg), weakref.ref(err)]

    assert_collected(make)


def test_context_manager_frees_now(pki: PKI) -> None:
    cfg = pki.server_config()
    with cfg.server() as s:
        pass
    assert s.freed
    del s
    ref = weakref.ref(cfg)
    del cfg
    assert ref() is None  # plain refcounting, no collector needed


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


# Under a sanitizer RSS is not the program's (ASan keeps freed memory in
# quarantine), so RSS bounds apply only without one, as in test_soak.py;
# the Python-level bounds (tracemalloc) apply everywhere.
RSS_BOUNDS = not os.environ.get("MUTLS_UNDER_SANITIZER")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_many_handshakes_do_not_grow_memory(pki: PKI) -> None:
    events: List[int] = []
    ccfg = pki.client_config(trace=lambda ev: events.append(1) if len(events) < 10 else None)
    scfg = pki.server_config(verify_hook=lambda peer: peer.ok)

    def one() -> None:
        p = Pair(ccfg.client(server_hostname=HOST), scfg.server()).run()
        assert p.ok
        assert p.transfer(p.client, p.server, b"x" * 100) == b"x" * 100
        p.server.peer_certificate.subject  # introspection allocates too
        p.client.trace

    # Bounded by count: all N handshakes run and are checked, whatever the
    # machine's speed (it used to stop at 60 s and require >= 1,000, a
    # speed target that ASan on a loaded host missed). The deadline is a
    # hang guard only. Under a sanitizer (no RSS bound there) fewer.
    n_target = 1000 if os.environ.get("MUTLS_UNDER_SANITIZER") else 2000
    deadline = time.monotonic() + 900
    for _ in range(200):  # warm up: allocator pools, caches
        one()
    collect()
    tracemalloc.start()
    before_py = tracemalloc.get_traced_memory()[0]
    before = rss_kib()
    n = 0
    start = time.monotonic()
    while n < n_target and time.monotonic() < deadline:
        one()
        n += 1
    elapsed = time.monotonic() - start
    collect()
    after = rss_kib()
    after_py = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert n == n_target, "hang guard: only %d of %d handshakes in %.1f s" % (n, n_target, elapsed)
    if RSS_BOUNDS:
        assert after - before < 4096, "RSS grew by %d KiB over %d handshakes" % (after - before, n)
    assert after_py - before_py < 256 * 1024, "Python memory grew by %d bytes" % (after_py - before_py)


def test_failing_handshakes_do_not_leak(pki: PKI) -> None:
    def hook(peer: mutls.Peer) -> bool:
        raise ValueError("refused " * 100)

    ccfg = pki.client_config()
    scfg = pki.server_config(verify_hook=hook)

    def one() -> None:
        p = Pair(ccfg.client(server_hostname=HOST), scfg.server()).run()
        assert isinstance(p.server_exc.__cause__, ValueError)

    for _ in range(100):
        one()
    collect()
    tracemalloc.start()
    before_py = tracemalloc.get_traced_memory()[0]
    before = rss_kib()
    for _ in range(500):
        one()
    collect()
    after = rss_kib()
    after_py = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_py - before_py < 256 * 1024, "Python memory grew by %d bytes" % (after_py - before_py)
    if RSS_BOUNDS:
        assert after - before < 2048, "RSS grew by %d KiB over 500 failing handshakes" % (after - before)


def test_import_is_clean_in_dev_mode() -> None:
    """python -X dev -W error -c "import mutls": no warning, no output."""
    r = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-c",
                        "import mutls, gc; ca = mutls.TestCA(); del ca; gc.collect()"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr
