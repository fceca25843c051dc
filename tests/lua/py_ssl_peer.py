"""Python's ssl as one mTLS peer, for tests/lua/interop_spec.lua.

    python3 py_ssl_peer.py server --version 1.3 --ca CA --cert CHAIN --key KEY --port-file F
    python3 py_ssl_peer.py client --version 1.2 --ca CA [--cert CHAIN --key KEY] --port N
                                  [--hostname localhost] [--send TEXT]

server: binds 127.0.0.1 port 0, writes the port to --port-file (atomically),
requires and verifies a client certificate, accepts one connection, reads one
message and echoes it. client: connects to 127.0.0.1:--port, verifies the
server for --hostname, sends --send (if given) and reads one message. Both
exit by themselves after that one connection or after --timeout seconds.

What the ssl layer reported goes to stdout, one "key: value" line each:
    handshake: yes|no
    peer_uris: <URI SANs of the peer certificate, comma-separated>
    received: <hex of the bytes read>
    error_class: <exception class>      (on failure)
    error_reason: <SSLError.reason>
    verify_message: <SSLCertVerificationError.verify_message>
    error: <str(exception), one line>
    done
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
from typing import Any, Optional


def say(key: str, value: Any) -> None:
    text = str(value).replace("\r", " ").replace("\n", " ")
    sys.stdout.write(f"{key}: {text}\n")
    sys.stdout.flush()


def context(args: argparse.Namespace, server: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    v = ssl.TLSVersion.TLSv1_3 if args.version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


def report_error(exc: BaseException) -> None:
    say("error_class", type(exc).__name__)
    reason: Optional[str] = getattr(exc, "reason", None)
    if reason:
        say("error_reason", reason)
    verify_message: Optional[str] = getattr(exc, "verify_message", None)
    if verify_message:
        say("verify_message", verify_message)
    say("error", exc)


def report_peer(s: ssl.SSLSocket) -> None:
    say("handshake", "yes")
    cert = s.getpeercert() or {}
    sans: Any = cert.get("subjectAltName", ())
    uris = [str(v) for (k, v) in sans if k == "URI"]
    say("peer_uris", ",".join(uris))


def run_server(args: argparse.Namespace) -> None:
    ctx = context(args, server=True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(args.timeout)
        port = listener.getsockname()[1]
        say("port", port)
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
        handshake = False
        try:
            conn, _ = listener.accept()
            conn.settimeout(args.timeout)
            with ctx.wrap_socket(conn, server_side=True) as s:
                handshake = True
                report_peer(s)
                data = s.recv(1024)
                say("received", data.hex())
                s.sendall(data)
        except (ssl.SSLError, OSError) as exc:
            if not handshake:
                say("handshake", "no")
            report_error(exc)


def run_client(args: argparse.Namespace) -> None:
    ctx = context(args, server=False)
    handshake = False
    try:
        with socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=args.hostname) as s:
                handshake = True
                report_peer(s)
                if args.send is not None:
                    s.sendall(args.send.encode())
                data = s.recv(1024)
                say("received", data.hex())
    except (ssl.SSLError, OSError) as exc:
        if not handshake:
            say("handshake", "no")
        report_error(exc)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["server", "client"])
    ap.add_argument("--version", choices=["1.2", "1.3"], required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--port-file")
    ap.add_argument("--port", type=int)
    ap.add_argument("--hostname", default="localhost")
    ap.add_argument("--send")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    if args.mode == "server":
        if not args.port_file or not args.cert:
            ap.error("server needs --port-file and --cert/--key")
        run_server(args)
    else:
        if not args.port:
            ap.error("client needs --port")
        run_client(args)
    say("done", "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
