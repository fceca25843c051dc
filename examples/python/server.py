"""A blocking mTLS echo server: it requires a client certificate from the CA,
says who each client is, and echoes what it sends.

    python make_pki.py pki
    python server.py --port 8443          # serve until interrupted
    python server.py --port 0 --once      # one connection on a free port, then exit

Blocking calls need concurrency: a pool of threads (--workers) each accepts
and serves one connection at a time, so a client that connects and then sits
idle holds one worker, not the server. Its handshake ends after the Config's
handshake_timeout (--handshake-timeout, 30 s by default).
"""

from __future__ import annotations

import argparse
import socket
import threading

import mutls


def main() -> int:
    ap = argparse.ArgumentParser(description="A blocking mTLS echo server.")
    ap.add_argument("--cert", default="pki/server/chain.pem", help="our certificate chain (PEM)")
    ap.add_argument("--key", default="pki/server/key.pem", help="our private key (PEM)")
    ap.add_argument("--ca", default="pki/ca.pem", help="the CA that issues client certificates")
    ap.add_argument("--peer", action="append", help="allowed client, e.g. uri:spiffe://example.org/*")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8443, help="0: a free port")
    ap.add_argument("--once", action="store_true", help="serve one connection, then exit")
    ap.add_argument("--workers", type=int, default=16, help="connections served at once")
    ap.add_argument("--handshake-timeout", type=float, default=30.0,
                    help="seconds a client may take to finish its handshake")
    args = ap.parse_args()

    cfg = mutls.Config(certificate=args.cert, private_key=args.key, trust=args.ca, peers=args.peer,
                       handshake_timeout=args.handshake_timeout)
    with socket.create_server((args.host, args.port)) as listener:
        host, port = listener.getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)
        if args.once:
            return serve(cfg, listener, once=True)
        workers = [threading.Thread(target=serve, args=(cfg, listener), daemon=True)
                   for _ in range(max(1, args.workers))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return 0


def serve(cfg: mutls.Config, listener: socket.socket, once: bool = False) -> int:
    """Accepts and serves connections one at a time (one worker's loop)."""
    while True:
        try:
            # the handshake ends within cfg.handshake_timeout, whatever the client does
            session, address = cfg.accept(listener)
        except mutls.Error as exc:  # refused, refused us, not TLS, or too slow
            print(f"refused: {exc} [code={exc.code} reasons={','.join(exc.reasons)}]", flush=True)
            if once:
                return 1
            continue
        with session:  # at its end: close_notify, and the connection is closed
            peer = session.peer_certificate
            names = peer.uris + peer.dns_names if peer else []
            who = names[0] if names else peer.common_name if peer else None
            print(f"client {address[0]}:{address[1]} is {who} ({session.version})", flush=True)
            try:
                while data := session.recv():  # b"": the client closed (close_notify)
                    session.sendall(data)
            except mutls.Error as exc:
                print(f"connection ended: {exc}", flush=True)
        if once:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
