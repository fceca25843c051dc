"""Mutual TLS between two services, every step shown, then a gallery of failures.

"orders" (the server, orders.internal) and "payments" (the client,
spiffe://example.org/payments) get certificates from a test CA made in
memory. The server runs in a thread; the client connects over loopback TCP.
Both sides print the handshake as it happens, from mutls's trace: the
client's offer, the server's choice, each certificate check with the
certificate's real values, the CertificateRequest, the key exchange, the two
traffic keys (by short fingerprints), then one message each way.

Then a gallery of real handshakes that must fail, each with the error both
sides get: an expired certificate, a wrong name, an unknown CA, a client
without a certificate, a rogue self-signed client, a revoked client, a peer
refused by identity policy, and a record reflected back at its sender.

Exit status 0 only when the good handshake worked and every gallery case
failed exactly as expected.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .output import Output, describe_certificate, error_fields, iso

EPILOG = """\
examples:
  mutls demo              the story, traced, and the failure gallery
  mutls demo --diagram    the same exchange as a sequence diagram
  mutls demo --tls 1.2    both sides limited to TLS 1.2
  mutls demo --lua        the short story through the Lua binding (lua5.4): one
                          call, one refusal (as the C demo, build/mtls_demo)
"""

SERVER_NAME = "orders.internal"
CLIENT_URI = "spiffe://example.org/payments"
CLIENT_MESSAGE = b"GET /orders/42 (from payments)"
SERVER_MESSAGE = b"order 42: 3 items, paid (from orders)"
TIMEOUT = 10.0  # seconds, every socket wait


def add_arguments(p) -> None:
    p.add_argument("--lua", action="store_true",
                   help="tell the short story through the Lua binding (lua5.4, or $MUTLS_LUA): "
                        "payments calls orders, analytics is refused (takes --tls; --diagram and "
                        "--no-gallery are this Python demo's); the Lua module is found in a "
                        "source checkout's build/lua/5.4 "
                        "($MUTLS_ROOT or the package's own checkout), on LUA_CPATH or Lua's "
                        "default path (luarocks), or in ~/.luarocks")
    p.add_argument("--diagram", action="store_true",
                   help="show the good handshake as a text sequence diagram instead of the "
                        "event-by-event trace")
    p.add_argument("--tls", choices=("1.2", "1.3"),
                   help="limit both sides to one TLS version (default: both allowed, 1.3 wins)")
    p.add_argument("--no-gallery", action="store_true",
                   help="only the good handshake")


# ---------------------------------------------------------------------------
# the trace, narrated
# ---------------------------------------------------------------------------

@dataclass
class Recorded:
    seq: int
    side: str  # "client" / "server"
    kind: str
    outgoing: bool
    ok: bool
    name: str
    detail: str
    message_type: int
    length: int


class Recorder:
    """Numbers the events of both sides in the order they happen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: List[Recorded] = []

    def add(self, side: str, ev) -> Recorded:
        with self.lock:
            r = Recorded(len(self.events), side, ev.kind, bool(ev.outgoing), bool(ev.ok),
                         ev.name, ev.detail, int(ev.message_type), int(ev.length))
            self.events.append(r)
            return r

    def data(self, side: str, payload: bytes) -> None:
        """Application data sent by `side` (not a trace event; for the diagram)."""
        with self.lock:
            self.events.append(Recorded(len(self.events), side, "data", True, True,
                                        "application data", payload.decode(errors="replace"),
                                        23, len(payload)))


