"""Make a test PKI on disk with mutls.TestCA: a CA, a server and a client.

    python make_pki.py pki

writes pki/ca.pem, pki/server/{cert,chain,key}.pem (for "localhost" and
127.0.0.1) and pki/client/{cert,chain,key}.pem (spiffe://example.org/client),
the files the other examples read by default.
"""

from __future__ import annotations

import argparse
import pathlib

import mutls


def main() -> int:
    ap = argparse.ArgumentParser(description="Make a test PKI: a CA, a server and a client identity.")
    ap.add_argument("directory", nargs="?", default="pki", help="where to write (default: pki)")
    ap.add_argument("--server-name", default="localhost", help="the server's DNS name")
    ap.add_argument("--client-uri", default="spiffe://example.org/client", help="the client's URI SAN")
    args = ap.parse_args()

    out = pathlib.Path(args.directory)
    out.mkdir(parents=True, exist_ok=True)
    ca = mutls.TestCA("mutls example CA")
    (out / "ca.pem").write_text(ca.cert_pem)
    print(f"ca: {out / 'ca.pem'} ({ca.certificate.subject})")

    identities = {
        "server": ca.issue(cn="server", dns=[args.server_name], ip=["127.0.0.1"], purpose="server"),
        "client": ca.issue(cn="client", uri=[args.client_uri], purpose="client"),
    }
    for name, identity in identities.items():
        directory = out / name
        directory.mkdir(exist_ok=True)
        files = identity.write_to(directory)
        cert = identity.certificate
        names = cert.dns_names + [str(ip) for ip in cert.ip_addresses] + cert.uris
        print(f"{name}: {files['chain']} {files['key']} ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
