"""mutls.aio: asyncio streams over memory-mode sessions, on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import threading
import time
from typing import Any, Awaitable, Dict, List, Optional, TypeVar

import pytest

import mutls
import mutls.aio

T = TypeVar("T")
LIMIT = 30.0  # seconds any one test may take

SERVER_URI = "spiffe://aio.test/server"
CLIENT_URI = "spiffe://aio.test/client"


def run(coro: Awaitable[T], timeout: float = LIMIT) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


@pytest.fixture
def ca() -> mutls.TestCA:
    return mutls.TestCA("aio CA")


def server_config(ca: mutls.TestCA, **kw: Any) -> mutls.Config:
    ident = ca.issue(cn="aio server", dns=["localhost"], ip=["127.0.0.1"], uri=[SERVER_URI])
    return mutls.Config(identity=ident, trust=ca, **kw)


def client_config(ca: mutls.TestCA, identity: Optional[mutls.Identity] = None, **kw: Any) -> mutls.Config:
    if identity is None:
        identity = ca.issue(cn="aio client", uri=[CLIENT_URI])
    return mutls.Config(identity=identity, trust=ca, **kw)


class Recorder:
    """A client_connected_cb that records who connected and echoes with a greeting."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []
        self.errors: List[BaseException] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer: Optional[mutls.Certificate] = writer.get_extra_info("peercert")
        session: mutls.Session = writer.get_extra_info("mutls_session")
        self.calls.append({"peer": peer, "session": session, "verified": session.verified,
                           "version": writer.get_extra_info("version")})
        try:
            line = await reader.readline()
            who = peer.uris[0] if peer is not None else "nobody"
            writer.write(b"hello " + who.encode() + b", you said " + line)
            await writer.drain()
            rest = await reader.read()  # until the client's close_notify
            writer.write(b"bye after %d more bytes\n" % len(rest))
            await writer.drain()
        except Exception as exc:  # recorded for the test to see
            self.errors.append(exc)
        finally:
            writer.close()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_exchange_sees_verified_identities(ca: mutls.TestCA, version: str) -> None:
    recorder = Recorder()

    async def main() -> Dict[str, Any]:
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await mutls.aio.open_connection(
                "127.0.0.1", port, config=client_config(ca, versions=[version]), server_hostname="localhost")
            info = {k: writer.get_extra_info(k) for k in
                    ("mutls_session", "peercert", "peer_certificate", "version", "cipher", "peername")}
            writer.write(b"ping\n")
            await writer.drain()
            info["greeting"] = await reader.readline()
            writer.write(b"x" * 1000)
            writer.write_eof()  # close_notify: the server's read() ends, it can still answer
            info["bye"] = await reader.readline()
            info["eof"] = await reader.read()
            writer.close()
            await writer.wait_closed()
        return info

    info = run(main())
    session = info["mutls_session"]
    assert isinstance(session, mutls.Session)
    assert not session.is_server and session.verified and session.handshake_done
    assert info["peercert"] is not None and info["peercert"].uris == [SERVER_URI]
    assert info["peer_certificate"].fingerprint() == info["peercert"].fingerprint()
    assert info["version"] == f"TLSv{version}" == session.version
    assert info["cipher"] == session.cipher and info["cipher"]
    assert info["peername"][0] == "127.0.0.1"
    assert info["greeting"] == b"hello " + CLIENT_URI.encode() + b", you said ping\n"
    assert info["bye"] == b"bye after 1000 more bytes\n"
    assert info["eof"] == b""

    assert recorder.errors == []
    (call,) = recorder.calls
    assert call["verified"] and call["version"] == f"TLSv{version}"
    assert call["peer"].uris == [CLIENT_URI]
    assert call["session"].is_server and call["session"].peer_certificate.uris == [CLIENT_URI]