class Narrator:
    """The trace callback of one side: prints each event as it happens.

    verbose: the whole story; otherwise (gallery) only failed checks and
    alerts. `peer` is the certificate this side expects to be shown (for the
    banner before its checks: subject, SANs, serial, issuer, dates).
    """

    def __init__(self, out: Output, side: str, *, verbose: bool = True, peer=None,
                 recorder: Optional[Recorder] = None, quiet: bool = False, indent: str = ""):
        self.out = out
        self.side = side
        self.verbose = verbose
        self.peer = peer
        self.recorder = recorder
        self.quiet = quiet  # record only (diagram mode)
        self.indent = indent
        self.checks_started = False
        self.keys_noted = False

    def say(self, text: str) -> None:
        self.out.say(self.indent + self.side, text, width=len(self.indent) + 7)

    def __call__(self, ev) -> None:
        try:
            if self.recorder is not None:
                self.recorder.add(self.side, ev)
            if not self.quiet:
                self.narrate(ev)
        except Exception as exc:  # never let printing abort a handshake
            self.out.line(f"(trace printer failed: {exc!r})")

    def narrate(self, ev) -> None:
        """The line mutls renders for the event (mutls.trace_event_text, the
        same in the C and Lua demos), coloured, with what it teaches."""
        import mutls

        o = self.out
        kind, name = ev.kind, ev.name
        if not self.verbose and not (kind == "alert" or (kind == "check" and not ev.ok)):
            return
        if kind == "check" and self.verbose and not self.checks_started:
            self.checks_started = True
            whose = "server's" if self.side == "client" else "client's"
            self.say(o.style(f"checks the {whose} certificate:", "bold"))
            if self.peer is not None:
                p = self.peer
                self.say(f"   it is {describe_certificate(p)}")
                self.say(f"   serial {p.serial}, issued by {p.issuer}, "
                         f"valid {iso(p.not_before)} to {iso(p.not_after)}")
        text = mutls.trace_event_text(ev)
        if kind == "message" and not ev.outgoing:
            text = o.dim(text)
        elif kind == "check":
            text = o.ok(text) if ev.ok else o.bad(text)
        elif kind == "alert" and name != "close_notify":
            text = o.style(text, "yellow")
        note = mutls.trace_event_note(ev) if self.verbose else None
        self.say(text + (o.dim(f"   ({note})") if note else ""))
        if kind == "message" and name == "ServerHello" and "TLS1.3" in ev.detail and not self.keys_noted:
            self.keys_noted = True
            self.say(o.dim("   key exchange: the ECDHE key shares rode in ClientHello and "
                           "ServerHello; all that follows is encrypted"))


# ---------------------------------------------------------------------------
# the PKI
# ---------------------------------------------------------------------------

@dataclass
class Pki:
    ca: Any  # mutls.TestCA
    orders: Any  # mutls.Identity
    payments: Any
    other_ca: Any = None
    extra: Dict[str, Any] = field(default_factory=dict)


def make_pki(mutls, out: Output) -> Pki:
    out.heading("a test PKI, made in memory (mutls.TestCA)")
    ca = mutls.TestCA("mutls demo CA")
    orders = ca.issue(cn="orders", dns=[SERVER_NAME], ip=["127.0.0.1"], purpose="server")
    payments = ca.issue(cn="payments", uri=[CLIENT_URI], purpose="client")
    pki = Pki(ca, orders, payments)
    day = 86400
    now = time.time()
    import datetime as _dt

    def utc(t: float):
        return _dt.datetime.fromtimestamp(t, _dt.timezone.utc)

    pki.extra["expired"] = ca.issue(cn="payments", uri=[CLIENT_URI], purpose="client",
                                    not_before=utc(now - 30 * day), not_after=utc(now - day))
    pki.extra["billing"] = ca.issue(cn="billing", dns=["billing.internal"], purpose="server")
    pki.other_ca = mutls.TestCA("some other CA")
    pki.extra["impostor"] = pki.other_ca.issue(cn="orders", dns=[SERVER_NAME], purpose="server")
    pki.extra["rogue"] = mutls.TestCA("payments")  # self-signed; used as a client identity
    revoked = ca.issue(cn="payments", uri=[CLIENT_URI], purpose="client")
    ca.revoke(revoked)
    pki.extra["revoked"] = revoked
    pki.extra["analytics"] = ca.issue(cn="analytics", uri=["spiffe://example.org/analytics"],
                                      purpose="client")

    rows = [
        ("CA", ca.certificate),
        ("server orders", orders.certificate),
        ("client payments", payments.certificate),
    ]
    for label, cert in rows:
        out.say("pki", f"{label:<24} {describe_certificate(cert)}", width=7)
    out.say("pki", f"{'':<24} " + o_dim(out, "(and, for the gallery: an expired payments, a billing "
                                        "server, an impostor orders from another CA, a rogue "
                                        "self-signed payments, a revoked payments, an analytics "
                                        "client)"))
    return pki


def o_dim(out: Output, text: str) -> str:
    return out.dim(text)


# ---------------------------------------------------------------------------
# the good handshake over loopback TCP
# ---------------------------------------------------------------------------

@dataclass
class SideReport:
    ok: bool = False
    error: Optional[BaseException] = None
    version: Optional[str] = None
    cipher: Optional[str] = None
    sni: Optional[str] = None
    peer: Any = None
    verified: bool = False
    write_key: str = ""
    read_key: str = ""
    received: bytes = b""
    closed_cleanly: bool = False


