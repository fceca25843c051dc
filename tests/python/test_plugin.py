"""The pytest plugin (entry point ``mutls = mutls.pytest_plugin``): the
``mutls_ca`` and ``mutls_echo_server`` fixtures, used for real."""

from __future__ import annotations

import socket
import textwrap
import threading
import time

import pytest

import mutls
from mutls.pytest_plugin import EchoServer, EchoServerFactory

pytest_plugins = ["pytester"]


def test_plugin_is_registered_by_entry_point(request: pytest.FixtureRequest) -> None:
    plugin = request.config.pluginmanager.get_plugin("mutls")
    assert plugin is not None, "the 'mutls' pytest11 entry point is not installed (pip install -e .)"
    assert plugin.__name__ == "mutls.pytest_plugin"


def test_mutls_ca_is_a_fresh_test_ca(mutls_ca: mutls.TestCA) -> None:
    assert isinstance(mutls_ca, mutls.TestCA)
    assert mutls_ca.certificate.is_ca
    ident = mutls_ca.issue(uri=["spiffe://plugin.test/x"])
    assert ident.certificate.verify(mutls_ca, purpose="client")


def test_echo_roundtrip_records_the_identity(mutls_ca: mutls.TestCA, mutls_echo_server: EchoServerFactory) -> None:
    server = mutls_echo_server()
    assert server.ca is mutls_ca
    assert server.address == ("127.0.0.1", server.port) and server.port > 0
    ident = mutls_ca.issue(cn="payments", uri=["spiffe://plugin.test/payments"])
    with server.connect(server.client_config(ident)) as s:
        assert s.verified
        assert s.peer_certificate is not None and "localhost" in s.peer_certificate.dns_names
        s.sendall(b"ping")
        assert s.recv() == b"ping"
        s.sendall(b"x" * 50_000)
        got = b""
        while len(got) < 50_000:
            got += s.recv()
        assert got == b"x" * 50_000
    (rec,) = server.wait_seen(1)
    assert rec["ok"] is True and rec["error"] is None
    assert rec["identity"] == "spiffe://plugin.test/payments"
    assert rec["peer"] is not None and rec["peer"].fingerprint() == ident.certificate.fingerprint()
    assert rec["message"]


def test_default_client_config_identity_is_its_cn(mutls_echo_server: EchoServerFactory) -> None:
    server = mutls_echo_server()
    with server.connect() as s:
        s.sendall(b"hi")
        assert s.recv() == b"hi"
    (rec,) = server.wait_seen(1)
    assert rec["ok"] and rec["identity"] == "mutls test client"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_policy_refusal_is_recorded(mutls_ca: mutls.TestCA, mutls_echo_server: EchoServerFactory,
                                    version: str) -> None:
    server = mutls_echo_server(peers=["uri:spiffe://plugin.test/allowed"])
    stranger = mutls_ca.issue(uri=["spiffe://plugin.test/other"])
    cfg = server.client_config(stranger, versions=[version])
    with pytest.raises(mutls.PeerRejectedError) as info:
        with server.connect(cfg) as s:  # TLS 1.2: the refusal comes here
            s.recv()  # TLS 1.3: ... or here
    assert info.value.alert == "access_denied"
    (rec,) = server.wait_seen(1)
    assert rec["ok"] is False and rec["error"] == "verify-failed"
    assert rec["reasons"] == ["policy"]
    assert rec["identity"] == "spiffe://plugin.test/other"
    assert "policy" in rec["message"] or "allowed" in rec["message"], rec["message"]


def test_no_certificate_is_recorded(mutls_echo_server: EchoServerFactory) -> None:
    server = mutls_echo_server()
    with pytest.raises(mutls.PeerRejectedError):
        with server.connect(server.client_config(anonymous=True)) as s:
            s.recv()
    (rec,) = server.wait_seen(1)
    assert rec == {**rec, "ok": False, "peer": None, "identity": None, "error": "no-certificate"}


def test_request_mode_accepts_anonymous(mutls_echo_server: EchoServerFactory) -> None:
    server = mutls_echo_server(peer_certificate="request")
    with server.connect(server.client_config(anonymous=True)) as s:
        s.sendall(b"anon")
        assert s.recv() == b"anon"
    (rec,) = server.wait_seen(1)
    assert rec["ok"] is True and rec["peer"] is None and rec["identity"] is None


def test_custom_identity_and_config(mutls_ca: mutls.TestCA, mutls_echo_server: EchoServerFactory) -> None:
    ident = mutls_ca.issue(dns=["echo.internal"])
    server = mutls_echo_server(identity=ident)
    with server.connect(server_hostname="echo.internal") as s:
        assert s.peer_certificate is not None and s.peer_certificate.dns_names == ["echo.internal"]
    # A ready-made Config is used as it is.
    other = mutls_ca.issue(dns=["other.internal"])
    server2 = mutls_echo_server(mutls.Config(identity=other, trust=mutls_ca, peer_certificate="none"))
    with server2.connect(server2.client_config(anonymous=True), server_hostname="other.internal") as s:
        s.sendall(b"ok")
        assert s.recv() == b"ok"
    assert server2.wait_seen(1)[0]["ok"]


def test_concurrent_clients(mutls_echo_server: EchoServerFactory) -> None:
    server = mutls_echo_server()
    cfg = server.client_config()
    errors = []

    def one(i: int) -> None:
        try:
            with server.connect(cfg) as s:
                s.sendall(b"%d" % i)
                assert s.recv() == b"%d" % i
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert len(server.wait_seen(10)) == 10


def test_stop_closes_the_port_and_idle_connections(mutls_ca: mutls.TestCA) -> None:
    server = EchoServer(mutls_ca)
    s = server.connect()
    s.sendall(b"x")
    assert s.recv() == b"x"  # the connection is open, its worker waits in recv
    started = time.monotonic()
    server.stop(timeout=5)
    assert time.monotonic() - started < 5
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=2).close()
    # The server ended the connection: with close_notify if its worker saw the
    # stop first, else by cutting the socket under it.
    try:
        assert s.recv() == b""
    except mutls.ConnectionClosed:
        pass
    s.close()


def test_fixtures_from_a_fresh_pytest_run(pytester: pytest.Pytester) -> None:
    """The fixtures come from the entry point alone (no conftest), and the
    server is gone after its test."""
    pytester.makepyfile(textwrap.dedent("""
        import socket
        import pytest
        import mutls

        PORTS = []

        def test_echo(mutls_ca, mutls_echo_server):
            server = mutls_echo_server(peers=["cn:alice"])
            PORTS.append(server.port)
            with server.connect(server.client_config(mutls_ca.issue(cn="alice"))) as s:
                s.sendall(b"hello")
                assert s.recv() == b"hello"
            assert [r["identity"] for r in server.wait_seen(1)] == ["alice"]

        def test_refused(mutls_ca, mutls_echo_server):
            server = mutls_echo_server(peers=["cn:alice"])
            with pytest.raises(mutls.PeerRejectedError):
                with server.connect(server.client_config(mutls_ca.issue(cn="mallory"))) as s:
                    s.recv()
            assert server.wait_seen(1)[0]["error"] == "verify-failed"

        def test_previous_server_is_stopped():
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", PORTS[0]), timeout=2).close()
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=3)
