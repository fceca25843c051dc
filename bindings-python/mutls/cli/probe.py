"""Connect to a TLS server and say what it presents and whether it verifies.

Like `openssl s_client`, but it says why: the negotiated version, cipher
suite and ALPN protocol, the server's chain as presented, the outcome of each
check, and on failure the one-sentence explanation with the error's code,
reasons, side and alert. Give --cert/--key to present a client certificate
(mutual TLS). Without --ca the system trust store is used.

The summary also says what happened to the client certificate: whether the
server asked for one (a CertificateRequest in the handshake), what we sent,
and whether the server accepted it. Whether a server *requires* one shows
only when we send none (or it refuses ours). --json prints the same as one
JSON object. --send DATA sends DATA (\r \n \t \\ escapes understood) after the
handshake and prints the whole reply, until the server closes or --timeout
passes. curl's spellings work too: --cacert for --ca (--cert and --key are
the same).

In TLS 1.3 a server refuses a client certificate only after the client's
handshake is complete, so probe waits briefly (--wait) for a refusal after
the handshake before it calls the connection good.

Exit status: 0 the handshake worked and the server verified; 1 it did not
(refused, unverified, unreachable, timed out); 2 usage.
"""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import time
from typing import Any, Dict, List, Optional

from .output import Output, describe_certificate, error_fields, iso

EPILOG = """\
examples:
  mutls probe 127.0.0.1:8443 --ca pki/ca.pem --cert pki/client/chain.pem --key pki/client/key.pem
  mutls probe example.org:443                   # system trust, no client certificate
  mutls probe 10.0.0.7:8443 --ca ca.pem --servername api.internal --tls 1.2
  mutls probe 127.0.0.1:8443 --cacert pki/ca.pem --cert pki/client/chain.pem --key pki/client/key.pem \\
      --send 'GET / HTTP/1.0\\r\\n\\r\\n' --json
"""