def test_large_transfer_both_ways(ca: mutls.TestCA) -> None:
    """Several MiB each way: many records, flow control, back-pressure."""
    size = 4 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100_000):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main() -> bytes:
        server = await mutls.aio.start_server(echo, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await mutls.aio.open_connection(
                "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")

            async def send() -> None:
                for i in range(0, size, 65536):
                    writer.write(payload[i:i + 65536])
                    await writer.drain()
                writer.write_eof()

            sender = asyncio.ensure_future(send())
            received = await reader.read(-1)  # until the server closes after our close_notify
            await sender
            writer.close()
            return received

    assert run(main()) == payload


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_refused_client_gets_the_right_exception(ca: mutls.TestCA, version: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A client certificate from another CA: the server refuses it with
    unknown_ca; the callback never runs; the client gets PeerRejectedError
    from open_connection (TLS 1.2) or from its first read (TLS 1.3)."""
    stranger = mutls.TestCA("stranger CA").issue(cn="stranger", uri=["spiffe://aio.test/stranger"])
    recorder = Recorder()
    caplog.set_level(logging.DEBUG, logger="mutls.aio")

    async def main() -> Dict[str, Any]:
        out: Dict[str, Any] = {"where": None, "error": None}
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            try:
                out["where"] = "open_connection"
                reader, writer = await mutls.aio.open_connection(
                    "127.0.0.1", port, config=client_config(ca, stranger, versions=[version]),
                    server_hostname="localhost")
                out["where"] = "read"
                await reader.read()
                out["where"] = None
                writer.close()
            except mutls.Error as exc:
                out["error"] = exc
            for _ in range(100):  # the server's log record follows its alert
                if any("handshake" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.02)
        return out

    out = run(main())
    err = out["error"]
    assert isinstance(err, mutls.PeerRejectedError), repr(err)
    assert err.code == "peer-rejected" and err.side == "peer"
    assert err.alert == "unknown_ca" and list(err.reasons) == ["unknown-issuer"]
    assert out["where"] == ("read" if version == "1.3" else "open_connection")
    assert recorder.calls == []  # the callback never saw the refused client
    logged = [r for r in caplog.records if r.name == "mutls.aio" and r.levelno == logging.DEBUG]
    assert logged, "the server logs the failed handshake at DEBUG"
    assert "unknown" in logged[0].getMessage(), logged[0].getMessage()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_refuses_wrong_server_name(ca: mutls.TestCA, version: str) -> None:
    recorder = Recorder()

    async def main() -> BaseException:
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            with pytest.raises(mutls.CertificateVerifyError) as info:
                await mutls.aio.open_connection("127.0.0.1", port, config=client_config(ca, versions=[version]),
                                                server_hostname="orders.internal")
            return info.value

    err = run(main())
    assert isinstance(err, mutls.CertificateVerifyError)
    assert err.code == "verify-failed" and err.side == "local" and err.step == "server-certificate"
    assert list(err.reasons) == ["name-mismatch"] and err.alert == "bad_certificate"
    assert err.peer_certificate is not None and err.peer_certificate.uris == [SERVER_URI]
    assert recorder.calls == []


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_without_certificate(ca: mutls.TestCA, version: str) -> None:
    recorder = Recorder()

    async def main() -> BaseException:
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            cfg = mutls.Config(trust=ca, versions=[version])
            with pytest.raises(mutls.PeerRejectedError) as info:
                reader, writer = await mutls.aio.open_connection("127.0.0.1", port, config=cfg,
                                                                 server_hostname="localhost")
                assert version == "1.3", "TLS 1.2: open_connection itself must fail"
                await reader.read()
            return info.value

    err = run(main())
    assert isinstance(err, mutls.PeerRejectedError)
    assert err.alert == ("certificate_required" if version == "1.3" else "handshake_failure")
    assert recorder.calls == []


def test_policy_refusal_and_acceptance(ca: mutls.TestCA) -> None:
    """The server's peers policy runs under asyncio like anywhere else."""
    recorder = Recorder()
    payments = ca.issue(cn="payments", uri=["spiffe://aio.test/payments"])
    billing = ca.issue(cn="billing", uri=["spiffe://aio.test/billing"])

    async def main() -> List[Any]:
        results: List[Any] = []
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0,
                                              config=server_config(ca, peers=["uri:spiffe://aio.test/payments"]))
        port = server.sockets[0].getsockname()[1]
        async with server:
            for ident in (billing, payments):
                cfg = client_config(ca, ident, versions=["1.2"])
                try:
                    reader, writer = await mutls.aio.open_connection("127.0.0.1", port, config=cfg,
                                                                     server_hostname="localhost")
                    writer.write(b"hi\n")
                    results.append(await reader.readline())
                    writer.close()
                    await writer.wait_closed()
                except mutls.Error as exc:
                    results.append(exc)
        return results

    refused, greeting = run(main())
    assert isinstance(refused, mutls.PeerRejectedError) and refused.alert == "access_denied", repr(refused)
    assert greeting == b"hello spiffe://aio.test/payments, you said hi\n"
    assert [c["peer"].uris for c in recorder.calls] == [["spiffe://aio.test/payments"]]


def test_aio_server_with_blocking_and_ssl_clients(ca: mutls.TestCA) -> None:
    """Memory mode under asyncio talks to socket-mode mutls and to Python's ssl."""
    recorder = Recorder()
    client_ident = ca.issue(cn="aio client", uri=[CLIENT_URI])

    def blocking_client(port: int) -> bytes:
        with client_config(ca, client_ident).connect(("127.0.0.1", port), server_hostname="localhost",
                                                     timeout=10) as s:
            s.sendall(b"from mutls\n")
            return s.recv()

    def ssl_client(port: int) -> bytes:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca.configure_trust(ctx)
        client_ident.configure_cert(ctx)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"from ssl\n")
                return s.recv(1024)

    async def main() -> List[bytes]:
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            return [await asyncio.to_thread(blocking_client, port), await asyncio.to_thread(ssl_client, port)]

    assert run(main()) == [b"hello " + CLIENT_URI.encode() + b", you said from mutls\n",
                           b"hello " + CLIENT_URI.encode() + b", you said from ssl\n"]
    assert len(recorder.calls) == 2 and all(c["verified"] for c in recorder.calls)


