"""Serve an ASGI app (FastAPI, Starlette) over mutual TLS with uvicorn's protocol.

APP is "module:attribute" (as uvicorn takes it; the current directory is on
the import path). The first line printed is "listening on https://HOST:PORT"
(the real port when --port is 0). Each refused client is printed with the
mutls sentence that says why; an accepted client's request reaches the app,
whose scope carries scheme "https", the ASGI TLS extension and a "mutls"
extension (docs/python-http.md). Needs uvicorn: pip install 'mutls[asgi]'.
Runs until interrupted (Ctrl-C, exit status 0).
"""

from __future__ import annotations

import logging
import os
import sys

from .output import Output

EPILOG = """\
examples:
  mutls ca pki && mutls asgi app:app --cert pki/server/chain.pem --key pki/server/key.pem --ca pki/ca.pem \\
      --peers uri:spiffe://example.org/payments --port 8443
  curl --cacert pki/ca.pem --cert pki/client/cert.pem --key pki/client/key.pem https://localhost:8443/
"""


def add_arguments(p) -> None:
    p.add_argument("app", metavar="APP", help='the ASGI app as "module:attribute"')
    from . import add_server_arguments

    add_server_arguments(p, default_port=8443)
    p.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto",
                   help="uvicorn's HTTP implementation (default auto)")


class _Refusals(logging.Handler):
    """Prints each refused handshake (mutls.aio logs it at DEBUG)."""

    def __init__(self, out: Output) -> None:
        super().__init__(logging.DEBUG)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.out.line("refused: " + message.split(" failed: ", 1)[-1] if " failed: " in message else message)


def run(args, out: Output) -> int:
    import mutls

    from . import UsageProblem, server_config_options

    try:
        import mutls.asgi
    except ImportError as exc:
        raise UsageProblem(str(exc)) from None
    cfg = mutls.Config(**server_config_options(args))
    if ":" not in args.app:
        raise UsageProblem(f'APP: expected "module:attribute", not {args.app!r}')
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    aio_log = logging.getLogger("mutls.aio")
    aio_log.setLevel(logging.DEBUG)
    aio_log.addHandler(_Refusals(out))

    def started(server) -> None:
        shown = f"[{server.host}]" if ":" in server.host else server.host
        out.line(f"listening on https://{shown}:{server.port}")
        policy = " ".join(args.peers) if args.peers else "any client certificate from the trusted CA"
        out.line(f"mTLS: client certificate {'optional' if args.optional else 'required'}; peers: {policy}")

    try:
        mutls.asgi.serve(args.app, config=cfg, host=args.host, port=args.port, started=started,
                         http=args.http, log_level="warning")
    except OSError as exc:
        raise UsageProblem(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0