def add_arguments(p) -> None:
    p.add_argument("target", metavar="HOST:PORT", help="where to connect ([::1]:443 for IPv6)")
    p.add_argument("--cert", metavar="FILE", help="our certificate chain (PEM, leaf first)")
    p.add_argument("--key", metavar="FILE", help="our private key (PEM)")
    p.add_argument("--password", metavar="TEXT", help="password of an encrypted --key")
    p.add_argument("--ca", "--cacert", dest="ca", metavar="FILE", action="append",
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
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds for connect and handshake, and for the reply to --send (default 10)")
    p.add_argument("--wait", type=float, default=1.0,
                   help="seconds to wait after the handshake for a late refusal (TLS 1.3; default 1)")
    p.add_argument("--send", metavar="TEXT",
                   help="send TEXT after the handshake (escapes \\r \\n \\t \\\\) and print the whole reply, "
                        "until the server closes or --timeout passes")
    p.add_argument("--trace", action="store_true", help="print every handshake event")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


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


_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str) -> bytes:
    """--send TEXT with \\r \\n \\t \\\\ turned into the bytes they name."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out).encode()


def negotiated(session) -> bool:
    """A version and suite exist only once the server answered (ServerHello):
    GnuTLS reports a default version before that."""
    if session.handshake_done:
        return True
    return any(ev.kind == "message" and not ev.outgoing and ev.name == "ServerHello" for ev in session.trace)


def our_label(mutls, args) -> Optional[str]:
    if not args.cert:
        return None
    try:
        return mutls.load_certificates(args.cert)[0].label
    except Exception:
        return args.cert


# Alerts a server sends when it refuses the client's certificate (or its
# absence); "closed" has none: a server that just hangs up after asking.
_CERT_ALERTS = {None, "bad_certificate", "unsupported_certificate", "certificate_revoked", "certificate_expired",
                "certificate_unknown", "unknown_ca", "access_denied", "certificate_required", "handshake_failure",
                "decrypt_error"}


def client_certificate(session, ours: Optional[str], failure, late: bool) -> Dict[str, Any]:
    """What happened to our certificate, from the trace: asked (a
    CertificateRequest came), sent (our Certificate message was not empty),
    accepted (the server went on). "Required" shows only when we sent none."""
    trace = session.trace if session is not None else []
    asked = any(ev.kind == "message" and not ev.outgoing and ev.name == "CertificateRequest" for ev in trace)
    sent_msg = [ev for ev in trace if ev.kind == "message" and ev.outgoing and ev.name == "Certificate"]
    sent = ours if sent_msg and not sent_msg[0].detail.startswith("empty") else None
    refused = failure is not None and getattr(failure, "side", None) == "peer" and \
        getattr(failure, "code", None) in ("peer-rejected", "closed") and (asked or late)
    alert = getattr(failure, "alert", None)
    done = session is not None and session.handshake_done
    info: Dict[str, Any] = {"requested": asked, "sent": sent, "accepted": None}
    if not asked:
        if done:
            info["summary"] = "the server did not ask for a client certificate" + \
                (f" (ours, {ours}, was not sent)" if ours else "")
        else:
            info["requested"] = None
            info["summary"] = "unknown: the handshake ended before the server would have asked for one"
        return info
    what = f"we sent {sent}" if sent else "we sent none"
    if failure is None:
        info["accepted"] = True
        verdict = "it was accepted" if sent else \
            "it let us in without one (it asks for one but does not require it)"
    elif refused and alert not in _CERT_ALERTS:
        verdict = f"the server ended the connection (alert {alert}) for a reason the alert does not tie " \
                  "to the certificate"
    elif refused:
        info["accepted"] = False
        why = f" (alert {alert})" if alert else ""
        if sent:
            verdict = f"it refused it{why}"
        elif alert == "certificate_required":
            verdict = f"it refused us{why}: it requires one"
        else:
            verdict = f"it refused us{why}, most likely because it requires one"
    else:
        verdict = "the handshake stopped before the server judged it"
    info["summary"] = f"the server asked for a client certificate; {what}; {verdict}"
    return info


def read_reply(mutls, session, sock, timeout: float, chunks: List[bytes]) -> str:
    """Reads until the server closes or timeout passes; says which ended it.
    A refusal (a mutls.Error other than a close or a timeout) propagates."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"--timeout ({timeout:g} s) passed; the server kept the connection open"
        sock.settimeout(left)
        try:
            data = session.recv(65536)
        except mutls.TimeoutError:
            continue  # the loop reports the timeout
        except mutls.ConnectionClosed as exc:
            if getattr(exc, "alert", None) not in (None, "close_notify"):
                raise
            return "the server closed the connection without close_notify"
        if not data:
            return "the server closed the connection (close_notify)"
        chunks.append(data)


def error_dict(exc: BaseException, when: str) -> Dict[str, Any]:
    return {
        "class": type(exc).__name__,
        "code": getattr(exc, "code", None),
        "reasons": list(getattr(exc, "reasons", None) or []),
        "side": getattr(exc, "side", None),
        "step": getattr(exc, "step", None),
        "alert": getattr(exc, "alert", None),
        "message": str(exc),
        "when": when,
    }