def fill(report: SideReport, s) -> None:
    report.version = s.version
    report.cipher = s.cipher
    report.sni = s.server_name
    report.peer = s.peer_certificate
    report.verified = s.verified
    report.write_key = s.key_fingerprint(write=True)
    report.read_key = s.key_fingerprint(write=False)


def serve_one(listener: socket.socket, cfg, report: SideReport, out: Output, quiet: bool,
              recorder: Recorder) -> None:
    conn = None
    s = None
    try:
        conn, addr = listener.accept()
        conn.settimeout(TIMEOUT)
        if not quiet:
            out.say("server", f"accepted a TCP connection from {addr[0]}:{addr[1]}")
        s = cfg.server(conn)
        s.handshake()
        report.ok = True
        if not quiet:
            out.say("server", out.ok("handshake done"))
        fill(report, s)
        report.received = s.recv(4096)
        recorder.data("server", SERVER_MESSAGE)
        s.sendall(SERVER_MESSAGE)
        rest = s.recv(4096)  # the client's close_notify reads as b""
        if rest == b"":
            report.closed_cleanly = True
        s.close()
    except Exception as exc:  # reported by the main thread
        report.error = exc
        if not quiet:
            out.say("server", out.bad(f"failed: {exc}"))
    finally:
        if conn is not None:
            conn.close()


def good_handshake(mutls, pki: Pki, out: Output, args) -> bool:
    diagram = args.diagram
    recorder = Recorder()
    versions = (args.tls,) if args.tls else None
    server_cfg = mutls.Config(identity=pki.orders, trust=pki.ca.cert_pem,
                              peers=["uri:spiffe://example.org/*"], versions=versions,
                              trace=Narrator(out, "server", peer=pki.payments.certificate,
                                             recorder=recorder, quiet=diagram))
    client_cfg = mutls.Config(identity=pki.payments, trust=pki.ca.cert_pem,
                              peers=[f"dns:{SERVER_NAME}"], versions=versions,
                              trace=Narrator(out, "client", peer=pki.orders.certificate,
                                             recorder=recorder, quiet=diagram))
    out.say("config", "server orders:   identity orders, trusts the demo CA, "
                      "peers=['uri:spiffe://example.org/*']" + (f", versions {versions}" if versions else ""))
    out.say("config", f"client payments: identity payments, trusts the demo CA, "
                      f"peers=['dns:{SERVER_NAME}']" + (f", versions {versions}" if versions else ""))

    out.heading("the handshake over loopback TCP, as it happens"
                if not diagram else "the handshake over loopback TCP (recorded for the diagram)")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    out.say("server", f"listening on 127.0.0.1:{port} (a thread)")
    server = SideReport()
    thread = threading.Thread(target=serve_one, args=(listener, server_cfg, server, out, diagram, recorder),
                              name="orders", daemon=True)
    thread.start()

    client = SideReport()
    sock = None
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        out.say("client", f"connected to 127.0.0.1:{port}, server_hostname {SERVER_NAME}")
        s = client_cfg.client(sock, server_hostname=SERVER_NAME)
        s.handshake()
        client.ok = True
        if not diagram:
            out.say("client", out.ok("handshake done"))
        fill(client, s)
        recorder.data("client", CLIENT_MESSAGE)
        s.sendall(CLIENT_MESSAGE)
        client.received = s.recv(4096)
        s.close()
        client.closed_cleanly = True
    except Exception as exc:
        client.error = exc
        out.say("client", out.bad(f"failed: {exc}"))
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    thread.join(TIMEOUT + 5)
    if sock is not None:
        sock.close()
    listener.close()

    if diagram:
        print_diagram(out, recorder.events, pki)

    ok = True
    if not (client.ok and server.ok):
        who = "either side" if not client.ok and not server.ok else \
            "the client" if not client.ok else "the server"
        out.line(out.bad(f"FAILED: the good handshake did not complete on {who}"))
        for side, rep in (("client", client), ("server", server)):
            if rep.error is not None:
                out.say(side, f"{type(rep.error).__name__}: {rep.error}")
                out.say(side, f"  {error_fields(rep.error)}")
        return False

    out.heading("what each side negotiated and whom it sees")
    out.say("client", f"version {client.version}, cipher {client.cipher}")
    out.say("server", f"version {server.version}, cipher {server.cipher}, SNI {server.sni}")
    out.say("client", f"peer (the server): {describe_certificate(client.peer)}  "
                      f"[{'verified' if client.verified else 'NOT verified'}]")
    out.say("server", f"peer (the client): {describe_certificate(server.peer)}  "
                      f"[{'verified' if server.verified else 'NOT verified'}]")
    if not (client.verified and server.verified):
        out.line(out.bad("FAILED: a side did not verify its peer"))
        ok = False

    out.heading("traffic keys (Session.key_fingerprint: SHA-256 of the key, first 16 hex digits)")
    cw_same = client.write_key == server.read_key
    sw_same = server.write_key == client.read_key
    differ = client.write_key != client.read_key
    out.say("keys", f"client-write: client {client.write_key[:16]} (write=True)   "
                    f"server {server.read_key[:16]} (write=False)  "
                    + (out.ok("equal") if cw_same else out.bad("DIFFERENT (wrong)")))
    out.say("keys", f"server-write: server {server.write_key[:16]} (write=True)   "
                    f"client {client.read_key[:16]} (write=False)  "
                    + (out.ok("equal") if sw_same else out.bad("DIFFERENT (wrong)")))
    out.say("keys", "client-write vs server-write: "
                    + (out.ok("different keys for the two directions") if differ
                       else out.bad("THE SAME (wrong)")))
    if not (cw_same and sw_same and differ):
        ok = False

    out.heading("application data, one message each way")
    out.say("client", f"sent     {CLIENT_MESSAGE.decode()!r}")
    out.say("server", f"received {server.received.decode(errors='replace')!r}")
    out.say("server", f"sent     {SERVER_MESSAGE.decode()!r}")
    out.say("client", f"received {client.received.decode(errors='replace')!r}")
    if server.received != CLIENT_MESSAGE or client.received != SERVER_MESSAGE:
        out.line(out.bad("FAILED: a message did not arrive intact"))
        ok = False
    out.say("client", "closed with close_notify")
    if server.closed_cleanly:
        out.say("server", "read the client's close_notify, closed too")
    else:
        out.line(out.bad("FAILED: the server did not see an orderly close"))
        ok = False
    return ok


