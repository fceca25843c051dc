"""Interop with real TLS peers on loopback, both ways, TLS 1.2 and 1.3, with
client certificates required.

mutls as the server, against: Python's ssl client, openssl s_client,
gnutls-cli, curl. mutls as the client, against: Python's ssl server,
openssl s_server, gnutls-serv. Four cases each:

- ok: both certificates from the same TestCA; data goes both ways;
- no-client-cert: the client presents no certificate;
- untrusted-client-ca: the client's certificate is from another CA;
- wrong-server-name: the server's certificate names wrong.example, the
  client connects to "localhost".

Each cell asserts what mutls reports (exception class, code, reasons, side,
step, alert, peer certificate) and, where the peer reports it, what the peer
says (exit code, output, or its ssl exception).

What the peers send (measured with OpenSSL 3.0 and GnuTLS 3.7, Debian 12):
- openssl and Python's ssl as servers: no certificate → handshake_failure
  (1.2) / certificate_required (1.3); unknown CA → unknown_ca.
- gnutls-serv --require-client-cert --verify-client-cert: no certificate →
  decode_error (1.2; not a certificate alert, so mutls calls it "protocol")
  / certificate_required (1.3); unknown CA → access_denied.
- openssl, Python's ssl and gnutls-cli as clients refuse a wrong server name
  with bad_certificate. curl completes the handshake and checks the name
  afterwards: it closes the connection (close_notify) without a request.

"mutls server, wrong-server-name" reaches the server in two disguises that
the C core unmasks: in TLS 1.2 GnuTLS reports the client's alert, which
arrives where the client's Certificate should be, as "no certificate"; in
TLS 1.3 OpenSSL 3.0 clients send the alert in plaintext, which GnuTLS fails
to decrypt. Both must read as peer-rejected / bad_certificate.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import mutls

VERSIONS = ["1.2", "1.3"]
CASES = ["ok", "no-client-cert", "untrusted-client-ca", "wrong-server-name"]
PEER_TIMEOUT = 20.0  # seconds any peer process or thread may take
SERVER_NAME = "localhost"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (apt-get install -y openssl gnutls-bin curl)")


# ---------------------------------------------------------------------------
# The PKI, shared by the module: one CA, and a stranger CA.


@dataclass
class Files:
    cert: str  # chain, leaf first
    key: str


@dataclass
class PKI:
    ca: mutls.TestCA
    other_ca: mutls.TestCA
    server: mutls.Identity
    wrong_server: mutls.Identity
    client: mutls.Identity
    stranger: mutls.Identity
    ca_file: str
    files: Dict[str, Files] = field(default_factory=dict)


@pytest.fixture(scope="module")
def interop_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("interop-pki")
    ca = mutls.TestCA("interop CA")
    other = mutls.TestCA("stranger CA")
    p = PKI(
        ca=ca,
        other_ca=other,
        server=ca.issue(cn="interop server", dns=[SERVER_NAME], ip=["127.0.0.1"], purpose="server"),
        wrong_server=ca.issue(cn="wrong server", dns=["wrong.example"], purpose="server"),
        client=ca.issue(cn="interop client", uri=["spiffe://interop.test/client"], purpose="client"),
        stranger=other.issue(cn="stranger", uri=["spiffe://interop.test/stranger"], purpose="client"),
        ca_file=str(d / "ca.pem"),
    )
    (d / "ca.pem").write_text(ca.cert_pem)
    for name in ("server", "wrong_server", "client", "stranger"):
        sub = d / name
        sub.mkdir()
        written = getattr(p, name).write_to(sub)
        p.files[name] = Files(cert=written["chain"], key=written["key"])
    return p


def server_identity(p: PKI, case: str) -> str:
    return "wrong_server" if case == "wrong-server-name" else "server"


def client_identity(p: PKI, case: str) -> Optional[str]:
    return {"no-client-cert": None, "untrusted-client-ca": "stranger"}.get(case, "client")


# ---------------------------------------------------------------------------
# Helpers: processes, ports.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], out: Path, timeout: float = 10.0) -> None:
    name = str(proc.args[0]) if isinstance(proc.args, list) else str(proc.args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode} before listening:\n{out.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{name} did not listen on port {port} within {timeout} s:\n{out.read_text()}")


class Proc:
    """A peer process with its output in a file; always killed in stop()."""

    def __init__(self, cmd: List[str], out: Path, stdin: bool = True) -> None:
        self.out = out
        self.name = cmd[0]
        self._fh = open(out, "wb")
        self.p: subprocess.Popen[bytes] = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=self._fh,
            stderr=subprocess.STDOUT)

    def write(self, data: bytes) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def wait(self, timeout: float = PEER_TIMEOUT) -> int:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.name} did not finish within {timeout} s:\n{self.text()}")

    def text(self) -> str:
        if not self._fh.closed:
            self._fh.flush()
        return self.out.read_text(errors="replace")

    def wait_for_text(self, *needles: str, timeout: float = 5.0) -> str:
        """Servers keep running: poll their output for what they report."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.text()
            if all(n in t for n in needles) or time.monotonic() > deadline:
                return t
            time.sleep(0.05)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if self.p.stdin is not None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
        self._fh.close()