def run(args, out: Output) -> int:
    import mutls

    from .inspect import facts

    host, port = parse_target(args.target)
    name = args.servername or host
    text = out
    if args.json:
        out = Output(io.StringIO(), colour=False)  # the JSON object is the only output
    cfg = make_config(mutls, args, out)
    ours = our_label(mutls, args)
    result: Dict[str, Any] = {"target": f"{host}:{port}", "server_name": name, "ok": False}
    out.line(f"probing {host}:{port} as {name!r}"
             + (" with a client certificate" if args.cert else " without a client certificate"))
    start = time.monotonic()

    def finish(code: int) -> int:
        result["ok"] = code == 0
        result["elapsed_ms"] = round((time.monotonic() - start) * 1000)
        if args.json:
            text.line(json.dumps(result, indent=2))
        return code

    try:
        sock = socket.create_connection((host, port), timeout=args.timeout)
    except OSError as exc:
        out.line(f"{out.bad('error:')}         cannot connect to {host}:{port}: {exc}")
        result["error"] = {"class": type(exc).__name__, "code": None, "reasons": [], "side": None,
                           "step": None, "alert": None, "message": f"cannot connect to {host}:{port}: {exc}",
                           "when": "connect"}
        return finish(1)
    session = None
    try:
        sock.settimeout(args.timeout)
        session = cfg.client(sock, server_hostname=None if args.no_check_hostname and not args.servername
                             else name)
        try:
            session.handshake()
        except mutls.Error as exc:
            describe(result, session, ours, exc, late=False, facts=facts, trace=args.trace)
            report(out, session, result)
            show_failure(out, session, exc)
            return finish(1)
        # TLS 1.3: a refusal of our certificate arrives after our handshake.
        late: Optional[BaseException] = None
        closed: Optional[BaseException] = None
        reply = b""
        chunks: List[bytes] = []
        ended = ""
        if args.send is not None:
            try:
                session.sendall(unescape(args.send))
                ended = read_reply(mutls, session, sock, args.timeout, chunks)
            except mutls.Error as exc:
                late = exc
            reply = b"".join(chunks)
        else:
            sock.settimeout(args.wait)
            try:
                reply = session.recv(16384)
            except mutls.TimeoutError:
                pass  # the server is waiting for us to speak: no refusal
            except mutls.ConnectionClosed as exc:
                closed = exc
            except mutls.Error as exc:
                late = exc
        elapsed = time.monotonic() - start
        describe(result, session, ours, late, late=late is not None, facts=facts, trace=args.trace)
        if args.send is not None:
            result["reply"] = reply.decode("utf-8", errors="replace")
            result["reply_bytes"] = len(reply)
            result["reply_ended"] = ended or None
        if late is not None:
            report(out, session, result)
            out.line("the handshake completed, then the server refused us:")
            show_failure(out, session, late)
            return finish(1)
        report(out, session, result)
        if args.send is not None:
            out.line(f"reply:         {len(reply)} bytes; {ended}")
            for line in reply.decode("utf-8", errors="replace").splitlines():
                out.line(f"  | {line}")
        elif reply:
            out.line(f"server said:   {reply[:200]!r}")
        if closed is not None:
            note = f"the server closed without close_notify after the handshake ({closed})"
            result["note"] = note
            out.line(f"note:          {note}")
        out.line(out.ok(f"ok: handshake and verification succeeded in {elapsed * 1000:.0f} ms"))
        try:
            sock.settimeout(1.0)
            session.close()
        except mutls.Error:
            pass
        return finish(0)
    finally:
        sock.close()


def describe(result: Dict[str, Any], session, ours: Optional[str], failure, late: bool, facts, trace: bool) -> None:
    """The facts of the session into result (the JSON object; report prints it)."""
    cipher = session.cipher
    if not cipher and negotiated(session):
        # a failed handshake: the suite the server chose is in its ServerHello
        for ev in session.trace:
            if ev.kind == "message" and ev.name == "ServerHello" and ", " in ev.detail:
                cipher = ev.detail.rsplit(", ", 1)[1]
    v = session.verification
    chain = session.peer_chain
    result.update({
        "version": session.version if negotiated(session) else None,
        "cipher": cipher or None,
        "cipher_from_server_hello": bool(cipher) and not session.cipher,
        "alpn": session.alpn,
        "peer_certificate": facts(chain[0]) if chain else None,
        "peer_chain": [facts(c) for c in chain],
        "verification": {
            "verified": bool(session.verified),
            "reasons": list(v.reasons),
            "message": v.message or None,
            "checks": [{"name": ev.name, "ok": bool(ev.ok), "detail": ev.detail}
                       for ev in session.trace if ev.kind == "check"],
        },
        "client_certificate": client_certificate(session, ours, failure, late),
        "error": error_dict(failure, "after-handshake" if late else "handshake") if failure is not None else None,
    })
    if trace:
        result["trace"] = [{"kind": ev.kind, "outgoing": bool(ev.outgoing), "ok": bool(ev.ok), "name": ev.name,
                            "detail": ev.detail} for ev in session.trace]


def report(out: Output, session, result: Dict[str, Any]) -> None:
    out.line(f"version:       {result['version'] or '(not negotiated)'}")
    cipher = result["cipher"]
    if cipher and result["cipher_from_server_hello"]:
        cipher += " (chosen in ServerHello)"
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
    out.line(f"client cert:   {result['client_certificate']['summary']}")
