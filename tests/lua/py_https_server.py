"""Python's ssl as an HTTPS server requiring client certificates, for
tests/lua/https_spec.lua.

    python3 py_https_server.py --ca CA --cert CHAIN --key KEY --port-file F [--timeout S]

Binds 127.0.0.1 port 0, writes the port to --port-file (atomically), then
serves HTTP/1.1 requests (one at a time; Connection: close) until --timeout
seconds have passed. Every connection must present a client certificate
issued by --ca (ssl.CERT_REQUIRED). Routes:

    GET  /hello          200 "hello <client CN>"
    POST /echo           200 "<method> <content-length or chunked> <body>"
    GET  /redirect-same  302 Location: /hello (relative, same host)
    GET  /redirect-abs   302 Location: https://<Host header>/hello
    GET  /redirect-other 302 Location: https://localhost:<port>/hello
    GET  /redirect-http  302 Location: http://<Host header>/hello
    GET  /big?n=N        200, N bytes ("0123456789" repeated)
One line per request goes to stdout: "<method> <path> <client CN>".
"""

from __future__ import annotations

import argparse
import http.server
import os
import ssl
import sys
import threading


def client_cn(handler: http.server.BaseHTTPRequestHandler) -> str:
    cert = handler.connection.getpeercert() or {}
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return "-"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def reply(self, code: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def read_body(self) -> tuple[str, bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return "chunked", data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return str(n), self.rfile.read(n)

    def do_GET(self) -> None:
        cn = client_cn(self)
        print(f"GET {self.path} {cn}", flush=True)
        port = self.server.server_address[1]
        if self.path == "/hello":
            self.reply(200, f"hello {cn}".encode())
        elif self.path == "/redirect-same":
            self.reply(302, b"moved", {"Location": "/hello"})
        elif self.path == "/redirect-abs":
            self.reply(302, b"moved", {"Location": f"https://{self.headers['Host']}/hello"})
        elif self.path == "/redirect-other":
            self.reply(302, b"moved", {"Location": f"https://localhost:{port}/hello"})
        elif self.path == "/redirect-http":
            self.reply(302, b"moved", {"Location": f"http://{self.headers['Host']}/hello"})
        elif self.path.startswith("/big?n="):
            n = int(self.path.split("=", 1)[1])
            self.reply(200, (b"0123456789" * (n // 10 + 1))[:n])
        else:
            self.reply(404, b"not found")

    def do_POST(self) -> None:
        cn = client_cn(self)
        print(f"POST {self.path} {cn}", flush=True)
        framing, body = self.read_body()
        self.reply(200, b"POST " + framing.encode() + b" " + body)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--timeout", type=float, default=20)
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(args.ca)
    ctx.load_cert_chain(args.cert, args.key)

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda request, address: print(  # type: ignore[method-assign]
        f"error {sys.exc_info()[0].__name__}: {sys.exc_info()[1]}", flush=True)
    server.timeout = 0.5
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    timer = threading.Timer(args.timeout, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