# ---------------------------------------------------------------------------
# Expected mutls errors.


def check_error(exc: Optional[BaseException], cls: type, code: str, *, side: str, alert: Optional[str],
                reasons: Optional[List[str]] = None, step: Optional[str] = None,
                peer: Optional[mutls.Certificate] = None) -> None:
    assert exc is not None, f"expected {cls.__name__} ({code}), but the connection succeeded"
    assert isinstance(exc, cls), f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    assert isinstance(exc, mutls.Error)
    assert exc.code == code, str(exc)
    assert exc.side == side, str(exc)
    assert exc.alert == alert, str(exc)
    if reasons is not None:
        assert list(exc.reasons) == reasons, str(exc)
    if step is not None:
        assert exc.step == step, str(exc)
    if peer is not None:
        assert exc.peer_certificate is not None, str(exc)
        assert exc.peer_certificate.fingerprint() == peer.fingerprint()
    assert str(exc), "the error has a message"


# ---------------------------------------------------------------------------
# mutls as the server


@dataclass
class ServerResult:
    error: Optional[BaseException] = None
    session: Optional[mutls.Session] = None
    received: bytes = b""
    after_error: Optional[BaseException] = None  # an error after a good handshake


class MutlsServer:
    """One connection, in a thread: handshake, then echo one message (or
    answer one HTTP request). A refused connection is closed gracefully
    (write side first, then a short drain) so that the peer reads the alert
    before any reset."""

    def __init__(self, cfg: mutls.Config, http: bool = False) -> None:
        self.cfg = cfg
        self.http = http
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(PEER_TIMEOUT)
        self.port = int(self.listener.getsockname()[1])
        self.result = ServerResult()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        r = self.result
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:
            r.error = exc
            return
        with conn:
            conn.settimeout(PEER_TIMEOUT)
            session = self.cfg.server(conn)
            r.session = session
            try:
                session.handshake()
            except mutls.Error as exc:
                r.error = exc
                linger(conn)
                return
            try:
                if self.http:
                    while b"\r\n\r\n" not in r.received:
                        data = session.recv()
                        if not data:
                            break
                        r.received += data
                    if r.received:
                        session.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                        b"Content-Length: 12\r\nConnection: close\r\n\r\nhello, curl\n")
                else:
                    r.received = session.recv()
                    if r.received:
                        session.sendall(r.received)
                session.close()
                linger(conn)
            except mutls.Error as exc:
                r.after_error = exc

    def join(self) -> ServerResult:
        self.thread.join(PEER_TIMEOUT + 5)
        assert not self.thread.is_alive(), "the mutls server thread did not finish"
        self.listener.close()
        return self.result


