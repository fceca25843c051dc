"""Run an mTLS echo server that prints who each client is, or why it was refused.

The first line printed is "listening on HOST:PORT" (with the real port when
--port is 0), so a script can read it. For each connection one line says
either "accepted ... <client identity> (verified)" or "refused ... <the
reason>" with the error's code, reasons and alert. An accepted client gets
back what it sends; a client that speaks HTTP (curl) gets one HTTP/1.1
response naming its verified identity, then the connection closes. Whether
a client speaks HTTP is decided on its whole request line (read up to
8 KiB, however many records it comes in), not on its first record.

--cert, --key and --ca are files; `mutls ca DIR` writes a set. Without
--peers every client with a valid certificate from --ca is accepted.

--once serves one connection, --max N serves N, then the server exits:
status 0 if every client was accepted, 1 if any was refused. Without them it
runs until interrupted (Ctrl-C, exit status 0).
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from .._linger import linger
from .output import Output, describe_certificate, error_fields

EPILOG = """\
examples:
  mutls ca pki && mutls serve --cert pki/server/chain.pem --key pki/server/key.pem --ca pki/ca.pem --port 8443
  mutls serve ... --peers uri:spiffe://example.org/payments cn:client
  curl --cacert pki/ca.pem --cert pki/client/cert.pem --key pki/client/key.pem https://localhost:8443/
"""

HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")
# Request line and headers are read up to this many bytes before answering.
HTTP_HEAD_MAX = 8192


def add_arguments(p) -> None:
    from . import add_server_arguments

    add_server_arguments(p, default_port=0)
    p.add_argument("--once", action="store_true", help="serve one connection, then exit")
    p.add_argument("--max", type=int, metavar="N", help="serve N connections, then exit")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds a client may stay silent (default 30)")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = 0
        self.refused = 0


def identity_of(cert) -> str:
    return describe_certificate(cert) if cert is not None else "(anonymous: no certificate)"


def handle(cfg, conn: socket.socket, addr, out: Output, stats: Stats, timeout: float) -> None:
    import mutls

    where = f"{addr[0]}:{addr[1]}"
    session = None
    try:
        conn.settimeout(timeout)
        # small request/response records: do not let Nagle hold a reply back
        # behind an unacknowledged session ticket (a 40 ms stall per exchange)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = cfg.server(conn)
        try:
            session.handshake()
        except mutls.Error as exc:
            with stats.lock:
                stats.refused += 1
            who = identity_of(exc.peer_certificate) if exc.peer_certificate is not None else \
                identity_of(session.peer_certificate)
            out.line(f"refused  {where}  {who}")
            out.line(f"         {exc}")
            out.line(f"         {error_fields(exc)}")
            linger(conn)
            return
        with stats.lock:
            stats.accepted += 1
        who = identity_of(session.peer_certificate)
        state = "verified" if session.verified else "not verified"
        out.line(f"accepted {where}  {who}  ({state}; {session.version}, {session.cipher}"
                 + (f", ALPN {session.alpn}" if session.alpn else "")
                 + (", resumed" if session.resumed else "") + ")")
        echo(session, who, state, out, where)
    except Exception as exc:  # one bad connection must not end the server
        out.line(f"error    {where}  {type(exc).__name__}: {exc}")
    finally:
        try:
            conn.close()
        except OSError:
            pass


def could_be_http(data: bytes) -> bool:
    """True while data starts with an HTTP method, or could still become one."""
    return any(data.startswith(m) or m.startswith(data) for m in HTTP_METHODS)


def read_opening(session) -> "tuple[bytes, bool]":
    """What the client sends first, and whether it is an HTTP request. A
    request line may come in many records (one byte each, even): read until
    it cannot be HTTP, or the request head is complete (blank line), or
    HTTP_HEAD_MAX bytes, or the client closes."""
    data = b""
    while len(data) < HTTP_HEAD_MAX and (not data or could_be_http(data)):
        if data.startswith(HTTP_METHODS) and (b"\r\n\r\n" in data or b"\n\n" in data):
            break
        chunk = session.recv(HTTP_HEAD_MAX - len(data))
        if not chunk:
            break  # close_notify
        data += chunk
    http = data.startswith(HTTP_METHODS) and (b"\n" in data or len(data) >= HTTP_HEAD_MAX)
    return data, http


def echo(session, who: str, state: str, out: Output, where: str) -> None:
    import mutls

    total = 0
    try:
        data, http = read_opening(session)
        if http:
            body = (f"hello {who} ({state}, {session.version})\n".encode()
                    + b"you sent:\n" + data)
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            session.sendall(head + body)
            total += len(data)
        while data and not http:
            session.sendall(data)
            total += len(data)
            data = session.recv(16384)  # b"": close_notify
        session.close()
        out.line(f"closed   {where}  echoed {total} bytes")
    except mutls.Error as exc:
        out.line(f"closed   {where}  after {total} bytes: {exc}")


def run(args, out: Output) -> int:
    import mutls

    from . import UsageProblem, server_config_options

    if args.once and args.max:
        raise UsageProblem("--once and --max exclude each other")
    limit = 1 if args.once else args.max
    if limit is not None and limit < 1:
        raise UsageProblem("--max must be at least 1")
    cfg = mutls.Config(**server_config_options(args))

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
    except OSError as exc:
        raise UsageProblem(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    listener.listen(128)
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    out.line(f"listening on {shown}:{port}")
    policy = " ".join(args.peers) if args.peers else "any client certificate from the trusted CA"
    out.line(f"mTLS: client certificate {'optional' if args.optional else 'required'}; peers: {policy}")

    stats = Stats()
    threads = []
    served = 0
    try:
        while limit is None or served < limit:
            conn, addr = listener.accept()
            served += 1
            t = threading.Thread(target=handle, args=(cfg, conn, addr, out, stats, args.timeout), daemon=True)
            t.start()
            threads.append(t)
            threads = [x for x in threads if x.is_alive()]
    except KeyboardInterrupt:
        out.line("interrupted")
        limit = None
    finally:
        listener.close()
    deadline = time.monotonic() + args.timeout + 5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if limit is not None:
        out.line(f"served {served}: {stats.accepted} accepted, {stats.refused} refused")
        return 0 if stats.refused == 0 else 1
    return 0
