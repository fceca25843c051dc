"""An asyncio mTLS echo server (mutls.aio.start_server).

    python aio_server.py --port 8443
    python aio_server.py --port 0 --once   # one client served, then exit
"""

from __future__ import annotations

import argparse
import asyncio

import mutls
import mutls.aio


async def main() -> int:
    ap = argparse.ArgumentParser(description="An asyncio mTLS echo server.")
    ap.add_argument("--cert", default="pki/server/chain.pem")
    ap.add_argument("--key", default="pki/server/key.pem")
    ap.add_argument("--ca", default="pki/ca.pem")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8443, help="0: a free port")
    ap.add_argument("--once", action="store_true", help="exit after one client was served")
    args = ap.parse_args()

    cfg = mutls.Config(certificate=args.cert, private_key=args.key, trust=args.ca)
    served = asyncio.Event()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Only clients whose certificate was verified get here.
        session: mutls.Session = writer.get_extra_info("mutls_session")
        peer: mutls.Certificate = writer.get_extra_info("peercert")
        who = peer.uris[0] if peer.uris else peer.common_name
        print(f"client is {who} ({session.version})", flush=True)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            served.set()

    server = await mutls.aio.start_server(echo, args.host, args.port, config=cfg)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        if args.once:
            await served.wait()
        else:
            await server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