# ---------------------------------------------------------------------------
# the sequence diagram
# ---------------------------------------------------------------------------

def print_diagram(out: Output, events: List[Recorded], pki: Pki) -> None:
    """Two lifelines; an arrow per message or alert (drawn from the sender's
    event), check results beside the side that ran them."""
    left_w, mid_w = 34, 44
    out.heading("sequence diagram")
    pad = " " * left_w

    def row(left: str = "", mid: str = "", right: str = "", lbar: str = "|", rbar: str = "|") -> str:
        return f"{left:>{left_w - 1}} {lbar}{mid:^{mid_w}}{rbar} {right}".rstrip()

    out.line(f"{'payments (client)':>{left_w + 8}}{'':{mid_w - 16}}orders (server)")
    out.line(row())
    for ev in events:
        if ev.kind in ("message", "alert", "data") and ev.outgoing:
            label = ev.name if ev.kind != "alert" else f"alert {ev.name}"
            body = f" {label} "
            line_len = mid_w - 1
            dashes = line_len - len(body)
            lhalf = dashes // 2
            rhalf = dashes - lhalf
            if ev.side == "client":
                mid = "-" * lhalf + body + "-" * rhalf + ">"
            else:
                mid = "<" + "-" * lhalf + body + "-" * rhalf
            out.line(row(mid=mid))
            if ev.detail and ev.kind in ("message", "data"):
                detail = ev.detail if len(ev.detail) <= mid_w - 2 else ev.detail[:mid_w - 5] + "..."
                out.line(row(mid=out.dim(detail).center(mid_w + (len(out.dim(detail)) - len(detail)))))
        elif ev.kind == "check":
            mark = "ok" if ev.ok else "FAIL"
            styled = out.ok(mark) if ev.ok else out.bad(mark)
            if ev.side == "client":
                text = f"{ev.name} {styled}"
                width = left_w - 1 + (len(styled) - len(mark))
                out.line(f"{text:>{width}} |{'':{mid_w}}|")
            else:
                out.line(f"{pad}|{'':{mid_w}}| {ev.name} {styled}")
        elif ev.kind == "info" and ev.name in ("client-write-key", "server-write-key"):
            short = ev.detail.split(" (")[0].replace("sha256 ", "")
            label = ev.name[:-len("-key")] + " " + short
            if ev.side == "client":
                out.line(f"{label:>{left_w - 1}} |{'':{mid_w}}|")
            else:
                out.line(f"{pad}|{'':{mid_w}}| {label}")
    out.line(row())
    out.line(out.dim("  arrows: messages and alerts as sent; beside a lifeline: the checks that side ran "
                     "and the fingerprints of the traffic keys it holds"))
    out.line(out.dim("  TLS 1.3: the client is done at its Finished and may send at once; the server checks "
                     "the client's certificate after that"))


