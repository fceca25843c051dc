"""Connect to a TLS server and say what it presents and whether it verifies.

Like `openssl s_client`, but it says why: the negotiated version, cipher
suite and ALPN protocol, the server's chain as presented, the outcome of each
check, and on failure the one-sentence explanation with the error's code,
reasons, side and alert. Give --cert/--key to present a client certificate
(mutual TLS). Without --ca the system trust store is used.

In TLS 1.3 a server refuses a client certificate only after the client's
handshake is complete, so probe waits briefly (--wait) for a refusal after
the handshake before it calls the connection good.

Exit status: 0 the handshake worked and the server verified; 1 it did not
(refused, unverified, unreachable, timed out); 2 usage.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Any, Dict, Optional

from .output import Output, describe_certificate, error_fields, iso

EPILOG = """\
examples:
  mutls probe 127.0.0.1:8443 --ca pki/ca.pem --cert pki/client/chain.pem --key pki/client/key.pem
  mutls probe example.org:443                   # system trust, no client certificate
  mutls probe 10.0.0.7:8443 --ca ca.pem --servername api.internal --tls 1.2
"""


def add_arguments(p) -> None:
    p.add_argument("target", metavar="HOST:PORT", help="where to connect ([::1]:443 for IPv6)")
    p.add_argument("--cert", metavar="FILE", help="our certificate chain (PEM, leaf first)")
    p.add_argument("--key", metavar="FILE", help="our private key (PEM)")
    p.add_argument("--password", metavar="TEXT", help="password of an encrypted --key")
    p.add_argument("--ca", metavar="FILE", action="append",
                   help="trusted CA certificates (PEM file or directory; repeatable). Default: the system store")
    p.add_argument("--crl", metavar="FILE", action="append", help="a CRL to check the server against (repeatable)")
    p.add_argument("--servername", metavar="NAME",
                   help="the name to ask for and check (default: HOST); an IP address is checked "
                        "against IP SANs and sends no SNI")
    p.add_argument("--no-check-hostname", action="store_true", help="do not check the server's name")
    p.add_argument("--peers", metavar="PATTERN", nargs="+",
                   help="identity policy for the server: dns:..., ip:..., uri:..., cn:..., sha256:...")
    p.add_argument("--alpn", metavar="PROTO", action="append", help="offer an ALPN protocol (repeatable)")
    p.add_argument("--tls", choices=("1.2", "1.3"), help="allow only this TLS version")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds for connect and handshake (default 10)")
    p.add_argument("--wait", type=float, default=1.0,
                   help="seconds to wait after the handshake for a late refusal (TLS 1.3; default 1)")
    p.add_argument("--send", metavar="TEXT", help="send TEXT after the handshake and print the reply")
    p.add_argument("--trace", action="store_true", help="print every handshake event")


def parse_target(target: str):
    from . import UsageProblem

    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        if not rest.startswith(":"):
            raise UsageProblem(f"HOST:PORT expected, got {target!r}")
        port = rest[1:]
    else:
        host, sep, port = target.rpartition(":")
        if not sep:
            raise UsageProblem(f"HOST:PORT expected, got {target!r}")
    try:
        port_n = int(port)
        if not 0 < port_n < 65536:
            raise ValueError
    except ValueError:
        raise UsageProblem(f"bad port in {target!r}") from None
    if not host:
        raise UsageProblem(f"no host in {target!r}")
    return host, port_n


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def make_config(mutls, args, out: Output):
    from . import UsageProblem, shared_config_options

    if bool(args.cert) != bool(args.key):
        raise UsageProblem("--cert and --key go together")
    opts: Dict[str, Any] = {}
    if args.cert:
        opts.update(certificate=args.cert, private_key=args.key)
        if args.password:
            opts["password"] = args.password
    opts["trust"] = args.ca if args.ca else "system"
    opts.update(shared_config_options(args))
    if args.no_check_hostname:
        opts["check_hostname"] = False
    if args.trace:
        def trace(ev):
            if ev.kind == "message":
                text = f"{'->' if ev.outgoing else '<-'} {ev.name} ({ev.length} bytes) {ev.detail}"
            elif ev.kind == "check":
                text = f"check {ev.name:<10} {'ok  ' if ev.ok else 'FAIL'} {ev.detail}"
            elif ev.kind == "alert":
                text = f"{'->' if ev.outgoing else '<-'} alert {ev.name} {ev.detail}"
            else:
                text = f"info  {ev.name:<16} {ev.detail}"
            out.say("trace", text.rstrip())
        opts["trace"] = trace
    return mutls.Config(**opts)


def show_chain(out: Output, session) -> None:
    chain = session.peer_chain
    if not chain:
        out.line("server chain:  (none presented)")
        return
    out.line(f"server chain:  {len(chain)} certificate{'s' if len(chain) != 1 else ''}, as presented")
    for i, cert in enumerate(chain):
        out.line(f"  {i}  {describe_certificate(cert)}")
        out.line(f"     issuer {cert.issuer}; valid {iso(cert.not_before)} to {iso(cert.not_after)}; "
                 f"{cert.key_type}{'; CA' if cert.is_ca else ''}")
        out.line(f"     sha256 {cert.fingerprint('sha256')}")


def show_checks(out: Output, session) -> None:
    checks = [ev for ev in session.trace if ev.kind == "check"]
    if not checks:
        return
    out.line("checks:")
    for ev in checks:
        mark = out.ok("ok  ") if ev.ok else out.bad("FAIL")
        out.line(f"  {ev.name:<10} {mark} {ev.detail}")


def show_failure(out: Output, session, exc) -> None:
    out.line(f"{out.bad('error:')}         {type(exc).__name__}: {exc}")
    out.line(f"               {error_fields(exc)}")
    if session is not None:
        try:
            text = session.explain().rstrip()
        except Exception:
            text = ""
        if text:
            out.line("explain:")
            for line in text.splitlines():
                out.line(f"  {line}")


def run(args, out: Output) -> int:
    import mutls

    host, port = parse_target(args.target)
    name = args.servername or host
    cfg = make_config(mutls, args, out)
    out.line(f"probing {host}:{port} as {name!r}"
             + (" with a client certificate" if args.cert else " without a client certificate"))
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=args.timeout)
    except OSError as exc:
        out.line(f"{out.bad('error:')}         cannot connect to {host}:{port}: {exc}")
        return 1
    session = None
    try:
        sock.settimeout(args.timeout)
        session = cfg.client(sock, server_hostname=None if args.no_check_hostname and not args.servername
                             else name)
        try:
            session.handshake()
        except mutls.Error as exc:
            report(out, session, ok=False)
            show_failure(out, session, exc)
            return 1
        # TLS 1.3: a refusal of our certificate arrives after our handshake.
        late: Optional[BaseException] = None
        reply = b""
        if args.send is not None:
            session.sendall(args.send.encode())
        sock.settimeout(args.wait if args.send is None else args.timeout)
        try:
            reply = session.recv(16384)
        except mutls.TimeoutError:
            pass  # the server is waiting for us to speak: no refusal
        except mutls.ConnectionClosed as exc:
            late = exc
        except mutls.Error as exc:
            late = exc
        elapsed = time.monotonic() - start
        if late is not None and not isinstance(late, mutls.ConnectionClosed):
            report(out, session, ok=False)
            out.line("the handshake completed, then the server refused us:")
            show_failure(out, session, late)
            return 1
        report(out, session, ok=True)
        if args.send is not None:
            out.line(f"reply:         {reply!r}")
        elif reply:
            out.line(f"server said:   {reply[:200]!r}")
        if isinstance(late, mutls.ConnectionClosed):
            out.line(f"note:          the server closed without close_notify after the handshake ({late})")
        out.line(out.ok(f"ok: handshake and verification succeeded in {elapsed * 1000:.0f} ms"))
        try:
            sock.settimeout(1.0)
            session.close()
        except mutls.Error:
            pass
        return 0
    finally:
        sock.close()


def report(out: Output, session, ok: bool) -> None:
    out.line(f"version:       {session.version or '(not negotiated)'}")
    cipher = session.cipher
    if not cipher:
        # a failed handshake: the suite the server chose is in its ServerHello
        for ev in session.trace:
            if ev.kind == "message" and ev.name == "ServerHello" and ", " in ev.detail:
                cipher = ev.detail.rsplit(", ", 1)[1] + " (chosen in ServerHello)"
    out.line(f"cipher suite:  {cipher or '(not negotiated)'}")
    out.line(f"ALPN:          {session.alpn or '(none)'}")
    show_chain(out, session)
    show_checks(out, session)
    v = session.verification
    if session.peer_chain:
        state = out.ok("verified") if session.verified else out.bad("NOT verified")
        out.line(f"verification:  {state}" + (f" ({', '.join(v.reasons)})" if v.reasons else ""))
        if v.message and not session.verified:
            out.line(f"               {v.message}")
