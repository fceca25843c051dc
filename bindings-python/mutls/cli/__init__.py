"""The mutls command line: demo, inspect, probe, serve, asgi, ca.

Each subcommand is one module here with ``add_arguments(parser)`` and
``run(args, out) -> int``. Exit codes: 0 ok, 1 the thing checked failed
(a handshake, a verification, a gallery case), 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Any, Dict, Optional, Sequence

from .output import Output

# name -> one-line help; the module of the same name does the work.
COMMANDS = {
    "demo": "mutual TLS between two services, every step shown, then a gallery of failures",
    "inspect": "show the facts of the certificates in a PEM or DER file",
    "probe": "connect to a TLS server, show what it presents and whether it verifies",
    "serve": "run an mTLS echo server that prints who each client is (or why it was refused)",
    "asgi": "serve an ASGI app (FastAPI, Starlette) over mTLS with uvicorn's protocol",
    "ca": "write a ready test PKI (CA, server and client identities, CRL) to a directory",
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _version() -> str:
    try:
        import mutls

        return f"mutls {mutls.__version__} (GnuTLS {getattr(mutls, 'GNUTLS_VERSION', '?')})"
    except Exception as exc:  # the extension may be missing; --version still answers
        return f"mutls (extension not importable: {exc})"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mutls",
        description="mutls: mutual TLS over GnuTLS, every step visible and explained.",
        epilog="Run 'mutls COMMAND --help' for the options of a command. "
        "Exit status: 0 ok, 1 the handshake/verification/check failed, 2 usage error.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the mutls and GnuTLS versions")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f".{name}", __name__)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or "").strip().split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=getattr(module, "EPILOG", None))
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    out = Output()
    try:
        return int(args._module.run(args, out))
    except KeyboardInterrupt:
        out.line("interrupted")
        return 130
    except BrokenPipeError:
        # stdout closed early (mutls demo | head): stop quietly, with the
        # status a program killed by SIGPIPE has in the shell
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except _usage_errors() as exc:
        print(f"mutls {args.command}: {_describe(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _reads_as_path(value: object) -> bool:
    """The core's rule (csrc/x509.c, mutls__value_showable): printable, one
    line, no PEM marker, no run of 20 base64 letters (key or certificate
    text given where a file name belongs is never repeated)."""
    return (isinstance(value, str) and 0 < len(value) < 4096 and value.isprintable()
            and "-----" not in value and not re.search(r"[A-Za-z0-9+=]{20}", value))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        if _reads_as_path(exc.filename):
            return f"{exc.filename}: {exc.strerror}"
        return f"not a readable file ({exc.strerror}; the value is not shown)"
    return str(exc)


def _usage_errors():
    """Bad input on the command line: unreadable files, bad PEM, bad patterns."""
    errors: list = [FileNotFoundError, IsADirectoryError, PermissionError, UsageProblem]
    try:
        import mutls

        errors += [mutls.ConfigError, mutls.UsageError]
    except Exception:
        pass
    return tuple(errors)


class UsageProblem(Exception):
    """Raised by a subcommand for a bad argument found after parsing (exit 2)."""


def shared_config_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The Config options that probe and serve take alike: --crl, --peers,
    --alpn and --tls (only those given)."""
    opts: Dict[str, Any] = {}
    if args.crl:
        opts["crl"] = args.crl
    if args.peers:
        opts["peers"] = args.peers
    if args.alpn:
        opts["alpn"] = args.alpn
    if args.tls:
        opts["versions"] = (args.tls,)
    return opts


def add_server_arguments(p: argparse.ArgumentParser, default_port: int) -> None:
    """The options of the commands that listen for mTLS clients (serve, asgi)."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=default_port,
                   help=f"port (default {default_port}; 0: any free port, printed first)")
    p.add_argument("--cert", "--identity", dest="cert", metavar="FILE", required=True,
                   help="our certificate chain (PEM, leaf first; may hold the key too)")
    p.add_argument("--key", metavar="FILE", help="our private key (PEM), unless --cert holds it")
    p.add_argument("--password", metavar="TEXT", help="password of an encrypted --key")
    p.add_argument("--ca", "--trust", dest="ca", metavar="FILE", action="append", required=True,
                   help="CA certificates trusted for client certificates (repeatable)")
    p.add_argument("--crl", metavar="FILE", action="append", help="a CRL to check clients against (repeatable)")
    p.add_argument("--peers", metavar="PATTERN", nargs="+",
                   help="identity policy: accept only clients matching one of dns:..., ip:..., "
                        "uri:... (a trailing * matches a prefix), cn:..., sha256:...")
    p.add_argument("--optional", action="store_true",
                   help="accept clients without a certificate too (peer_certificate='request')")
    p.add_argument("--alpn", metavar="PROTO", action="append", help="an ALPN protocol to accept (repeatable)")
    p.add_argument("--tls", choices=("1.2", "1.3"), help="allow only this TLS version")


def server_config_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The Config options of add_server_arguments' options."""
    opts: Dict[str, Any] = dict(certificate=args.cert, trust=args.ca,
                                peer_certificate="request" if args.optional else "require")
    if args.key:
        opts["private_key"] = args.key
    if args.password:
        opts["password"] = args.password
    opts.update(shared_config_options(args))
    return opts