# ---------------------------------------------------------------------------
# the gallery: real handshakes in memory mode
# ---------------------------------------------------------------------------

def attempt(fn) -> Tuple[Optional[bool], Optional[BaseException]]:
    """(True, None) done; (None, None) wants I/O; (False, exc) failed."""
    import mutls

    try:
        fn()
        return True, None
    except (mutls.WantRead, mutls.WantWrite):
        return None, None
    except mutls.Error as exc:
        return False, exc


def pump(client, server, rounds: int = 50):
    """Runs both handshakes, handing bytes across, until neither has more to say."""
    c_state = s_state = None
    c_exc = s_exc = None
    for _ in range(rounds):
        moved = 0
        if c_state is None:
            c_state, c_exc = attempt(client.handshake)
        data = client.data_to_send()
        if data:
            server.feed(data)
            moved += len(data)
        if s_state is None:
            s_state, s_exc = attempt(server.handshake)
        data = server.data_to_send()
        if data:
            client.feed(data)
            moved += len(data)
        if not moved:
            break
    return (c_state, c_exc), (s_state, s_exc)


@dataclass
class Expect:
    cls: str                     # exception class name in mutls
    code: str
    reason: Optional[str] = None  # one reason that must be among err.reasons
    alerts: Tuple[str, ...] = ()  # acceptable err.alert values (empty: any)


@dataclass
class Case:
    title: str
    why: str
    server_cfg: Callable
    client_cfg: Callable
    server: Optional[Expect]
    client: Expect
    reflect: bool = False


def check_error(mutls, exc: Optional[BaseException], exp: Optional[Expect]) -> bool:
    if exp is None:
        return exc is None
    if exc is None:
        return False
    cls = getattr(mutls, exp.cls)
    if not isinstance(exc, cls) or getattr(exc, "code", None) != exp.code:
        return False
    if exp.reason and exp.reason not in (getattr(exc, "reasons", None) or []):
        return False
    if exp.alerts and getattr(exc, "alert", None) not in exp.alerts:
        return False
    return True


def show_error(out: Output, who: str, what: str, exc: BaseException) -> None:
    out.say(who, f"{what}: {out.bad(type(exc).__name__)}: \"{exc}\"", width=9)
    out.say(who, f"  {error_fields(exc)}", width=9)


def run_case(mutls, out: Output, n: int, case: Case) -> bool:
    out.subheading(f"({n}) {case.title}")
    out.line(f"   {case.why}")
    out.progress(f"   running case {n}...")
    c = case.client_cfg().client(server_hostname=SERVER_NAME)
    s = case.server_cfg().server()
    (c_state, c_exc), (s_state, s_exc) = pump(c, s)

    if case.reflect:
        return reflect_case(mutls, out, case, c, s, c_state, s_state, c_exc, s_exc)

    if s_state:
        out.say("  server", "handshake: ok", width=9)
    elif s_exc is not None:
        show_error(out, "  server", "handshake refused", s_exc)
    else:
        out.say("  server", "handshake: still waiting (no verdict)", width=9)

    client_exc = c_exc
    if c_state:
        out.say("  client", f"handshake: ok ({c.version}: the client finishes before the server "
                            "has judged its certificate; it learns on its first recv)"
                if c.version == "TLSv1.3" else f"handshake: ok ({c.version})", width=9)
        ok_recv, client_exc = attempt(lambda: c.recv(1024))
        if ok_recv is None:
            out.say("  client", "first recv: nothing (the server did not refuse us)", width=9)
        elif ok_recv:
            out.say("  client", "first recv: data (the server did not refuse us)", width=9)
        elif client_exc is not None:
            show_error(out, "  client", "first recv", client_exc)
    elif client_exc is not None:
        show_error(out, "  client", "handshake refused", client_exc)

    good = check_error(mutls, s_exc, case.server) and check_error(mutls, client_exc, case.client)
    return verdict(out, good, case, s_exc, client_exc)


