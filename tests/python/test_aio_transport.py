"""mutls.aio transports (create_connection, create_server, start_tls): any
asyncio protocol over mutual TLS, against mutls and Python's ssl peers."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from typing import Any, Awaitable, Callable, Dict, List, Optional, TypeVar

import pytest

import mutls
import mutls.aio

T = TypeVar("T")
LIMIT = 30.0

SERVER_URI = "spiffe://aio.test/server"
CLIENT_URI = "spiffe://aio.test/client"


def run(coro: Awaitable[T], timeout: float = LIMIT) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


@pytest.fixture
def ca() -> mutls.TestCA:
    return mutls.TestCA("aio transport CA")


def server_ident(ca: mutls.TestCA) -> mutls.Identity:
    return ca.issue(cn="aio server", dns=["localhost"], ip=["127.0.0.1"], uri=[SERVER_URI])


def server_config(ca: mutls.TestCA, **kw: Any) -> mutls.Config:
    return mutls.Config(identity=server_ident(ca), trust=ca, **kw)


def client_config(ca: mutls.TestCA, **kw: Any) -> mutls.Config:
    return mutls.Config(identity=ca.issue(cn="aio client", uri=[CLIENT_URI]), trust=ca, **kw)


class Collector(asyncio.Protocol):
    """Records every protocol call: what a real application protocol gets."""

    def __init__(self, *, keep_open_on_eof: bool = False, answer: Optional[bytes] = None) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.events: List[str] = []
        self.data = bytearray()
        self.lost: Optional[asyncio.Future[Optional[BaseException]]] = None
        self.eof = asyncio.Event()
        self.keep_open_on_eof = keep_open_on_eof
        self.answer = answer
        self.paused_writing = 0
        self.resumed_writing = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.events.append("made")
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.answer is not None and self.data.endswith(b"\n") and self.transport is not None:
            self.transport.write(self.answer + bytes(self.data))

    def eof_received(self) -> bool:
        self.events.append("eof")
        self.eof.set()
        if self.keep_open_on_eof and self.transport is not None:
            self.transport.write(b"after your eof: %d bytes\n" % len(self.data))
            self.transport.close()
        return self.keep_open_on_eof

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.events.append("lost")
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.paused_writing += 1

    def resume_writing(self) -> None:
        self.resumed_writing += 1


def ssl_server_context(ca: mutls.TestCA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(ctx)
    server_ident(ca).configure_cert(ctx)
    return ctx


def ssl_client_context(ca: mutls.TestCA, ident: Optional[mutls.Identity] = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(ctx)
    (ident or ca.issue(cn="ssl client", uri=[CLIENT_URI])).configure_cert(ctx)
    return ctx


# ---- mutls to mutls -----------------------------------------------------------

@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_protocols_over_mutls_transports(ca: mutls.TestCA, version: str) -> None:
    """Plain asyncio Protocols both sides; get_extra_info answers in ssl's shapes."""
    servers: List[Collector] = []

    def make_server_protocol() -> Collector:
        servers.append(Collector(answer=b"echo: "))
        return servers[-1]

    async def main() -> Dict[str, Any]:
        server = await mutls.aio.create_server(make_server_protocol, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            transport, client = await mutls.aio.create_connection(
                Collector, "127.0.0.1", port, config=client_config(ca, versions=[version]),
                server_hostname="localhost")
            assert isinstance(client, Collector) and client.events == ["made"]
            assert client.transport is transport
            info = {k: transport.get_extra_info(k) for k in (
                "peercert", "cipher", "peername", "sockname", "socket", "ssl_object",
                "mutls_session", "mutls_peer_certificate", "sslcontext")}
            transport.write(b"ping\n")
            while not client.data.endswith(b"ping\n"):
                await asyncio.sleep(0.01)
            info["data"] = bytes(client.data)
            info["socket_peer"] = info["socket"].getpeername()
            info["server_peercert"] = servers[0].transport.get_extra_info("peercert")  # type: ignore[union-attr]
            assert not transport.is_closing()
            transport.close()
            assert transport.is_closing()
            assert client.lost is not None and await client.lost is None
            assert servers[0].lost is not None
            info["server_lost"] = await servers[0].lost
            info["server_events"] = servers[0].events
        return info

    info = run(main())
    assert info["data"] == b"echo: ping\n"
    peercert = info["peercert"]
    assert peercert["subject"] == ((("commonName", "aio server"),),)
    assert ("URI", SERVER_URI) in peercert["subjectAltName"]
    assert ("DNS", "localhost") in peercert["subjectAltName"]
    assert peercert["notAfter"].endswith(" GMT")
    assert info["server_peercert"]["subjectAltName"] == (("URI", CLIENT_URI),)
    name, proto, bits = info["cipher"]
    session = info["mutls_session"]
    assert isinstance(session, mutls.Session) and session.verified
    assert name == session.cipher and proto == f"TLSv{version}" and bits in (128, 256)
    assert info["mutls_peer_certificate"].uris == [SERVER_URI]
    assert info["peername"][0] == "127.0.0.1" and info["sockname"][0] == "127.0.0.1"
    assert info["socket_peer"] == info["peername"]
    assert info["ssl_object"] is None and info["sslcontext"] is None
    # the client's close sent close_notify: the server saw an orderly EOF
    assert info["server_events"] == ["made", "eof", "lost"] and info["server_lost"] is None


def test_peercert_dict_is_ssl_getpeercert_shape(ca: mutls.TestCA, tmp_path: Any) -> None:
    """peercert_dict gives what ssl's own decoder gives for the same certificate."""
    ident = ca.issue(cn="orders, eu", dns=["orders.internal", "o.example"], ip=["127.0.0.1", "::1"],
                     uri=["spiffe://x/orders"], email=["ops@example.com"])
    pem = tmp_path / "leaf.pem"
    pem.write_text(ident.certificate.pem)
    expected = ssl._ssl._test_decode_cert(str(pem))  # type: ignore[attr-defined]
    assert mutls.aio.peercert_dict(ident.certificate) == expected
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_text(ca.certificate.pem)
    got = mutls.aio.peercert_dict(ca.certificate)
    want = ssl._ssl._test_decode_cert(str(ca_pem))  # type: ignore[attr-defined]
    assert got["subject"] == want["subject"] and got["issuer"] == want["issuer"]


# ---- against Python's ssl ----------------------------------------------------------

def test_stream_reader_protocol_against_asyncio_ssl_server(ca: mutls.TestCA) -> None:
    """asyncio's own StreamReaderProtocol over create_connection, to asyncio's
    TLS server with CERT_REQUIRED."""
    seen: Dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["peer"] = writer.get_extra_info("peercert")
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    async def main() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_server_context(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader()
            transport, protocol = await mutls.aio.create_connection(
                lambda: asyncio.StreamReaderProtocol(reader), "127.0.0.1", port,
                config=client_config(ca), server_hostname="localhost")
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            writer.write(b"shout\n")
            await writer.drain()
            data = await reader.readline()
            writer.close()
            await writer.wait_closed()
        return data

    assert run(main()) == b"SHOUT\n"
    assert ("URI", CLIENT_URI) in seen["peer"]["subjectAltName"]


def test_stream_reader_protocol_served_to_asyncio_ssl_client(ca: mutls.TestCA) -> None:
    """create_server with StreamReaderProtocol; asyncio's TLS client (CERT_REQUIRED)."""
    seen: Dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["peer"] = writer.get_extra_info("peercert")
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await mutls.aio.create_server(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(), handle), "127.0.0.1", 0,
            config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_client_context(ca),
                                                           server_hostname="localhost")
            assert ("URI", SERVER_URI) in writer.get_extra_info("peercert")["subjectAltName"]
            writer.write(b"from ssl\n")
            data = await reader.readline()
            writer.close()
            try:
                await writer.wait_closed()
            except (ssl.SSLError, ConnectionError):
                pass
        del loop
        return data

    assert run(main()) == b"FROM SSL\n"
    assert ("URI", CLIENT_URI) in seen["peer"]["subjectAltName"]


# ---- refusals ------------------------------------------------------------------

def test_server_refuses_unknown_ca_client_protocol_never_called(
        ca: mutls.TestCA, caplog: pytest.LogCaptureFixture) -> None:
    """The server logs the mutls sentence and never creates a connection for
    the app; a TLS 1.2 client gets PeerRejectedError from create_connection,
    a TLS 1.3 client at connection_lost (the server checks it after the
    client's handshake finished)."""
    other = mutls.TestCA("stranger CA")
    made: List[Collector] = []

    def factory() -> Collector:
        made.append(Collector())
        return made[-1]

    async def main() -> Any:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        stranger = mutls.Config(identity=other.issue(cn="stranger"), trust=ca, versions=["1.2"])
        async with server:
            with pytest.raises(mutls.PeerRejectedError) as info:
                await mutls.aio.create_connection(Collector, "127.0.0.1", port, config=stranger,
                                                  server_hostname="localhost")
            stranger13 = mutls.Config(identity=other.issue(cn="stranger"), trust=ca, versions=["1.3"])
            transport, client = await mutls.aio.create_connection(
                Collector, "127.0.0.1", port, config=stranger13, server_hostname="localhost")
            assert isinstance(client, Collector) and client.lost is not None
            lost13 = await client.lost
            await asyncio.sleep(0.05)
        return info.value, lost13

    with caplog.at_level(logging.DEBUG, logger="mutls.aio"):
        exc12, exc13 = run(main())
    assert isinstance(exc13, mutls.PeerRejectedError)
    assert all(p.events == [] for p in made), [p.events for p in made]
    logged = [r.getMessage() for r in caplog.records if r.name == "mutls.aio"]
    # the refusing side's sentence names what was wrong with the client
    assert len(logged) == 2 and all(
        "client certificate CN=stranger was issued by an unknown CA" in m for m in logged), logged
    assert str(exc12) == str(exc13) == "peer rejected our certificate (alert unknown_ca)"


def test_client_refuses_wrong_name_server(ca: mutls.TestCA) -> None:
    made: List[Collector] = []

    def factory() -> Collector:
        made.append(Collector())
        return made[-1]

    async def main() -> BaseException:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            with pytest.raises(mutls.CertificateVerifyError) as info:
                await mutls.aio.create_connection(Collector, "127.0.0.1", port, config=client_config(ca),
                                                  server_hostname="payments.internal")
            await asyncio.sleep(0.05)
        return info.value

    exc = run(main())
    assert "payments.internal" in str(exc)
    assert all(p.events == [] for p in made)


def test_refusals_with_ssl_peers(ca: mutls.TestCA, caplog: pytest.LogCaptureFixture) -> None:
    """An ssl server with CERT_REQUIRED refuses our unknown-CA client; our
    server refuses an ssl client from an unknown CA (and logs the sentence)."""
    other = mutls.TestCA("stranger CA")
    made: List[Collector] = []

    def factory() -> Collector:
        made.append(Collector())
        return made[-1]

    # a blocking ssl server: asyncio's own drops the connection without
    # sending its alert, so its client only learns "closed during the handshake"
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(LIMIT)
    ssl_port = listener.getsockname()[1]
    ssl_seen: List[BaseException] = []

    def ssl_serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(LIMIT)
        try:
            ssl_server_context(ca).wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError) as exc:
            ssl_seen.append(exc)
            conn.close()

    thread = threading.Thread(target=ssl_serve, daemon=True)
    thread.start()

    async def main() -> Any:
        cfg = mutls.Config(identity=other.issue(cn="stranger"), trust=ca, versions=["1.2"])
        with pytest.raises(mutls.PeerRejectedError) as refused:
            await mutls.aio.create_connection(Collector, "127.0.0.1", ssl_port, config=cfg,
                                              server_hostname="localhost")
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            ctx = ssl_client_context(ca, other.issue(cn="stranger ssl client"))
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
            await asyncio.sleep(0.05)
        return refused.value

    try:
        with caplog.at_level(logging.DEBUG, logger="mutls.aio"):
            exc = run(main())
    finally:
        thread.join(LIMIT)
        listener.close()
    assert isinstance(exc, mutls.PeerRejectedError) and "unknown_ca" in str(exc).replace(" ", "_")
    assert ssl_seen and isinstance(ssl_seen[0], ssl.SSLError)
    assert made and all(p.events == [] for p in made)
    assert any("stranger ssl client" in r.getMessage() for r in caplog.records if r.name == "mutls.aio")


