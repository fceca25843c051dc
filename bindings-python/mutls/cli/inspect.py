"""Show the facts of the certificates in a PEM or DER file.

FILE may hold one certificate or a chain (PEM, leaf first), or one DER
certificate. For each: subject, issuer, serial, validity, SANs, common name,
whether it is a CA, key type, key usage, extended key usage (the purposes
it may serve: a server certificate used as a client one is the classic mTLS
mistake) and SHA-256 fingerprint. --json prints the same
as a JSON list (one object per certificate). Use - to read standard input.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

from .output import Output, iso

EPILOG = """\
examples:
  mutls inspect server/chain.pem
  mutls inspect cert.der --json
  openssl s_client -showcerts ... | mutls inspect -
"""


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE", help="a PEM file (one or more certificates) or a DER file; - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON (a list of objects) instead of text")


def load(mutls, data: bytes, origin: str):
    if b"-----BEGIN" in data:
        certs = mutls.load_certificates(data.decode("ascii", errors="replace"))
        if not certs:
            raise mutls.ConfigError(f"{origin}: no certificate in the PEM text")
        return certs
    return [mutls.Certificate.from_der(data)]


def facts(cert) -> dict:
    now = _dt.datetime.now(_dt.timezone.utc)
    nb, na = cert.not_before, cert.not_after
    if na < now:
        state = "expired"
    elif nb > now:
        state = "not yet valid"
    else:
        state = "valid now"
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "not_before": iso(nb),
        "not_after": iso(na),
        "validity": state,
        "self_signed": cert.subject == cert.issuer,
        "dns_names": list(cert.dns_names),
        "ip_addresses": [str(a) for a in cert.ip_addresses],
        "uris": list(cert.uris),
        "emails": list(cert.emails),
        "common_name": cert.common_name,
        "is_ca": bool(cert.is_ca),
        "key_type": cert.key_type,
        "key_usage": list(cert.key_usage),
        "extended_key_usage": list(cert.extended_key_usage),
        "sha256": cert.fingerprint("sha256"),
    }


_TLS_ROLES = {"serverAuth": "TLS server", "clientAuth": "TLS client"}


def purposes(eku: list) -> str:
    """'serverAuth (TLS server only)', or what an absent extension means."""
    if not eku:
        return "(no extension: any purpose, TLS server and client)"
    if "anyExtendedKeyUsage" in eku:
        roles = "TLS server and client"
    else:
        found = [_TLS_ROLES[p] for p in eku if p in _TLS_ROLES]
        roles = " and ".join(found) + (" only" if len(found) == 1 else "") if found else "not for TLS"
    return f"{', '.join(eku)} ({roles})"


def render(out: Output, index: int, total: int, f: dict) -> None:
    title = f"certificate {index} of {total}" if total > 1 else "certificate"
    out.line(out.style(title, "bold"))
    rows = [
        ("subject", f["subject"]),
        ("issuer", f["issuer"] + ("  (self-signed)" if f["self_signed"] else "")),
        ("serial", f["serial"]),
        ("valid from", f["not_before"]),
        ("valid to", f["not_after"]),
        ("validity", out.ok(f["validity"]) if f["validity"] == "valid now" else out.bad(f["validity"])),
        ("common name", f["common_name"] or "(none)"),
        ("DNS names", ", ".join(f["dns_names"]) or "(none)"),
        ("IP addresses", ", ".join(f["ip_addresses"]) or "(none)"),
        ("URIs", ", ".join(f["uris"]) or "(none)"),
        ("emails", ", ".join(f["emails"]) or "(none)"),
        ("CA", "yes" if f["is_ca"] else "no"),
        ("key type", f["key_type"]),
        ("key usage", ", ".join(f["key_usage"]) or "(no extension: any)"),
        ("purposes", purposes(f["extended_key_usage"])),
        ("sha256", f["sha256"]),
    ]
    for label, value in rows:
        out.line(f"  {label:<13} {value}")


def run(args, out: Output) -> int:
    import mutls

    if args.file == "-":
        data, origin = sys.stdin.buffer.read(), "<stdin>"
    else:
        path = Path(args.file)
        data, origin = path.read_bytes(), str(path)
    try:
        certs = load(mutls, data, origin)
    except mutls.ConfigError as exc:
        print(f"mutls inspect: {origin}: not a certificate: {exc}", file=sys.stderr)
        return 1
    all_facts = [facts(c) for c in certs]
    if args.json:
        out.line(json.dumps(all_facts, indent=2))
        return 0
    for i, f in enumerate(all_facts, 1):
        if i > 1:
            out.line("")
        render(out, i, len(all_facts), f)
    return 0
