"""The HTTP worker of bench/run (issue 13): one FastAPI app, served and called
over mutual TLS by mutls and by Python's ssl.

    python3 bench/http_worker.py server mutls|ssl PKI_DIR
        serves the app on 127.0.0.1, port 0: mutls.asgi.Server, or uvicorn
        with its own ssl_certfile/ssl_keyfile/ssl_ca_certs and
        ssl_cert_reqs=CERT_REQUIRED (the same uvicorn protocol class, h11 or
        httptools, in both); prints "ok PORT", serves until stdin closes or
        "quit" arrives (at most 30 minutes).
    python3 bench/http_worker.py client PKI_DIR
        reads commands on stdin, one answer line each ("ok ..." or "err ..."):
          run STACK MODE N PORT   N sequential GET /charge with httpx over
                                  mutls.httpx (STACK mutls) or over an
                                  ssl.SSLContext with a client certificate
                                  (STACK ssl); MODE keepalive (one client,
                                  one connection) or conn (one connection
                                  per request); answers "ok SECONDS
                                  CONNECTIONS RESUMED"
          neg PORT                a client without a certificate must be
                                  refused: "ok refused" or "err ..."
          quit
Every response is checked (status 200 and the body), every connection
verified both peers (the server requires the client certificate).
"""

import asyncio
import os
import socket
import ssl
import sys
import time

STACKS = ("mutls", "ssl")
BODY = b'{"charged":"42 EUR"}'


def pki_file(pki, name):
    return os.path.join(pki, "p256", name)


def make_app():
    import fastapi

    app = fastapi.FastAPI()

    @app.get("/charge")
    async def charge():
        return {"charged": "42 EUR"}

    return app


# ---- servers ------------------------------------------------------------------

async def serve(stack, pki):
    import uvicorn

    app = make_app()
    common = dict(lifespan="off", access_log=False, log_level="warning")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stdin():
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            stop.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    loop.call_later(1800, stop.set)
    if stack == "mutls":
        import mutls
        import mutls.asgi

        cfg = mutls.Config(certificate=pki_file(pki, "server.pem"), private_key=pki_file(pki, "server.key"),
                           trust=pki_file(pki, "ca.pem"))
        async with mutls.asgi.Server(app, config=cfg, host="127.0.0.1", port=0, **common) as server:
            print(f"ok {server.port}", flush=True)
            await stop.wait()
        return
    # uvicorn binds the port itself (host/port, as in production: its
    # sockets then get TCP_NODELAY from asyncio; a socket made here with
    # proto 0 would not, and Nagle would add a delayed ACK to each response)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, ssl_certfile=pki_file(pki, "server.pem"),
                            ssl_keyfile=pki_file(pki, "server.key"), ssl_ca_certs=pki_file(pki, "ca.pem"),
                            ssl_cert_reqs=ssl.CERT_REQUIRED, **common)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    print(f"ok {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.should_exit = True
    await task


# ---- the client ------------------------------------------------------------------

class Client:
    def __init__(self, pki):
        import httpx
        import mutls

        self.httpx = httpx
        self.pki = pki
        self.mutls_cfg = mutls.Config(certificate=pki_file(pki, "client.pem"),
                                      private_key=pki_file(pki, "client.key"), trust=pki_file(pki, "ca.pem"))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
        ctx.load_verify_locations(pki_file(pki, "ca.pem"))
        ctx.load_cert_chain(pki_file(pki, "client.pem"), pki_file(pki, "client.key"))
        self.ssl_ctx = ctx

    def client(self, stack, mode):
        import mutls.httpx

        httpx = self.httpx
        # conn: no idle connection is kept, so each request opens (and the
        # pool closes) its own connection
        limits = httpx.Limits(max_keepalive_connections=0 if mode == "conn" else 1, max_connections=1)
        if stack == "mutls":
            return httpx.Client(transport=mutls.httpx.Transport(self.mutls_cfg, limits=limits), timeout=30)
        return httpx.Client(verify=self.ssl_ctx, limits=limits, timeout=30)

    def run(self, stack, mode, n, port):
        url = f"https://orders.internal:{port}/charge"
        streams = []
        resumed = 0
        with self.client(stack, mode) as client:
            t0 = time.perf_counter()
            for _ in range(n):
                r = client.get(url)
                if r.status_code != 200 or r.content != BODY:
                    raise RuntimeError(f"bad response {r.status_code} {r.content[:80]!r}")
                streams.append(r.extensions["network_stream"])
                s = r.extensions.get("mutls")
                if s is not None and s.resumed:
                    resumed += 1
            elapsed = time.perf_counter() - t0
        conns = len({id(s) for s in streams})
        want = 1 if mode == "keepalive" else n
        if conns != want:
            raise RuntimeError(f"{mode}: {conns} connections for {n} requests (wanted {want})")
        return elapsed, conns, resumed

    def neg(self, port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki_file(self.pki, "ca.pem"))
        try:
            with self.httpx.Client(verify=ctx, timeout=10) as client:
                r = client.get(f"https://orders.internal:{port}/charge")
        except self.httpx.HTTPError:
            return "refused"
        raise RuntimeError(f"a client without a certificate got {r.status_code}")


def client_loop(pki):
    import mutls  # noqa: F401  (fail early)

    # orders.internal -> 127.0.0.1 without touching /etc/hosts: the URL's
    # name is what both stacks verify and send as SNI
    real = socket.getaddrinfo

    def getaddrinfo(host, *a, **kw):
        return real("127.0.0.1" if host == "orders.internal" else host, *a, **kw)

    socket.getaddrinfo = getaddrinfo
    c = Client(pki)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return
        try:
            if words[0] == "run":
                stack, mode, n, port = words[1], words[2], int(words[3]), int(words[4])
                elapsed, conns, resumed = c.run(stack, mode, n, port)
                print(f"ok {elapsed:.6f} {conns} {resumed}", flush=True)
            elif words[0] == "neg":
                print(f"ok {c.neg(int(words[1]))}", flush=True)
            else:
                print(f"err unknown command {words[0]}", flush=True)
        except Exception as e:  # noqa: BLE001  (reported to the driver, which fails the row)
            print(f"err {type(e).__name__}: {' '.join(str(e).split())[:300]}", flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "server" and sys.argv[2] in STACKS:
        asyncio.run(serve(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "client":
        client_loop(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