# ---- flow control, half-close, ragged close -------------------------------------

def test_flow_control_pauses_and_resumes_the_writer(ca: mutls.TestCA) -> None:
    """A reader that paused reading makes the writer's buffer pass the
    high-water mark: pause_writing; once it reads again: resume_writing,
    and every byte arrives."""
    size = 8 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)
    servers: List[Collector] = []

    def factory() -> Collector:
        servers.append(Collector())
        return servers[-1]

    async def main() -> Dict[str, Any]:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            transport, client = await mutls.aio.create_connection(
                Collector, "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            assert isinstance(client, Collector)
            transport.pause_reading()
            assert not transport.is_reading()
            while not servers or servers[0].transport is None:
                await asyncio.sleep(0.01)
            st = servers[0].transport
            st.set_write_buffer_limits(high=256 * 1024, low=64 * 1024)
            st.write(payload)
            st.write_eof()
            peak = st.get_write_buffer_size()
            for _ in range(50):
                await asyncio.sleep(0.01)
            held = len(client.data)
            before = (servers[0].paused_writing, servers[0].resumed_writing)
            transport.resume_reading()
            await client.eof.wait()
            after = (servers[0].paused_writing, servers[0].resumed_writing)
            transport.close()
        return {"peak": peak, "held": held, "before": before, "after": after, "data": bytes(client.data)}

    r = run(main())
    assert r["peak"] > 256 * 1024
    assert r["before"] == (1, 0)  # paused, not resumed while the client did not read
    assert r["held"] < size
    assert r["after"] == (1, 1)
    assert r["data"] == payload


def test_write_eof_sends_close_notify_and_the_peer_can_answer(ca: mutls.TestCA) -> None:
    servers: List[Collector] = []

    def factory() -> Collector:
        servers.append(Collector(keep_open_on_eof=True))
        return servers[-1]

    async def main() -> bytes:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            transport, client = await mutls.aio.create_connection(
                Collector, "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            assert isinstance(client, Collector) and transport.can_write_eof()
            transport.write(b"x" * 5000)
            transport.write_eof()
            await client.eof.wait()
            assert client.lost is not None
            assert await client.lost is None
        return bytes(client.data)

    assert run(main()) == b"after your eof: 5000 bytes\n"


def test_abort_drops_without_close_notify(ca: mutls.TestCA) -> None:
    servers: List[Collector] = []

    def factory() -> Collector:
        servers.append(Collector())
        return servers[-1]

    async def main() -> Optional[BaseException]:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            transport, client = await mutls.aio.create_connection(
                Collector, "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            transport.write(b"abc\n")
            while not servers or len(servers[0].data) < 4:
                await asyncio.sleep(0.01)
            transport.abort()
            assert servers[0].lost is not None
            return await servers[0].lost

    exc = run(main())
    assert isinstance(exc, mutls.ConnectionClosed) and exc.code == "closed"


def test_ragged_close_delivers_every_byte(ca: mutls.TestCA) -> None:
    """Python's ssl server sends and closes without close_notify: the protocol
    gets every byte, then connection_lost(ConnectionClosed)."""
    body = bytes(range(256)) * 4000
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(LIMIT)
    port = listener.getsockname()[1]
    ctx = ssl_server_context(ca)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(LIMIT)
        s = ctx.wrap_socket(conn, server_side=True)
        s.recv(10)
        s.sendall(body)
        s.close()  # no unwrap(): no close_notify

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> Any:
        transport, client = await mutls.aio.create_connection(
            Collector, "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
        assert isinstance(client, Collector) and client.lost is not None
        transport.write(b"go\n")
        exc = await client.lost
        return bytes(client.data), exc, client.events

    try:
        data, exc, events = run(main())
    finally:
        thread.join(LIMIT)
        listener.close()
    assert data == body
    assert isinstance(exc, mutls.ConnectionClosed) and "without close_notify" in str(exc)
    assert events == ["made", "lost"]


# ---- start_tls ---------------------------------------------------------------------

class StartTLSServer(asyncio.Protocol):
    """Plain text until "STARTTLS\\n", then mutual TLS on the same connection."""

    def __init__(self, config: mutls.Config, done: "asyncio.Future[Any]") -> None:
        self.config = config
        self.done = done
        self.tls_data = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if data == b"STARTTLS\n":
            self.transport.write(b"OK\n")
            asyncio.ensure_future(self.upgrade())
        else:
            self.tls_data += data
            if self.tls_data.endswith(b"\n"):
                self.tls.write(b"secret reply to " + bytes(self.tls_data))

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        pass

    async def upgrade(self) -> None:
        try:
            self.tls = await mutls.aio.start_tls(self.transport, self, self.config, server_side=True)
            self.done.set_result(self.tls.get_extra_info("peercert"))
        except Exception as exc:
            self.done.set_exception(exc)


class StartTLSClient(Collector):
    pass


@pytest.mark.parametrize("good", [True, False])
def test_start_tls_upgrades_a_plain_connection(ca: mutls.TestCA, good: bool) -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        server = await loop.create_server(lambda: StartTLSServer(server_config(ca), done), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            raw, client = await loop.create_connection(StartTLSClient, "127.0.0.1", port)
            raw.write(b"STARTTLS\n")
            while bytes(client.data) != b"OK\n":
                await asyncio.sleep(0.01)
            client.data.clear()
            cfg = client_config(ca) if good else mutls.Config(
                identity=mutls.TestCA("stranger").issue(cn="stranger"), trust=ca, versions=["1.2"])
            if not good:
                with pytest.raises(mutls.PeerRejectedError):
                    await mutls.aio.start_tls(raw, client, cfg, server_side=False, server_hostname="localhost")
                with pytest.raises(mutls.Error) as refused:
                    await done
                return str(refused.value)
            tls = await mutls.aio.start_tls(raw, client, cfg, server_side=False, server_hostname="localhost")
            assert client.events == ["made"]  # connection_made is not called again
            tls.write(b"hello\n")
            while not client.data.endswith(b"hello\n"):
                await asyncio.sleep(0.01)
            peer = await done
            tls.close()
            return bytes(client.data), peer, tls.get_extra_info("peercert")

    result = run(main())
    if not good:
        assert "stranger" in result
        return
    data, server_saw, client_saw = result
    assert data == b"secret reply to hello\n"
    assert ("URI", CLIENT_URI) in server_saw["subjectAltName"]
    assert ("URI", SERVER_URI) in client_saw["subjectAltName"]


# ---- a real third-party protocol: uvicorn's H11Protocol --------------------------

def test_uvicorn_h11_protocol_over_create_server(ca: mutls.TestCA) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("h11")
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.server import ServerState

    seen: List[Dict[str, Any]] = []

    async def app(scope: Dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        assert scope["type"] == "http"
        seen.append(scope)
        body = b"hello " + scope["path"].encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(app=app, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await mutls.aio.create_server(
            lambda: H11Protocol(config=config, server_state=state, app_state={}, _loop=loop),
            "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await mutls.aio.open_connection(
                "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            writer.write(b"GET /orders HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(len(b"hello /orders"))
            writer.write(b"GET /again HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            rest = await reader.read()
            writer.close()
            await writer.wait_closed()
            for t in list(state.tasks):
                await t
        return head + body + rest

    out = run(main())
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"hello /orders" in out and out.endswith(b"hello /again")
    assert [s["path"] for s in seen] == ["/orders", "/again"]


# ---- uvloop -----------------------------------------------------------------------

def test_transports_under_uvloop(ca: mutls.TestCA) -> None:
    uvloop = pytest.importorskip("uvloop")
    servers: List[Collector] = []

    def factory() -> Collector:
        servers.append(Collector(answer=b"uv: "))
        return servers[-1]

    async def main() -> bytes:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            transport, client = await mutls.aio.create_connection(
                Collector, "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            assert isinstance(client, Collector)
            transport.write(b"x" * 300_000 + b"\n")
            while len(client.data) < 300_005:
                await asyncio.sleep(0.01)
            transport.close()
            # the streams API on the same engine (it asserted an asyncio.Transport before)
            reader, writer = await mutls.aio.open_connection(
                "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            writer.write(b"streams\n")
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            assert line == b"uv: streams\n"
            return bytes(client.data[:4]) + bytes(client.data[-2:])

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(asyncio.wait_for(main(), LIMIT)) == b"uv: x\n"
    finally:
        loop.close()


def test_pause_reading_stops_delivery_of_data_already_received(ca: mutls.TestCA) -> None:
    """pause_reading inside data_received: records the session already holds
    wait for resume_reading (asyncio's TLS transport does the same)."""
    size = 400_000
    body = bytes(range(256)) * (size // 256)

    class Pauser(Collector):
        def __init__(self) -> None:
            super().__init__()
            self.calls_while_paused = 0
            self.paused = False
            self.paused_once = False

        def data_received(self, data: bytes) -> None:
            if self.paused:
                self.calls_while_paused += 1
            super().data_received(data)
            if self.transport is not None and not self.paused_once and len(self.data) < size:
                self.paused = self.paused_once = True
                self.transport.pause_reading()

    servers: List[Collector] = []

    def factory() -> Collector:
        servers.append(Collector())
        return servers[-1]

    async def main() -> Any:
        server = await mutls.aio.create_server(factory, "127.0.0.1", 0, config=server_config(ca))
        port = server.sockets[0].getsockname()[1]
        async with server:
            transport, client = await mutls.aio.create_connection(
                Pauser, "127.0.0.1", port, config=client_config(ca), server_hostname="localhost")
            assert isinstance(client, Pauser)
            while not servers or servers[0].transport is None:
                await asyncio.sleep(0.01)
            servers[0].transport.write(body)
            servers[0].transport.write_eof()
            await asyncio.sleep(0.5)
            held = len(client.data)
            paused_calls = client.calls_while_paused
            assert not transport.is_reading()
            client.paused = False
            transport.resume_reading()
            await client.eof.wait()
            transport.close()
            return held, paused_calls, bytes(client.data)

    held, paused_calls, data = run(main())
    assert paused_calls == 0 and 0 < held < size
    assert data == body
