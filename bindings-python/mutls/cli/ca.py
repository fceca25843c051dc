"""Write a ready test PKI to a directory: a CA, a server and a client identity, a CRL.

DIR gets ca.pem (the CA certificate: the trust anchor for both sides),
server/{cert,chain,key}.pem, client/{cert,chain,key}.pem and crl.pem (the
CA's CRL; empty unless --revoked is given, which also writes a revoked
client identity to revoked/). Keys are written with mode 0600. The CA's own
key is kept only when asked (--write-key: DIR/ca-key.pem, mode 0600, never
over a symlink); with it, --issue NAME later issues one more identity into
DIR/NAME/ from the same CA (a client one unless --server-name is given).

Names: a --server-name or --client-name that is an IP address goes into an
IP SAN, one with "://" into a URI SAN (e.g. a SPIFFE ID), one with "@" into
an email SAN, anything else into a DNS SAN. The first name that is neither
IP nor URI nor email is also the common name.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from .output import Output, describe_certificate

EPILOG = """\
examples:
  mutls ca pki                                   # server localhost/127.0.0.1, client "client"
  mutls ca pki --server-name api.internal --client-name spiffe://example.org/payments
  mutls ca pki --write-key                       # keep the CA key (pki/ca-key.pem, 0600) ...
  mutls ca pki --issue billing --client-name spiffe://example.org/billing   # ... to issue more later
  mutls serve --cert pki/server/chain.pem --key pki/server/key.pem --ca pki/ca.pem
  curl --cacert pki/ca.pem --cert pki/client/cert.pem --key pki/client/key.pem https://localhost:PORT/