def linger(conn: socket.socket, timeout: float = 2.0) -> None:
    """Half-close, then read until the peer closes (bounded)."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and conn.recv(4096):
            pass
    except OSError:
        pass


def run_python_client(p: PKI, port: int, version: str, case: str) -> Dict[str, Any]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    p.ca.configure_trust(ctx)
    ident = client_identity(p, case)
    if ident:
        getattr(p, ident).configure_cert(ctx)
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    out: Dict[str, Any] = {"error": None, "reply": b"", "handshake": False}
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PEER_TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s:
                out["handshake"] = True
                if case == "ok":
                    s.sendall(b"ping\n")
                out["reply"] = s.recv(1024)
    except (ssl.SSLError, OSError) as exc:
        out["error"] = exc
    return out


def client_cmd(peer: str, p: PKI, port: int, version: str, case: str) -> List[str]:
    ident = client_identity(p, case)
    f = p.files[ident] if ident else None
    if peer == "openssl":
        cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", SERVER_NAME,
               "-verify_hostname", SERVER_NAME, "-CAfile", p.ca_file, "-verify_return_error", "-ign_eof",
               "-tls1_3" if version == "1.3" else "-tls1_2"]
        if f:
            cmd += ["-cert", f.cert, "-key", f.key]
    elif peer == "gnutls":
        cmd = ["gnutls-cli", "-p", str(port), "--x509cafile", p.ca_file, "--sni-hostname", SERVER_NAME,
               "--verify-hostname", SERVER_NAME, "--priority", f"NORMAL:-VERS-ALL:+VERS-TLS{version}",
               "127.0.0.1"]
        if f:
            cmd += ["--x509certfile", f.cert, "--x509keyfile", f.key]
    else:
        cmd = ["curl", "-sS", "--max-time", "15", "--cacert", p.ca_file,
               "--resolve", f"{SERVER_NAME}:{port}:127.0.0.1", f"https://{SERVER_NAME}:{port}/"]
        cmd += ["--tlsv1.3"] if version == "1.3" else ["--tlsv1.2", "--tls-max", "1.2"]
        if f:
            cmd += ["--cert", f.cert, "--key", f.key]
    return cmd


CLIENT_PEERS = ["python-ssl", "openssl", "gnutls", "curl"]
TOOL = {"openssl": "openssl", "gnutls": "gnutls-cli", "curl": "curl", "gnutls-serv": "gnutls-serv"}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("peer", CLIENT_PEERS)
def test_mutls_server(interop_pki: PKI, tmp_path: Path, request: pytest.FixtureRequest, peer: str, version: str,
                      case: str) -> None:
    pki = interop_pki
    if peer in TOOL:
        _need(TOOL[peer])
    ident = getattr(pki, server_identity(pki, case))
    cfg = mutls.Config(identity=ident, trust=pki.ca, versions=[version])
    server = MutlsServer(cfg, http=peer == "curl")
    peer_out: Dict[str, Any] = {}
    proc: Optional[Proc] = None
    try:
        if peer == "python-ssl":
            peer_out = run_python_client(pki, server.port, version, case)
        else:
            proc = Proc(client_cmd(peer, pki, server.port, version, case), tmp_path / "peer.out",
                        stdin=peer != "curl")
            if case == "ok" and peer != "curl":
                proc.write(b"ping\n")  # stdin stays open: the peer exits when the server closes
            peer_out["rc"] = proc.wait()
            peer_out["text"] = proc.text()
    finally:
        if proc is not None:
            proc.stop()
    r = server.join()
    tls13 = version == "1.3"
    text = str(peer_out.get("text", ""))

    # ---- the peer's side
    if peer == "python-ssl":
        err = peer_out["error"]
        if case == "ok":
            assert err is None and peer_out["reply"] == b"ping\n", peer_out
        elif case == "wrong-server-name":
            assert isinstance(err, ssl.SSLCertVerificationError), err
            assert "Hostname mismatch" in str(err.verify_message), err
        else:
            want = {("no-client-cert", False): "SSLV3_ALERT_HANDSHAKE_FAILURE",
                    ("no-client-cert", True): "TLSV13_ALERT_CERTIFICATE_REQUIRED",
                    ("untrusted-client-ca", False): "TLSV1_ALERT_UNKNOWN_CA",
                    ("untrusted-client-ca", True): "TLSV1_ALERT_UNKNOWN_CA"}[(case, tls13)]
            assert isinstance(err, ssl.SSLError) and err.reason == want, repr(err)
            # TLS 1.3: the client's handshake had finished; the alert came on recv.
            assert peer_out["handshake"] == tls13
    elif case == "ok":
        assert peer_out["rc"] == 0, text
        assert ("hello, curl" if peer == "curl" else "ping") in text, text
    elif peer == "openssl":
        want = {"no-client-cert": "SSL alert number 116" if tls13 else "SSL alert number 40",
                "untrusted-client-ca": "SSL alert number 48",
                "wrong-server-name": "hostname mismatch"}[case]
        assert peer_out["rc"] != 0 and want in text, text
    elif peer == "gnutls":
        want = {"no-client-cert": "Received alert [116]" if tls13 else "Received alert [40]",
                "untrusted-client-ca": "Received alert [48]",
                "wrong-server-name": "does not match the expected"}[case]
        assert peer_out["rc"] != 0 and want in text, text
    else:  # curl
        rc = peer_out["rc"]
        if case == "wrong-server-name":
            assert rc == 60 and "no alternative certificate subject name" in text, (rc, text)
        else:
            want = "alert certificate required" if case == "no-client-cert" and tls13 else (
                "alert handshake failure" if case == "no-client-cert" else "alert unknown ca")
            # 35: during the handshake (1.2); 56: on the first read (1.3).
            assert rc == (56 if tls13 else 35) and want in text, (rc, text)

    # ---- the mutls side
    if case == "ok" or (case == "wrong-server-name" and peer == "curl"):
        assert r.error is None, f"mutls server failed: {r.error}\npeer: {peer_out}"
        s = r.session
        assert s is not None and s.handshake_done
        assert s.version == f"TLSv{version}"
        assert s.peer_certificate is not None
        assert s.peer_certificate.fingerprint() == pki.client.certificate.fingerprint()
        assert s.peer_certificate.uris == ["spiffe://interop.test/client"]
        assert list(s.verification.reasons) == []
        if case == "ok":
            assert s.verified and s.verification.ok
            assert r.after_error is None, r.after_error
            if peer == "curl":
                assert r.received.startswith(b"GET / HTTP/1.1\r\n"), r.received
            else:
                assert r.received == b"ping\n"
        else:
            # curl checked the name after the handshake and hung up at once.
            # A curl that sends its alert first (Debian 13's) fails the
            # session after every check passed, and a session that failed
            # is not `verified` (docs/reference.md).
            assert r.received == b"", r.received
            assert s.verified or r.after_error is not None, r.after_error
    elif case == "no-client-cert":
        check_error(r.error, mutls.CertificateVerifyError, "no-certificate", side="local",
                    step="client-certificate",
                    alert="certificate_required" if tls13 else "handshake_failure")
        assert r.error is not None and r.error.peer_certificate is None  # type: ignore[attr-defined]
    elif case == "untrusted-client-ca":
        check_error(r.error, mutls.CertificateVerifyError, "verify-failed", side="local",
                    step="client-certificate", alert="unknown_ca", reasons=["unknown-issuer"],
                    peer=pki.stranger.certificate)
    else:  # wrong-server-name: the peer refused our certificate with bad_certificate
        check_error(r.error, mutls.PeerRejectedError, "peer-rejected", side="peer", alert="bad_certificate",
                    reasons=[])




# ---------------------------------------------------------------------------
# mutls as the client


class PythonSSLServer:
    """Python's ssl as an mTLS server, one connection, echoing one message."""

    def __init__(self, p: PKI, version: str, case: str) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.verify_mode = ssl.CERT_REQUIRED
        p.ca.configure_trust(ctx)
        getattr(p, server_identity(p, case)).configure_cert(ctx)
        v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = v
        self.ctx = ctx
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(PEER_TIMEOUT)
        self.port = int(self.listener.getsockname()[1])
        self.error: Optional[BaseException] = None
        self.peercert: Optional[Dict[str, Any]] = None
        self.received = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(PEER_TIMEOUT)
            with self.ctx.wrap_socket(conn, server_side=True) as s:
                self.peercert = s.getpeercert()
                self.received = s.recv(1024)
                s.sendall(self.received)
        except (ssl.SSLError, OSError) as exc:
            self.error = exc

    def stop(self) -> None:
        self.thread.join(PEER_TIMEOUT + 5)
        self.listener.close()
        assert not self.thread.is_alive()


