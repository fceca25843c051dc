"""Write a ready test PKI to a directory: a CA, a server and a client identity, a CRL.

DIR gets ca.pem (the CA certificate: the trust anchor for both sides),
server/{cert,chain,key}.pem, client/{cert,chain,key}.pem and crl.pem (the
CA's CRL; empty unless --revoked is given, which also writes a revoked
client identity to revoked/). Keys are written with mode 0600. The CA's own
key is not kept: make a new PKI when you need more identities.

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


def run(args, out: Output) -> int:
    import mutls

    from . import UsageProblem

    root = Path(args.dir)
    server_names = args.server_name or ["localhost", "127.0.0.1"]
    client_names = args.client_name or ["client"]
    targets = [root / "ca.pem", root / "crl.pem"] + [root / d / f for d in ("server", "client")
                                                     for f in ("cert.pem", "chain.pem", "key.pem")]
    existing = [t for t in targets if t.exists()]
    if existing and not args.force:
        raise UsageProblem(f"{existing[0]} exists (use --force to overwrite)")

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
