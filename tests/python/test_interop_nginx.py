"""Interop with nginx as an mTLS server (`ssl_verify_client on`), mutls as
the client, TLS 1.2 and 1.3, four cases each (every cell a test):

- ok: our certificate is from the CA nginx trusts (ssl_client_certificate);
  nginx answers 200 with `$ssl_client_s_dn $ssl_client_verify` = our DN and
  SUCCESS; mutls verified nginx's certificate.
- no-client-cert: mutls presents no certificate. nginx does not refuse the
  handshake (it verifies with SSL_VERIFY_PEER but lets the handshake finish)
  and refuses at the HTTP level: "400 No required SSL certificate was sent",
  delivered over TLS; error.log says "client sent no required SSL
  certificate".
- untrusted-client-ca: our certificate is from a stranger CA: "400 The SSL
  certificate error"; error.log says "client SSL certificate verify error".
- wrong-server-name: nginx's certificate names wrong.example; the mutls
  client refuses it (CertificateVerifyError, verify-failed, name-mismatch,
  bad_certificate sent); error.log shows the alert (number 42) nginx got.

Debian's nginx (no extra module) runs as one process (`daemon off;
master_process off;`) under a temporary prefix, on 127.0.0.1:<free port>,
one nginx per test, always stopped (SIGTERM, then SIGKILL) in teardown.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

import mutls

VERSIONS = ["1.2", "1.3"]
CASES = ["ok", "no-client-cert", "untrusted-client-ca", "wrong-server-name"]
TIMEOUT = 10.0  # any single network operation, and nginx's start
SERVER_NAME = "localhost"
CLIENT_URI = "spiffe://nginx.test/client"


def nginx_binary() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        pytest.fail("nginx is not installed (apt-get install -y nginx)")
    return path


@dataclass
class PKI:
    ca: mutls.TestCA
    stranger_ca: mutls.TestCA
    server: mutls.Identity
    wrong_server: mutls.Identity
    client: mutls.Identity
    stranger: mutls.Identity
    files: Dict[str, Dict[str, str]]
    ca_file: str


@pytest.fixture(scope="module")
def nginx_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("nginx-pki")
    ca = mutls.TestCA("nginx interop CA")
    stranger_ca = mutls.TestCA("stranger CA")
    p = PKI(
        ca=ca,
        stranger_ca=stranger_ca,
        server=ca.issue(cn="nginx server", dns=[SERVER_NAME], ip=["127.0.0.1"], purpose="server"),
        wrong_server=ca.issue(cn="wrong server", dns=["wrong.example"], purpose="server"),
        client=ca.issue(cn="nginx client", uri=[CLIENT_URI], purpose="client"),
        stranger=stranger_ca.issue(cn="stranger", uri=["spiffe://nginx.test/stranger"], purpose="client"),
        files={},
        ca_file=str(d / "ca.pem"),
    )
    (d / "ca.pem").write_text(ca.cert_pem)
    for name in ("server", "wrong_server"):
        (d / name).mkdir()
        p.files[name] = getattr(p, name).write_to(d / name)
    return p


CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;

events {{
    worker_connections 64;
}}

http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {server_name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {ca};
        ssl_verify_client on;
        ssl_protocols TLSv{version};
        ssl_session_tickets off;

        location / {{
            default_type text/plain;
            return 200 "dn=$ssl_client_s_dn verify=$ssl_client_verify\\n";
        }}
    }}
}}
"""