def test_aio_client_with_ssl_server(ca: mutls.TestCA) -> None:
    """open_connection against Python's ssl module as an mTLS server."""
    ident = ca.issue(cn="ssl server", dns=["localhost"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(ctx)
    ident.configure_cert(ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(LIMIT)
    port = listener.getsockname()[1]
    seen: Dict[str, Any] = {}

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(LIMIT)
            with ctx.wrap_socket(conn, server_side=True) as s:
                seen["peer"] = s.getpeercert()
                s.sendall(s.recv(1024).upper())
                s.unwrap()
        except (OSError, ssl.SSLError) as exc:
            seen["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> bytes:
        reader, writer = await mutls.aio.open_connection("127.0.0.1", port, config=client_config(ca),
                                                         server_hostname="localhost")
        assert writer.get_extra_info("peercert").common_name == "ssl server"
        writer.write(b"shout\n")
        data = await reader.read()  # until the server's close_notify
        writer.close()
        await writer.wait_closed()
        return data

    try:
        assert run(main()) == b"SHOUT\n"
    finally:
        thread.join(LIMIT)
        listener.close()
    assert "error" not in seen, seen
    assert ("URI", CLIENT_URI) in seen["peer"]["subjectAltName"]


def test_a_write_that_meets_the_reset_after_the_servers_alert_reports_the_alert(ca: mutls.TestCA) -> None:
    """TLS 1.3: Python's ssl server refuses our certificate after our
    handshake is done, sends its alert and resets the connection. The
    client's first write meets the reset before the loop has read the
    alert; the alert is still in the kernel, so the app gets the server's
    refusal (PeerRejectedError, unknown_ca), not "closed without
    close_notify" (the flaky test_httpx.py::test_refused[async-client-unknown-ca])."""
    stranger = mutls.TestCA("stranger CA").issue(cn="stranger", uri=["spiffe://aio.test/stranger"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(ctx)
    ca.issue(cn="ssl server", dns=["localhost"]).configure_cert(ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(LIMIT)
    port = listener.getsockname()[1]
    refused = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(LIMIT)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
        try:
            ctx.wrap_socket(conn, server_side=True).close()
        except ssl.SSLError:
            conn.close()  # after the alert
        refused.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> BaseException:
        reader, writer = await mutls.aio.open_connection(
            "127.0.0.1", port, config=client_config(ca, stranger, versions=["1.3"]), server_hostname="localhost")
        assert refused.wait(LIMIT)
        time.sleep(0.2)  # blocking: the alert and the reset arrive while the loop reads nothing
        writer.write(b"hello\n")  # meets the reset at once
        with pytest.raises(mutls.Error) as info:
            await reader.read()
        writer.close()
        return info.value

    try:
        err = run(main())
    finally:
        thread.join(LIMIT)
        listener.close()
    assert isinstance(err, mutls.PeerRejectedError), repr(err)
    assert err.alert == "unknown_ca" and list(err.reasons) == ["unknown-issuer"], err


def test_server_drops_a_silent_connection(ca: mutls.TestCA) -> None:
    """A TCP client that never speaks TLS is dropped after handshake_timeout."""
    recorder = Recorder()

    async def main() -> float:
        server = await mutls.aio.start_server(recorder, "127.0.0.1", 0, config=server_config(ca),
                                              handshake_timeout=0.5)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up
            writer.close()
            return loop.time() - start

    elapsed = run(main())
    assert 0.3 < elapsed < 3.0, elapsed
    assert recorder.calls == []


def test_open_connection_to_a_plain_tcp_server(ca: mutls.TestCA) -> None:
    """A peer that is not TLS: the handshake fails with a mutls error, bounded."""

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> BaseException:
        server = await asyncio.start_server(plain, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            with pytest.raises(mutls.Error) as info:
                await mutls.aio.open_connection("127.0.0.1", port, config=client_config(ca),
                                                server_hostname="localhost")
            return info.value

    err = run(main())
    assert isinstance(err, mutls.Error) and err.code in ("protocol", "closed"), repr(err)


# ---- a peer that closes without close_notify --------------------------------

BODY = b"0123456789abcdef" * 8 + b"end of the body\n"


def ssl_http_server(ca: mutls.TestCA) -> Any:
    """Python's ssl + http.server: its HTTP/1.0 handler answers and closes
    the connection without close_notify, as ssl servers do."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: Any) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue(cn="ssl http", dns=["localhost"]).configure_cert(ctx)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.timeout = LIMIT
    thread = threading.Thread(target=httpd.handle_request, daemon=True)
    thread.start()
    return httpd, thread


@pytest.mark.parametrize("how", ["read", "read-n", "readline", "ragged-eof-ok"])
def test_data_before_a_close_without_close_notify_is_delivered(ca: mutls.TestCA, how: str) -> None:
    """Every byte that arrived comes out of the reader; then the unclean close
    is reported (ConnectionClosed), or is EOF with suppress_ragged_eofs."""
    httpd, thread = ssl_http_server(ca)
    port = httpd.server_address[1]
    cfg = mutls.Config(trust=ca, peer_certificate="require")

    async def main() -> List[Any]:
        reader, writer = await mutls.aio.open_connection(
            "127.0.0.1", port, config=cfg, server_hostname="localhost",
            suppress_ragged_eofs=how == "ragged-eof-ok")
        writer.write(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        # let the response and the close both arrive before the first read
        await asyncio.sleep(0.3)
        got = b""
        if how in ("read", "ragged-eof-ok"):
            got = await reader.read()
        elif how == "read-n":
            while True:
                try:
                    block = await reader.read(7)
                except mutls.ConnectionClosed:
                    break
                assert block, "EOF before the unclean close was reported"
                got += block
        else:
            with pytest.raises(mutls.ConnectionClosed):
                async for line in reader:
                    got += line
        outcome: List[Any] = [got]
        try:
            outcome.append(await reader.read(100))
        except mutls.Error as exc:
            outcome.append(exc)
        writer.close()
        return outcome

    try:
        got, after = run(main())
    finally:
        thread.join(LIMIT)
        httpd.server_close()
    assert got.startswith(b"HTTP/1.0 200 ") and got.endswith(b"\r\n\r\n" + BODY), got[-60:]
    if how == "ragged-eof-ok":
        assert after == b""
    else:
        assert isinstance(after, mutls.ConnectionClosed), repr(after)
        assert after.code == "closed" and "without close_notify" in str(after)


def test_handshake_timeout_comes_from_the_config(ca: mutls.TestCA) -> None:
    """No handshake_timeout= argument: the Config's value bounds both sides."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers the ClientHello
        writer.close()

    async def main() -> List[Any]:
        plain = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = plain.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        async with plain:
            start = loop.time()
            with pytest.raises(mutls.TimeoutError) as info:
                await mutls.aio.open_connection("127.0.0.1", port, server_hostname="localhost",
                                                config=client_config(ca, handshake_timeout=0.3))
            client_took = loop.time() - start
        server = await mutls.aio.start_server(Recorder(), "127.0.0.1", 0,
                                              config=server_config(ca, handshake_timeout=0.3))
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            start = loop.time()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped
            server_took = loop.time() - start
            writer.close()
        return [info.value, client_took, server_took]

    err, client_took, server_took = run(main())
    assert err.code == "timeout" and err.step == "handshake"
    assert "the client waited 0.3 s for the server" in str(err)
    assert 0.25 <= client_took < 3.0 and 0.25 <= server_took < 3.0