def reflect_case(mutls, out, case, c, s, c_state, s_state, c_exc, s_exc) -> bool:
    if not (c_state and s_state):
        out.say("  =>", out.bad("UNEXPECTED: the handshake itself failed"), width=9)
        for who, failure in (("  client", c_exc), ("  server", s_exc)):
            if failure is not None:
                show_error(out, who, "handshake", failure)
        return False
    out.say("  both", f"handshake: ok ({c.version}, {c.cipher})", width=9)
    # The server's tickets (TLS 1.3) are already fed to the client; read them.
    attempt(lambda: c.recv(1024))
    c.send(CLIENT_MESSAGE)
    record = c.data_to_send()
    out.say("  client", f"sent {CLIENT_MESSAGE.decode()!r}: one record of {len(record)} bytes, "
                        f"encrypted with the client-write key {c.key_fingerprint(True)[:16]}", width=9)
    s.feed(record)
    state, exc = attempt(lambda: s.recv(1024))
    got = None
    if state:
        got = True
    out.say("  server", "the record as sent: decrypts with its client-write key "
                        f"{s.key_fingerprint(False)[:16]}" + (" -> ok" if got else " -> FAILED"), width=9)
    out.say("  mallory", "feeds the same record back to the client", width=9)
    c.feed(record)
    out.say("  client", f"recv: decrypts with the key it reads with, server-write "
                        f"{c.key_fingerprint(False)[:16]}", width=9)
    state, client_exc = attempt(lambda: c.recv(1024))
    if state:
        out.say("  client", out.bad("accepted its own record back (wrong)"), width=9)
    elif client_exc is None:
        out.say("  client", "recv: no verdict (want-read)", width=9)
    else:
        show_error(out, "  client", "recv", client_exc)
    good = bool(got) and check_error(mutls, client_exc, case.client)
    return verdict(out, good, case, None, client_exc)


def verdict(out: Output, good: bool, case: Case, s_exc, c_exc) -> bool:
    def name(exc):
        return f"{type(exc).__name__} {getattr(exc, 'code', '')}".strip() if exc is not None else "ok"

    def want(exp):
        if exp is None:
            return "ok"
        text = f"{exp.cls} {exp.code}"
        if exp.reason:
            text += f" [{exp.reason}]"
        return text

    if good:
        if case.server is None:
            out.say("  =>", out.ok(f"as expected: client {name(c_exc)}"), width=9)
        else:
            out.say("  =>", out.ok(f"as expected: server {name(s_exc)}, client {name(c_exc)}"), width=9)
    else:
        out.say("  =>", out.bad(f"UNEXPECTED: wanted server {want(case.server)}, client {want(case.client)}; "
                                f"got server {name(s_exc)}, client {name(c_exc)}"), width=9)
    return good