class Nginx:
    """One nginx process under a temporary prefix; stop() always kills it."""

    def __init__(self, prefix: Path, pki: PKI, version: str, identity: str) -> None:
        self.prefix = prefix
        (prefix / "tmp").mkdir(parents=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        files = pki.files[identity]
        (prefix / "nginx.conf").write_text(CONF.format(
            prefix=prefix, port=self.port, server_name=SERVER_NAME, cert=files["chain"], key=files["key"],
            ca=pki.ca_file, version=version))
        self.error_log = prefix / "error.log"
        self.out = open(prefix / "stdout.log", "wb")
        self.proc = subprocess.Popen(
            [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(self.error_log)],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)
        # nginx writes its pid file after it has opened its listening socket.
        deadline = time.monotonic() + TIMEOUT
        pidfile = prefix / "nginx.pid"
        while not (pidfile.exists() and pidfile.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"nginx did not start (exit {self.proc.returncode}):\n{self.log()}\n"
                            f"{(prefix / 'stdout.log').read_text(errors='replace')}")
            time.sleep(0.02)

    def log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def wait_log(self, needle: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()


@pytest.fixture
def start_nginx(tmp_path: Path, nginx_pki: PKI) -> Iterator[Callable[[str, str], Nginx]]:
    started: List[Nginx] = []

    def start(version: str, identity: str) -> Nginx:
        n = Nginx(tmp_path / f"nginx-{len(started)}", nginx_pki, version, identity)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


def get(session: mutls.Session, path: str = "/") -> bytes:
    """One HTTP/1.1 request (Connection: close); the whole response, read
    until nginx closes (bounded)."""
    session.sendall(f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    for _ in range(1000):
        try:
            chunk = session.recv()
        except mutls.ConnectionClosed:
            break  # nginx may close without close_notify after a 400
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("version", VERSIONS)
def test_mutls_client_against_nginx(nginx_pki: PKI, start_nginx: Callable[[str, str], Nginx], version: str,
                                    case: str) -> None:
    pki = nginx_pki
    nginx = start_nginx(version, "wrong_server" if case == "wrong-server-name" else "server")
    identity: Optional[mutls.Identity] = {"no-client-cert": None, "untrusted-client-ca": pki.stranger}.get(
        case, pki.client)
    cfg = mutls.Config(identity=identity, trust=pki.ca, versions=[version])

    if case == "wrong-server-name":
        with pytest.raises(mutls.CertificateVerifyError) as info:
            cfg.connect(("127.0.0.1", nginx.port), server_hostname=SERVER_NAME, timeout=TIMEOUT)
        e = info.value
        assert e.code == "verify-failed", str(e)
        assert list(e.reasons) == ["name-mismatch"], str(e)
        assert e.side == "local" and e.step == "server-certificate" and e.alert == "bad_certificate", str(e)
        assert e.peer_certificate is not None
        assert e.peer_certificate.fingerprint() == pki.wrong_server.certificate.fingerprint()
        assert '"localhost"' in str(e) and "wrong.example" in str(e), str(e)
        # nginx saw our alert: bad_certificate is alert number 42
        log = nginx.wait_log("SSL alert number 42")
        assert "SSL_do_handshake() failed" in log and "alert bad certificate:SSL alert number 42" in log, log
        return

    with cfg.connect(("127.0.0.1", nginx.port), server_hostname=SERVER_NAME, timeout=TIMEOUT) as s:
        # mutls checked nginx in every case: nginx's refusals come later, over HTTP
        assert s.handshake_done and s.verified
        assert s.version == f"TLSv{version}"
        assert s.peer_certificate is not None
        assert s.peer_certificate.fingerprint() == pki.server.certificate.fingerprint()
        response = get(s)
    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]

    if case == "ok":
        assert status == b"HTTP/1.1 200 OK", response
        # nginx verified us and reports our DN exactly as mutls spells our subject
        assert body == f"dn={pki.client.certificate.subject} verify=SUCCESS\n".encode(), response
        assert pki.client.certificate.subject == "CN=nginx client"
        log = nginx.log()
        assert "verify error" not in log and "no required SSL certificate" not in log, log
        assert '"GET / HTTP/1.1" 200' in (nginx.prefix / "access.log").read_text()
    elif case == "no-client-cert":
        assert status == b"HTTP/1.1 400 Bad Request", response
        assert b"<title>400 No required SSL certificate was sent</title>" in body, response
        log = nginx.wait_log("client sent no required SSL certificate")
        assert "[info]" in log and "client sent no required SSL certificate while reading client request headers" \
            in log, log
    else:  # untrusted-client-ca
        assert status == b"HTTP/1.1 400 Bad Request", response
        assert b"<title>400 The SSL certificate error</title>" in body, response
        log = nginx.wait_log("client SSL certificate verify error")
        # OpenSSL cannot build a chain from the stranger's leaf to nginx's CA
        assert "client SSL certificate verify error: (21:unable to verify the first certificate)" in log, log
