"""An asyncio mTLS client (mutls.aio.open_connection).

    python aio_client.py 8443 "hello"
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import mutls
import mutls.aio


async def main() -> int:
    ap = argparse.ArgumentParser(description="An asyncio mTLS client.")
    ap.add_argument("port", type=int)
    ap.add_argument("message", nargs="?", default="hello from mutls.aio")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--server-hostname", default="localhost")
    ap.add_argument("--cert", default="pki/client/chain.pem")
    ap.add_argument("--key", default="pki/client/key.pem")
    ap.add_argument("--ca", default="pki/ca.pem")
    args = ap.parse_args()

    cfg = mutls.Config(certificate=args.cert, private_key=args.key, trust=args.ca)
    try:
        reader, writer = await asyncio.wait_for(
            mutls.aio.open_connection(args.host, args.port, config=cfg, server_hostname=args.server_hostname), 10)
        peer: mutls.Certificate = writer.get_extra_info("peercert")
        print(f"server is {peer.subject} {peer.dns_names} ({writer.get_extra_info('version')})")
        writer.write(args.message.encode())
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(65536), 10)  # TLS 1.3: a refusal arrives here
        print(f"reply: {reply.decode()}")
        writer.close()
        await writer.wait_closed()
    except mutls.Error as exc:
        print(f"failed: {exc} [code={exc.code} reasons={','.join(exc.reasons)} alert={exc.alert}]",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