def gallery(mutls, pki: Pki, out: Output, args) -> Tuple[int, int]:
    out.heading("failure gallery: real handshakes that must fail (memory mode, both sides in this process)")
    versions = (args.tls,) if args.tls else None
    trust = pki.ca.cert_pem

    def server(identity=None, **kw):
        def make():
            return mutls.Config(identity=identity or pki.orders, trust=trust, versions=versions,
                                trace=Narrator(out, "server", verbose=False, indent="  "), **kw)
        return make

    def client(identity=None, **kw):
        def make():
            opts = dict(trust=trust, versions=versions,
                        trace=Narrator(out, "client", verbose=False, indent="  "))
            if identity is not None:
                opts["identity"] = identity
            opts.update(kw)
            return mutls.Config(**opts)
        return make

    rogue = pki.extra["rogue"]
    no_cert_alerts = ("certificate_required", "handshake_failure")
    cases = [
        Case("expired certificate: payments' certificate expired yesterday",
             "A certificate is good only between its notBefore and notAfter dates; the server "
             "checks the client's and refuses it.",
             server(), client(pki.extra["expired"]),
             Expect("CertificateVerifyError", "verify-failed", "expired"),
             Expect("PeerRejectedError", "peer-rejected", None, ("certificate_expired",))),
        Case("wrong name: the server presents a certificate for billing.internal",
             f"The client asked for {SERVER_NAME}; a certificate that does not name it is "
             "refused even though a trusted CA signed it.",
             server(pki.extra["billing"]), client(pki.payments),
             Expect("PeerRejectedError", "peer-rejected", None, ("bad_certificate",)),
             Expect("CertificateVerifyError", "verify-failed", "name-mismatch")),
        Case("unknown CA: an impostor orders, signed by some other CA",
             "The name is right, but the chain does not lead to a CA the client trusts.",
             server(pki.extra["impostor"]), client(pki.payments),
             Expect("PeerRejectedError", "peer-rejected", None, ("unknown_ca",)),
             Expect("CertificateVerifyError", "verify-failed", "unknown-issuer")),
        Case("client without a certificate",
             "This is mutual TLS: the server requires a client certificate "
             "(peer_certificate='require', the default).",
             server(), client(None),
             Expect("CertificateVerifyError", "no-certificate", None, no_cert_alerts),
             Expect("PeerRejectedError", "peer-rejected", None, no_cert_alerts)),
        Case("rogue self-signed client: a CA of its own, CN=payments",
             "Anyone can make a certificate that says CN=payments; only one signed by a CA the "
             "server trusts counts.",
             server(), client(None, certificate=rogue.cert_pem, private_key=rogue.key_pem),
             Expect("CertificateVerifyError", "verify-failed", "unknown-issuer"),
             Expect("PeerRejectedError", "peer-rejected", None, ("unknown_ca",))),
        Case("revoked client: payments' certificate is on the CA's CRL",
             "The CA withdrew this certificate before it expired; a server given the CRL "
             "(crl=ca.crl_pem) refuses it.",
             server(crl=pki.ca.crl_pem), client(pki.extra["revoked"]),
             Expect("CertificateVerifyError", "verify-failed", "revoked"),
             Expect("PeerRejectedError", "peer-rejected", None, ("certificate_revoked",))),
        Case("refused by identity policy: analytics is not allowed to call orders",
             "Its certificate is valid and from the right CA, but orders accepts only "
             "peers=['uri:spiffe://example.org/payments'].",
             server(peers=["uri:spiffe://example.org/payments"]), client(pki.extra["analytics"]),
             Expect("CertificateVerifyError", "verify-failed", "policy"),
             Expect("PeerRejectedError", "peer-rejected", None, ("access_denied",))),
        Case("reflected record: the client's own record fed back to it",
             "Each direction has its own traffic key, so a record the client encrypted does not "
             "decrypt with the key it reads with; the record is refused.",
             server(), client(pki.payments),
             None,
             Expect("ProtocolError", "protocol"),
             reflect=True),
    ]
    passed = 0
    for n, case in enumerate(cases, 1):
        try:
            if run_case(mutls, out, n, case):
                passed += 1
        except Exception as exc:  # a bug in a case must not hide the others
            out.say("  =>", out.bad(f"UNEXPECTED: the case raised {type(exc).__name__}: {exc}"), width=9)
    return passed, len(cases)


# ---------------------------------------------------------------------------
# --lua
# ---------------------------------------------------------------------------

def repo_root() -> Optional[Path]:
    """$MUTLS_ROOT, or the checkout this package lives in (None after a
    pip install)."""
    env = os.environ.get("MUTLS_ROOT")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += list(here.parents)
    for c in candidates:
        if (c / "bindings-lua").is_dir() and (c / "csrc").is_dir():
            return c
    return None


LUA_INSTALL_HELP = """\
mutls demo --lua: the Lua module "mutls" for {lua} was not found. Looked in:
{looked}
Install it the way Lua modules are installed, from a mutls source checkout:
  luarocks --lua-version 5.4 make bindings-lua/mutls-scm-1.rockspec          # system tree
  luarocks --lua-version 5.4 --local make bindings-lua/mutls-scm-1.rockspec  # ~/.luarocks
(Debian packages: lua5.4 liblua5.4-dev luarocks libgnutls28-dev), or build it
there with cmake (cmake -S . -B build && cmake --build build: build/lua/5.4/mutls.so)
and set MUTLS_ROOT to the checkout, or put its directory on LUA_CPATH."""

_PROBE = 'local m = require "mutls"; io.write(package.searchpath("mutls", package.cpath) or "(preloaded)")'


def demo_script(root: Optional[Path]) -> Path:
    """The checkout's bindings-lua/examples/demo.lua, or the copy this
    package carries (pip install)."""
    if root is not None and (root / "bindings-lua" / "examples" / "demo.lua").is_file():
        return root / "bindings-lua" / "examples" / "demo.lua"
    return Path(__file__).resolve().parent / "demo.lua"