def server_cmd(peer: str, p: PKI, port: int, version: str, case: str) -> List[str]:
    f = p.files[server_identity(p, case)]
    if peer == "openssl":
        return ["openssl", "s_server", "-accept", str(port), "-cert", f.cert, "-key", f.key,
                "-CAfile", p.ca_file, "-Verify", "1", "-verify_return_error", "-rev",
                "-tls1_3" if version == "1.3" else "-tls1_2"]
    return ["gnutls-serv", "-p", str(port), "--x509certfile", f.cert, "--x509keyfile", f.key,
            "--x509cafile", p.ca_file, "--require-client-cert", "--verify-client-cert", "--echo",
            "--priority", f"NORMAL:-VERS-ALL:+VERS-TLS{version}"]


SERVER_PEERS = ["python-ssl", "openssl", "gnutls-serv"]

# What the server process prints, by (peer, case, TLS 1.3?).
SERVER_PEER_SAYS = {
    (peer, case, tls13): text
    for (peer, case), text in {
        ("openssl", "ok"): "Verification: OK",
        ("openssl", "no-client-cert"): "peer did not return a certificate",
        ("openssl", "untrusted-client-ca"): "unable to get local issuer certificate",
        ("openssl", "wrong-server-name"): "SSL alert number 42",
        ("gnutls-serv", "ok"): "spiffe://interop.test/client",
        ("gnutls-serv", "untrusted-client-ca"): "Error in the certificate",
        ("gnutls-serv", "wrong-server-name"): "Error in handshake",
    }.items()
    for tls13 in (False, True)
}
SERVER_PEER_SAYS[("gnutls-serv", "no-client-cert", False)] = "No certificate was found"
SERVER_PEER_SAYS[("gnutls-serv", "no-client-cert", True)] = "Certificate is required"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("peer", SERVER_PEERS)
def test_mutls_client(interop_pki: PKI, tmp_path: Path, peer: str, version: str, case: str) -> None:
    pki = interop_pki
    if peer in TOOL:
        _need(TOOL[peer])
    ident_name = client_identity(pki, case)
    cfg = mutls.Config(identity=getattr(pki, ident_name) if ident_name else None, trust=pki.ca,
                       versions=[version])
    tls13 = version == "1.3"
    pyserver: Optional[PythonSSLServer] = None
    proc: Optional[Proc] = None
    peer_text = ""
    error: Optional[BaseException] = None
    failed_in = None
    reply = b""
    session: Optional[mutls.Session] = None
    try:
        if peer == "python-ssl":
            pyserver = PythonSSLServer(pki, version, case)
            port = pyserver.port
        else:
            port = free_port()
            proc = Proc(server_cmd(peer, pki, port, version, case), tmp_path / "peer.out", stdin=True)
            wait_listening(port, proc.p, proc.out)
        try:
            failed_in = "handshake"
            # socket-mode session over a socket that cfg.connect made and owns
            session = cfg.connect(("127.0.0.1", port), server_hostname=SERVER_NAME, timeout=PEER_TIMEOUT)
            failed_in = "recv"
            if case == "ok":
                session.sendall(b"ping\n")
            # TLS 1.3: a server that refuses our certificate says so now.
            reply = session.recv()
            failed_in = None
            session.close()
        except mutls.Error as exc:
            error = exc
        if proc is not None:
            # The server keeps running: give it time to report before it is stopped.
            proc.wait_for_text(SERVER_PEER_SAYS[(peer, case, tls13)], timeout=5.0)
    finally:
        if session is not None and session.sock is not None:
            session.sock.close()
        if pyserver is not None:
            pyserver.stop()
        if proc is not None:
            proc.stop()
            peer_text = proc.text()

    # ---- the mutls side
    if case == "ok":
        assert error is None, f"{error}\n{peer_text}"
        assert session is not None and session.verified
        assert session.version == f"TLSv{version}"
        assert session.peer_certificate is not None
        assert session.peer_certificate.fingerprint() == pki.server.certificate.fingerprint()
        assert session.peer_certificate.dns_names == [SERVER_NAME]
        assert reply == (b"gnip\n" if peer == "openssl" else b"ping\n"), reply
    elif case == "wrong-server-name":
        check_error(error, mutls.CertificateVerifyError, "verify-failed", side="local",
                    step="server-certificate", alert="bad_certificate", reasons=["name-mismatch"],
                    peer=pki.wrong_server.certificate)
        assert failed_in == "handshake"
        assert "wrong.example" in str(error) or SERVER_NAME in str(error), str(error)
    else:
        # The server refused us: in TLS 1.2 during the handshake, in TLS 1.3
        # on the first read after it.
        assert failed_in == ("recv" if tls13 else "handshake"), (failed_in, error)
        if case == "no-client-cert":
            if peer == "gnutls-serv" and not tls13:
                check_error(error, mutls.ProtocolError, "protocol", side="peer", alert="decode_error")
            else:
                check_error(error, mutls.PeerRejectedError, "peer-rejected", side="peer",
                            alert="certificate_required" if tls13 else "handshake_failure", reasons=[])
        elif peer == "gnutls-serv":
            check_error(error, mutls.PeerRejectedError, "peer-rejected", side="peer", alert="access_denied",
                        reasons=[])
        else:
            check_error(error, mutls.PeerRejectedError, "peer-rejected", side="peer", alert="unknown_ca",
                        reasons=["unknown-issuer"])

    # ---- the peer's side
    if pyserver is not None:
        if case == "ok":
            assert pyserver.error is None and pyserver.received == b"ping\n"
            assert pyserver.peercert is not None
            assert ("URI", "spiffe://interop.test/client") in pyserver.peercert["subjectAltName"]
        elif case == "wrong-server-name":
            assert isinstance(pyserver.error, ssl.SSLError)
            assert pyserver.error.reason == "SSLV3_ALERT_BAD_CERTIFICATE", repr(pyserver.error)
        elif case == "no-client-cert":
            assert isinstance(pyserver.error, ssl.SSLError)
            assert pyserver.error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE", repr(pyserver.error)
        else:
            assert isinstance(pyserver.error, ssl.SSLCertVerificationError), repr(pyserver.error)
            assert "unable to get local issuer certificate" in str(pyserver.error.verify_message)
        return
    want = SERVER_PEER_SAYS[(peer, case, tls13)]
    assert want in peer_text, peer_text
