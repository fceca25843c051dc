"""A private PKI made by the openssl CLI (req, x509 -req) in a directory, for
the name-constraint tests: each certificate as NAME.pem and NAME.key, the
root as root.pem, with the system's openssl.cnf."""

from __future__ import annotations

import pathlib
import subprocess
from typing import Any

import pytest

import mutls

EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
CA_EXT = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
LEAF_EXT = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n")


class PKI:
    """openssl req / x509 -req in a directory, each certificate as NAME.pem and NAME.key."""

    def __init__(self, where: pathlib.Path) -> None:
        self.dir = where
        self.run("req", "-x509", *EC, "-keyout", "root.key", "-out", "root.pem", "-subj", "/CN=nc root",
                 "-days", "3")
        self.root = mutls.Certificate.load(where / "root.pem")

    def run(self, *args: str) -> None:
        r = subprocess.run(("openssl",) + args, cwd=self.dir, capture_output=True, timeout=60)
        assert r.returncode == 0, "openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")[-400:])

    def issue(self, name: str, issuer: str, subject: str, ext: str) -> mutls.Certificate:
        (self.dir / ("%s.ext" % name)).write_text(ext)
        self.run("req", "-new", *EC, "-keyout", "%s.key" % name, "-out", "%s.csr" % name, "-subj", subject)
        self.run("x509", "-req", "-in", "%s.csr" % name, "-CA", "%s.pem" % issuer, "-CAkey", "%s.key" % issuer,
                 "-days", "2", "-extfile", "%s.ext" % name, "-out", "%s.pem" % name)
        return mutls.Certificate.load(self.dir / ("%s.pem" % name))

    def ca(self, name: str, constraints: str, issuer: str = "root", subject: str = "", more: str = "") -> Any:
        return self.issue(name, issuer, subject or "/CN=%s" % name,
                          CA_EXT + "nameConstraints=critical,%s\n" % constraints + more)

    def leaf(self, name: str, issuer: str, san: str, subject: str = "") -> mutls.Certificate:
        return self.issue(name, issuer, subject or "/CN=%s" % name, LEAF_EXT + "subjectAltName=%s\n" % san)


def refused(cert: mutls.Certificate, trust: Any, **kw: Any) -> mutls.CertificateVerifyError:
    with pytest.raises(mutls.CertificateVerifyError) as e:
        cert.verify(trust, **kw)
    return e.value