def lua_environments(root: Optional[Path]):
    """(description, environment) to try, in order: the checkout's build
    tree, then LUA_CPATH/LUA_PATH as the user has them (system and luarocks
    trees are on Lua's default path), then the user's luarocks tree."""
    base = dict(os.environ)
    if root is not None:
        env = dict(base)
        env["LUA_CPATH"] = f"{root}/build/lua/5.4/?.so;" + base.get("LUA_CPATH", ";")
        env["LUA_PATH"] = f"{root}/bindings-lua/?.lua;{root}/bindings-lua/?/init.lua;" + base.get("LUA_PATH", ";")
        yield f"the checkout's build tree ({root}/build/lua/5.4)", env
    yield "LUA_CPATH " + (repr(base["LUA_CPATH"]) if "LUA_CPATH" in base else "unset: Lua's default path"), base
    rocks = Path.home() / ".luarocks"
    env = dict(base)
    env["LUA_CPATH"] = f"{rocks}/lib/lua/5.4/?.so;" + base.get("LUA_CPATH", ";")
    env["LUA_PATH"] = f"{rocks}/share/lua/5.4/?.lua;{rocks}/share/lua/5.4/?/init.lua;" + base.get("LUA_PATH", ";")
    yield f"the user's luarocks tree ({rocks}/lib/lua/5.4)", env


def find_lua_module(lua: str, root: Optional[Path]):
    """The first environment in which `require "mutls"` works: (env, path
    of the module), or (None, what was looked at)."""
    looked = []
    for what, env in lua_environments(root):
        try:
            r = subprocess.run([lua, "-e", _PROBE], env=env, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            looked.append(f"  {what}: {exc}")
            continue
        if r.returncode == 0:
            return env, r.stdout.strip()
        first = (r.stderr.strip().splitlines() or ["failed"])[0]
        looked.append(f"  {what}: {first}")
    return None, "\n".join(looked)


def run_lua(out: Output, args) -> int:
    if args.diagram or args.no_gallery:
        print("mutls demo --lua tells the short story (one call, one refusal): --diagram and "
              "--no-gallery belong to the Python demo (mutls demo)", file=sys.stderr)
        return 2
    root = repo_root()
    lua = os.environ.get("MUTLS_LUA", "lua5.4")
    if shutil.which(lua) is None:
        print(f"mutls demo --lua: {lua} not found (apt-get install lua5.4, or set MUTLS_LUA)", file=sys.stderr)
        return 2
    script = demo_script(root)
    if not script.is_file():
        print(f"mutls demo --lua: {script} is missing", file=sys.stderr)
        return 2
    env, found = find_lua_module(lua, root)
    if env is None:
        print(LUA_INSTALL_HELP.format(lua=lua, looked=found), file=sys.stderr)
        return 2
    sys.stdout.flush()
    try:
        return subprocess.run([lua, str(script)] + lua_args(args), env=env, timeout=120).returncode
    except subprocess.TimeoutExpired:
        print("mutls demo --lua: the Lua demo did not finish in 120 s", file=sys.stderr)
        return 1


def lua_args(args) -> List[str]:
    return ["--tls", args.tls] if args.tls else []


# ---------------------------------------------------------------------------

def run(args, out: Output) -> int:
    if args.lua:
        return run_lua(out, args)
    import mutls

    out.line(out.style(f"mutls demo: mutual TLS between two services, with mutls {mutls.__version__} "
                       f"(Python binding, GnuTLS {getattr(mutls, 'GNUTLS_VERSION', '?')})", "bold"))
    pki = make_pki(mutls, out)
    good = good_handshake(mutls, pki, out, args)
    passed, total = (0, 0)
    if not args.no_gallery:
        passed, total = gallery(mutls, pki, out, args)
    ok = good and passed == total
    out.line("")
    if ok:
        out.line(out.ok(f"== result: ok (the good handshake worked; {passed} of {total} gallery cases "
                        "failed as expected)"))
        return 0
    problems = []
    if not good:
        problems.append("the good handshake failed")
    if passed != total:
        problems.append(f"{total - passed} of {total} gallery cases did not fail as expected")
    out.line(out.bad(f"== result: FAILED ({'; '.join(problems)})"))
    return 1