"""


def add_arguments(p) -> None:
    p.add_argument("dir", metavar="DIR", help="directory to write (created if missing)")
    p.add_argument("--server-name", action="append", metavar="NAME", default=None,
                   help="a name for the server certificate (repeatable; default: localhost and 127.0.0.1)")
    p.add_argument("--client-name", action="append", metavar="NAME", default=None,
                   help="a name for the client certificate (repeatable; default: client)")
    p.add_argument("--ca-name", default="mutls test CA", metavar="CN", help="the CA's common name")
    p.add_argument("--key-type", default="p256", metavar="TYPE",
                   help="key type of every key: p256 (default), p384, ed25519, rsa2048, rsa3072, rsa4096")
    p.add_argument("--days", type=int, default=365, help="validity of the leaf certificates in days (default 365)")
    p.add_argument("--revoked", action="store_true",
                   help="also issue a client identity to revoked/ and list it in crl.pem")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.add_argument("--write-key", action="store_true",
                   help="also write the CA's private key to DIR/ca-key.pem (mode 0600), for --issue later")
    p.add_argument("--issue", metavar="NAME",
                   help="issue one more identity into DIR/NAME/ from the CA in DIR (ca.pem + ca-key.pem, "
                        "see --write-key): a client identity named by --client-name (default NAME), or a "
                        "server one with --server-name; --purpose overrides")
    p.add_argument("--purpose", choices=("server", "client", "both"),
                   help="with --issue: the identity's purpose (default: from the names given)")


def split_names(names: List[str]) -> Dict[str, Any]:
    dns: List[str] = []
    ip: List[str] = []
    uri: List[str] = []
    email: List[str] = []
    cn: Optional[str] = None
    for name in names:
        try:
            ipaddress.ip_address(name)
            ip.append(name)
            continue
        except ValueError:
            pass
        if "://" in name:
            uri.append(name)
        elif "@" in name:
            email.append(name)
        else:
            dns.append(name)
            if cn is None:
                cn = name
    if cn is None and names:
        cn = names[0].rsplit("/", 1)[-1] or names[0]
    return {"dns": dns, "ip": ip, "uri": uri, "email": email, "cn": cn}


def issue(ca, names: List[str], purpose: str, key_type: str, days: int):
    k = split_names(names)
    return ca.issue(cn=k["cn"], dns=k["dns"], ip=k["ip"], uri=k["uri"], email=k["email"],
                    not_after=days * 86400, key_type=key_type, purpose=purpose)


KEY_FILE = "ca-key.pem"


def write_secret(path: Path, text: str, force: bool) -> None:
    """Writes a private key: mode 0600 from the start, a new file only (an
    existing one is replaced only with --force), never through a symlink."""
    from . import UsageProblem

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if force and path.is_symlink():
        raise UsageProblem(f"{path} is a symbolic link: not writing a private key through it")
    if force and path.exists():
        path.unlink()
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageProblem(f"{path} exists (use --force to overwrite)") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)


def issue_more(mutls, args, out: Output) -> int:
    """--issue NAME: one more identity from the CA kept in DIR."""
    from . import UsageProblem

    root = Path(args.dir)
    name = args.issue
    if not name or "/" in name or name in (".", ".."):
        raise UsageProblem(f"--issue takes a plain directory name, not {name!r}")
    cert, key = root / "ca.pem", root / KEY_FILE
    if not key.exists():
        raise UsageProblem(f"{key} not found: the CA key is written only by 'mutls ca {root} --write-key'")
    ca = mutls.TestCA.load(cert, key)
    names = (args.server_name or []) + (args.client_name or []) or [name]
    purpose = args.purpose or ("both" if args.server_name and args.client_name
                               else "server" if args.server_name else "client")
    target = root / name
    existing = [target / f for f in ("cert.pem", "chain.pem", "key.pem") if (target / f).exists()]
    if existing and not args.force:
        raise UsageProblem(f"{existing[0]} exists (use --force to overwrite)")
    ident = issue(ca, names, purpose, args.key_type, args.days)
    target.mkdir(exist_ok=True)
    ident.write_to(target)
    out.line(f"issued by {describe_certificate(ca.certificate)} into {target}/")
    out.line(f"  {name}/cert.pem    {purpose} certificate: {describe_certificate(ident.certificate)}")
    out.line(f"  {name}/chain.pem   {purpose} chain (leaf first), for --cert")
    out.line(f"  {name}/key.pem     {purpose} private key ({ident.certificate.key_type}, mode 0600)")
    return 0


def run(args, out: Output) -> int:
    import mutls

    from . import UsageProblem

    if args.issue is not None:
        if args.revoked or args.write_key:
            raise UsageProblem("--issue uses the CA already in DIR: it excludes --revoked and --write-key")
        return issue_more(mutls, args, out)
    if args.purpose:
        raise UsageProblem("--purpose goes with --issue")
    root = Path(args.dir)
    server_names = args.server_name or ["localhost", "127.0.0.1"]
    client_names = args.client_name or ["client"]
    targets = [root / "ca.pem", root / "crl.pem"] + [root / d / f for d in ("server", "client")
                                                     for f in ("cert.pem", "chain.pem", "key.pem")]
    if args.write_key:
        targets.append(root / KEY_FILE)
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing and not args.force:
        raise UsageProblem(f"{existing[0]} exists (use --force to overwrite)")
    if args.write_key and (root / KEY_FILE).is_symlink():
        raise UsageProblem(f"{root / KEY_FILE} is a symbolic link: not writing a private key through it")

    ca = mutls.TestCA(args.ca_name, key_type=args.key_type)
    server = issue(ca, server_names, "server", args.key_type, args.days)
    client = issue(ca, client_names, "client", args.key_type, args.days)
    revoked = None
    if args.revoked:
        revoked = issue(ca, client_names, "client", args.key_type, args.days)
        ca.revoke(revoked)

    root.mkdir(parents=True, exist_ok=True)
    written = []

    def write(path: Path, text: str, mode: int = 0o644) -> None:
        path.write_text(text)
        os.chmod(path, mode)
        written.append(path)

    write(root / "ca.pem", ca.cert_pem)
    if args.write_key:
        write_secret(root / KEY_FILE, ca.key_pem, args.force)
        written.append(root / KEY_FILE)
    write(root / "crl.pem", ca.crl_pem)
    for sub, ident in (("server", server), ("client", client), ("revoked", revoked)):
        if ident is None:
            continue
        d = root / sub
        d.mkdir(exist_ok=True)
        files = ident.write_to(d)
        for key in ("cert", "chain", "key"):
            written.append(Path(files[key]))

    out.line(f"wrote a test PKI to {root}/")
    descr = {
        "ca.pem": f"CA certificate ({describe_certificate(ca.certificate)}): trust it on both sides",
        KEY_FILE: "the CA's private key (mode 0600): keep it secret; mutls ca DIR --issue NAME uses it",
        "crl.pem": "the CA's CRL" + (" (lists revoked/cert.pem)" if revoked else " (empty)"),
    }
    for sub, ident, role in (("server", server, "server"), ("client", client, "client"),
                             ("revoked", revoked, "client, revoked")):
        if ident is None:
            continue
        who = describe_certificate(ident.certificate)
        descr[f"{sub}/cert.pem"] = f"{role} certificate: {who}"
        descr[f"{sub}/chain.pem"] = f"{role} chain (leaf first), for --cert"
        descr[f"{sub}/key.pem"] = f"{role} private key ({ident.certificate.key_type}, mode 0600)"
    for path in written:
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        out.line(f"  {rel:<18} {descr.get(rel, '')}".rstrip())
    out.line("")
    out.line("try it:")
    out.line(f"  mutls serve --cert {root}/server/chain.pem --key {root}/server/key.pem --ca {root}/ca.pem")
    out.line(f"  mutls probe 127.0.0.1:PORT --cert {root}/client/chain.pem --key {root}/client/key.pem "
             f"--ca {root}/ca.pem" + ("" if "127.0.0.1" in server_names else f" --servername {server_names[0]}"))
    return 0
