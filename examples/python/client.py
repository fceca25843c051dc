"""A blocking mTLS client: it presents its certificate, checks the server's,
sends one message and prints the reply.

    python client.py 8443
    python client.py --host 127.0.0.1 --server-hostname localhost 8443 "hello"
"""

from __future__ import annotations

import argparse
import sys

import mutls


def main() -> int:
    ap = argparse.ArgumentParser(description="A blocking mTLS client.")
    ap.add_argument("port", type=int)
    ap.add_argument("message", nargs="?", default="hello from mutls")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--server-hostname", default="localhost", help="the name the server's certificate must have")
    ap.add_argument("--cert", default="pki/client/chain.pem", help="our certificate chain (PEM)")
    ap.add_argument("--key", default="pki/client/key.pem", help="our private key (PEM)")
    ap.add_argument("--ca", default="pki/ca.pem", help="the CA that issued the server's certificate")
    args = ap.parse_args()

    cfg = mutls.Config(certificate=args.cert, private_key=args.key, trust=args.ca)
    try:
        with cfg.connect((args.host, args.port), server_hostname=args.server_hostname, timeout=10) as session:
            peer = session.peer_certificate
            assert peer is not None  # verified: the handshake would have failed otherwise
            print(f"server is {peer.subject} {peer.dns_names} ({session.version}, {session.cipher})")
            session.sendall(args.message.encode())
            reply = session.recv()  # TLS 1.3: a server that refused us says so here
            print(f"reply: {reply.decode()}")
        # the with block sent close_notify and closed the socket
    except mutls.Error as exc:
        print(f"failed: {exc} [code={exc.code} reasons={','.join(exc.reasons)} alert={exc.alert}]",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
