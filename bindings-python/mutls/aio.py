"""asyncio streams over mutls: mutual TLS for ``asyncio`` programs.

::

    reader, writer = await mutls.aio.open_connection(
        "127.0.0.1", 8443, config=cfg, server_hostname="orders.internal")
    writer.write(b"ping")
    session = writer.get_extra_info("mutls_session")

    server = await mutls.aio.start_server(handle, "127.0.0.1", 8443, config=cfg)

Both run a memory-mode :class:`mutls.Session` (``feed`` / ``data_to_send``)
under an :class:`asyncio.Protocol` that sits between the TCP transport and an
ordinary :class:`asyncio.StreamReaderProtocol`, so the streams are the
standard :class:`asyncio.StreamReader` / :class:`asyncio.StreamWriter`.

``writer.get_extra_info(name)`` knows, besides what the TCP transport knows
(``"peername"``, ``"sockname"``, ``"socket"``, ...):

- ``"mutls_session"``: the :class:`mutls.Session`;
- ``"peercert"`` and ``"peer_certificate"``: the peer's :class:`mutls.Certificate`
  (not a dict, unlike :mod:`ssl`);
- ``"peer_chain"``, ``"version"`` (``"TLSv1.3"``), ``"cipher"`` (the IANA suite
  name), ``"alpn"`` (also ``"selected_alpn_protocol"``), ``"server_hostname"``,
  ``"mutls_config"``.

Failures. :func:`open_connection` raises the :class:`mutls.Error` of a failed
handshake (``CertificateVerifyError`` when we refused the server,
``PeerRejectedError`` when the server refused us, ...). In TLS 1.3 a server
checks the client's certificate *after* the client has finished its
handshake, so a client the server refuses learns it from its first read:
``await reader.read()`` raises the ``PeerRejectedError``. Restrict the client
to TLS 1.2 (``versions=("1.2",)``) to learn it from :func:`open_connection`.

End of stream. Every byte that arrived is read before the stream's end is
reported. After the peer's close_notify the reader is at EOF (``b""``). A
close without close_notify (a possible truncation; Python's ssl servers and
many HTTP servers close that way) is reported once the data before it was
read: the read that finds nothing more raises :class:`mutls.ConnectionClosed`
(``reader.read()`` returns the data and the next read raises). With
``suppress_ragged_eofs=True`` (as in :mod:`ssl`) it is a plain EOF instead.
An alert or a record error after data is reported the same way.

On the server side a failed handshake closes the connection (after the alert
that explains it was sent) and does not call ``client_connected_cb``; it is
logged at DEBUG level on the ``"mutls.aio"`` logger. A connection whose
handshake does not finish within ``handshake_timeout`` seconds (by default
the Config's ``handshake_timeout``, 30 s) is dropped; a client gets
:class:`mutls.TimeoutError`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable, Optional, Sequence, Union

from . import Config, ConnectionClosed, Error, Session, WantRead, WantWrite
from . import TimeoutError as _MutlsTimeoutError

__all__ = ["open_connection", "start_server", "ClientConnectedCallback"]

log = logging.getLogger("mutls.aio")

_DEFAULT_LIMIT = 2**16  # asyncio's own StreamReader limit
_READ_SIZE = 1 << 16
_LINGER = 2.0  # seconds a refused client gets to read our alert


class _FromConfig:
    """The default of ``handshake_timeout=``: the Config's own value."""

    def __repr__(self) -> str:
        return "config.handshake_timeout"


# open_connection / start_server take the config's handshake_timeout (30 s
# unless the Config says otherwise) when the argument is not given.
FROM_CONFIG: Any = _FromConfig()

ClientConnectedCallback = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter], Optional[Awaitable[None]]
]

_Buffer = Union[bytes, bytearray, memoryview]

# States of one connection.
_HANDSHAKE = "handshake"
_OPEN = "open"
_CLOSED = "closed"


class _TLSStreamReader(asyncio.StreamReader):
    """A StreamReader that hands out every byte that arrived before it reports
    how the stream ended.

    asyncio's own reader raises a stored exception at the next read even when
    data is still buffered, so a peer that sends a response and closes without
    close_notify (Python's ssl servers do) would lose the response. Here the
    error waits until the buffer is empty: reads return the data, then the
    first read that finds nothing more raises the error (every such read does,
    as asyncio's reader would). With ``suppress_ragged_eofs`` a close without
    close_notify ends the stream as EOF instead, like :mod:`ssl`'s option.
    """

    def __init__(self, *args: Any, suppress_ragged_eofs: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._suppress_ragged_eofs = suppress_ragged_eofs
        self._pending: Optional[Exception] = None

    def set_exception(self, exc: Exception) -> None:
        ragged = isinstance(exc, ConnectionClosed)
        if self._pending is None and not (ragged and self._suppress_ragged_eofs):
            self._pending = exc
        self.feed_eof()  # wakes a waiting read, which takes what is buffered

    def exception(self) -> Optional[Exception]:
        if self._pending is not None and self.at_eof():  # the data was read
            return self._pending
        return super().exception()

    def _raise_pending(self) -> None:
        if self._pending is not None:
            raise self._pending

    async def read(self, n: int = -1) -> bytes:
        if n < 0:  # until the end: the blocks read so far are never dropped
            blocks = []
            while True:
                block = await super().read(_READ_SIZE)
                if not block:
                    break
                blocks.append(block)
            if blocks:
                return b"".join(blocks)
            self._raise_pending()
            return b""
        data = await super().read(n)
        if not data and n > 0:
            self._raise_pending()
        return data

    async def readuntil(self, separator: Any = b"\n") -> bytes:
        try:
            return await super().readuntil(separator)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                self._raise_pending()
            raise

    async def readexactly(self, n: int) -> bytes:
        try:
            return await super().readexactly(n)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                self._raise_pending()
            raise


class _TLSTransport(asyncio.Transport):
    """The transport the application protocol sees: plaintext in, plaintext out."""

    def __init__(self, tls: _TLSProtocol) -> None:
        super().__init__()
        self._tls = tls

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._tls._extra_info(name, default)

    def is_closing(self) -> bool:
        return self._tls._is_closing()

    def close(self) -> None:
        self._tls._app_close()

    def abort(self) -> None:
        self._tls._abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._tls._app_protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tls._app_protocol

    def write(self, data: _Buffer) -> None:
        self._tls._app_write(data)

    def writelines(self, list_of_data: Iterable[_Buffer]) -> None:
        self._tls._app_write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self._tls._app_write_eof()

    def can_write_eof(self) -> bool:
        return True

    def is_reading(self) -> bool:
        raw = self._tls._raw
        return raw is not None and raw.is_reading()

    def pause_reading(self) -> None:
        if self._tls._raw is not None:
            self._tls._raw.pause_reading()

    def resume_reading(self) -> None:
        if self._tls._raw is not None:
            self._tls._raw.resume_reading()

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        if self._tls._raw is not None:
            self._tls._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        raw = self._tls._raw
        return raw.get_write_buffer_size() if raw is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        raw = self._tls._raw
        return raw.get_write_buffer_limits() if raw is not None else (0, 0)


class _TLSProtocol(asyncio.Protocol):
    """Drives one memory-mode Session between a TCP transport and an app protocol."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        session: Session,
        app_protocol: asyncio.BaseProtocol,
        waiter: Optional[asyncio.Future[None]],
        handshake_timeout: Optional[float],
    ) -> None:
        self._loop = loop
        self._session = session
        self._app_protocol = app_protocol
        self._waiter = waiter  # client: completed when the handshake is
        self._handshake_timeout = handshake_timeout
        self._timer: Optional[asyncio.TimerHandle] = None
        self._raw: Optional[asyncio.Transport] = None
        self._app_transport = _TLSTransport(self)
        self._state = _HANDSHAKE
        self._app_connected = False
        self._app_notified = False  # app_protocol.connection_lost was called
        self._peer_closed = False  # close_notify received
        self._write_closed = False  # close_notify sent
        self._writing_paused = False

    # -- helpers ---------------------------------------------------------

    def _peer(self) -> Any:
        return self._raw.get_extra_info("peername") if self._raw is not None else None

    def _flush(self) -> None:
        """Move whatever TLS produced (records, alerts) to the socket."""
        try:
            out = self._session.data_to_send()
        except Error:  # pragma: no cover - a session always has a buffer
            return
        if out and self._raw is not None and not self._raw.is_closing():
            self._raw.write(out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _extra_info(self, name: str, default: Any) -> Any:
        s = self._session
        if name == "mutls_session":
            return s
        if name in ("peercert", "peer_certificate"):
            return s.peer_certificate
        if name == "peer_chain":
            return s.peer_chain
        if name == "version":
            return s.version
        if name == "cipher":
            return s.cipher
        if name in ("alpn", "selected_alpn_protocol"):
            return s.alpn
        if name == "server_hostname":
            return s.server_hostname
        if name == "mutls_config":
            return s.config
        if name in ("sslcontext", "ssl_object"):
            return default  # this is not the ssl module
        if self._raw is not None:
            return self._raw.get_extra_info(name, default)
        return default

    def _is_closing(self) -> bool:
        return self._state == _CLOSED or self._raw is None or self._raw.is_closing()

    # -- the TCP side ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        if self._handshake_timeout is not None:
            self._timer = self._loop.call_later(self._handshake_timeout, self._on_handshake_timeout)
        self._handshake_step()

    def data_received(self, data: bytes) -> None:
        if self._state == _CLOSED:
            return
        try:
            self._session.feed(data)
        except Error as exc:
            self._fail(exc)
            return
        if self._state == _HANDSHAKE:
            self._handshake_step()
        else:
            self._read_step()

    def eof_received(self) -> Optional[bool]:
        if self._state == _CLOSED:
            return False
        try:
            self._session.feed_eof()
        except Error as exc:
            self._fail(exc)
            return False
        if self._state == _HANDSHAKE:
            self._handshake_step()  # fails: the peer went away mid-handshake
            return False
        if self._peer_closed:
            # Orderly: close_notify came first. The application may still
            # write if its protocol asked to keep the connection open.
            return True
        self._read_step()  # premature close: ConnectionClosed reaches the app
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._cancel_timer()
        if self._state == _HANDSHAKE:
            err: BaseException = exc if exc is not None else ConnectionResetError(
                "the connection was lost during the TLS handshake")
            try:
                self._session.feed_eof()
                self._session.handshake()
            except Error as mutls_exc:  # the session names it: "closed"
                if exc is not None:
                    mutls_exc.__cause__ = exc
                err = mutls_exc
            except Exception:
                pass
            self._handshake_failed(err)
        self._state = _CLOSED
        self._notify_app_lost(exc)
        self._raw = None

    def pause_writing(self) -> None:
        self._writing_paused = True
        if self._app_connected:
            self._app_protocol.pause_writing()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._app_connected:
            self._app_protocol.resume_writing()

    # -- the TLS state machine ------------------------------------------

    def _handshake_step(self) -> None:
        try:
            self._session.handshake()
        except (WantRead, WantWrite):
            self._flush()
            return
        except Exception as exc:  # a mutls.Error; a hook's own error comes chained to one
            self._flush()  # the alert that explains the refusal
            self._handshake_failed(exc)
            return
        self._flush()
        self._handshake_done()

    def _handshake_failed(self, exc: BaseException) -> None:
        self._cancel_timer()
        self._state = _CLOSED
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_exception(exc)
        else:
            log.debug("mutls: TLS handshake with %s failed: %s", self._peer(), exc)
        raw = self._raw
        if raw is None or raw.is_closing():
            return
        if self._waiter is None and raw.can_write_eof():
            # Server: send the alert and half-close, then drop the connection
            # when the client hangs up (or after a grace period). Closing at
            # once would reset a TLS 1.3 client that already sent data, and a
            # reset can destroy the alert before the client reads it.
            raw.write_eof()
            self._timer = self._loop.call_later(_LINGER, raw.abort)
        else:
            raw.close()  # after the alert that is already queued

    def _handshake_done(self) -> None:
        self._cancel_timer()
        self._state = _OPEN
        self._app_connected = True
        self._app_protocol.connection_made(self._app_transport)
        if self._writing_paused:
            self._app_protocol.pause_writing()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._read_step()  # application data that came with the last flight

    def _on_handshake_timeout(self) -> None:
        self._timer = None
        if self._state != _HANDSHAKE:
            return
        me, peer = ("client", "server") if self._waiter is not None else ("server", "client")
        exc = _MutlsTimeoutError(
            f"handshake timed out: the {me} waited {self._handshake_timeout:g} s for the {peer} "
            f"to finish the TLS handshake (handshake_timeout {self._handshake_timeout:g} s)")
        exc.step = "handshake"
        exc.side = "local"
        raw = self._raw
        self._handshake_failed(exc)
        self._cancel_timer()
        if raw is not None:
            raw.abort()

    def _read_step(self) -> None:
        while self._state == _OPEN and not self._peer_closed:
            try:
                data = self._session.recv(_READ_SIZE)
            except (WantRead, WantWrite):
                break
            except Error as exc:
                self._flush()
                self._fail(exc)
                return
            if not data:  # close_notify
                self._peer_closed = True
                self._flush()
                assert isinstance(self._app_protocol, asyncio.Protocol)
                keep_open = self._app_protocol.eof_received()
                if not keep_open:
                    self._app_close()
                return
            assert isinstance(self._app_protocol, asyncio.Protocol)
            self._app_protocol.data_received(data)
        self._flush()  # e.g. a KeyUpdate answer

    def _fail(self, exc: Exception) -> None:
        """A fatal error after the handshake: tell the app, drop the connection."""
        if self._state == _HANDSHAKE:
            self._handshake_failed(exc)
            return
        self._state = _CLOSED
        if self._raw is not None:
            self._raw.close()
        self._notify_app_lost(exc)

    def _notify_app_lost(self, exc: Optional[Exception]) -> None:
        if self._app_connected and not self._app_notified:
            self._app_notified = True
            self._app_protocol.connection_lost(exc)

    # -- the application side -------------------------------------------

    def _app_write(self, data: _Buffer) -> None:
        if self._state != _OPEN or self._write_closed:
            if self._state == _HANDSHAKE:
                raise RuntimeError("mutls.aio: write before the TLS handshake finished")
            return  # like asyncio transports: writes after close are dropped
        buf = bytes(data)
        stalls = 0
        while buf:
            try:
                n = self._session.send(buf)
            except WantWrite:  # memory mode: only while records are being moved out
                self._flush()
                stalls += 1
                if stalls > 100:
                    self._fail(ConnectionError("mutls.aio: the session would not take more data"))
                    return
                continue
            except Error as exc:
                self._flush()
                self._fail(exc)
                return
            buf = buf[n:]
        self._flush()

    def _app_write_eof(self) -> None:
        """Send close_notify and half-close TCP; reading goes on."""
        if self._state != _OPEN or self._write_closed:
            return
        self._write_closed = True
        try:
            self._session.close()
        except Error:
            pass
        self._flush()
        if self._raw is not None and self._raw.can_write_eof():
            self._raw.write_eof()

    def _app_close(self) -> None:
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        if not self._write_closed:
            self._write_closed = True
            try:
                self._session.close()
            except Error:
                pass
            self._flush()
        if self._raw is not None:
            self._raw.close()  # the app hears connection_lost(None) from it

    def _abort(self) -> None:
        self._state = _CLOSED
        if self._raw is not None:
            self._raw.abort()


async def open_connection(
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    config: Config,
    server_hostname: Optional[str] = None,
    limit: int = _DEFAULT_LIMIT,
    handshake_timeout: Optional[float] = FROM_CONFIG,
    session_data: Optional[bytes] = None,
    suppress_ragged_eofs: bool = False,
    **kw: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect over TCP, do the mTLS handshake, return ``(reader, writer)``.

    ``server_hostname`` is the name checked against the server's certificate
    (and sent as SNI); it defaults to ``host``. ``session_data`` resumes an
    earlier session (``session.session_data``). ``handshake_timeout``
    (seconds, None for no limit) defaults to ``config.handshake_timeout``; when
    it passes, :class:`mutls.TimeoutError` (code ``timeout``) is raised.
    ``suppress_ragged_eofs=True`` makes a close without close_notify a plain
    EOF (see the module's "End of stream"). Other keyword arguments go to
    :meth:`asyncio.loop.create_connection` (``sock=``, ``local_addr=``, ...).
    Raises the :class:`mutls.Error` of a failed handshake.
    """
    loop = asyncio.get_running_loop()
    if handshake_timeout is FROM_CONFIG:
        handshake_timeout = config.handshake_timeout
    if server_hostname is None:
        server_hostname = host
    if session_data is not None:
        session = config.client(server_hostname=server_hostname, session_data=session_data)
    else:
        session = config.client(server_hostname=server_hostname)
    reader = _TLSStreamReader(limit=limit, loop=loop, suppress_ragged_eofs=suppress_ragged_eofs)
    app_protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    waiter: asyncio.Future[None] = loop.create_future()
    # host and port may be None when kw has sock=; asyncio checks the combination.
    host_arg: Any = host
    port_arg: Any = port
    transport, tls = await loop.create_connection(
        lambda: _TLSProtocol(loop, session, app_protocol, waiter, handshake_timeout), host_arg, port_arg, **kw)
    try:
        await waiter
    except BaseException:
        transport.abort()
        raise
    writer = asyncio.StreamWriter(tls._app_transport, app_protocol, reader, loop)
    return reader, writer


async def start_server(
    client_connected_cb: ClientConnectedCallback,
    host: Union[str, Sequence[str], None] = None,
    port: Optional[int] = None,
    *,
    config: Config,
    limit: int = _DEFAULT_LIMIT,
    handshake_timeout: Optional[float] = FROM_CONFIG,
    suppress_ragged_eofs: bool = False,
    **kw: Any,
) -> asyncio.Server:
    """Serve mTLS on ``host:port``; ``client_connected_cb(reader, writer)``
    runs for each connection whose handshake succeeded.

    One server :class:`mutls.Session` per connection, all from ``config``. A
    connection whose handshake does not finish within ``handshake_timeout``
    seconds (default ``config.handshake_timeout``; None: no limit) is dropped.
    Other keyword arguments go to :meth:`asyncio.loop.create_server`
    (``sock=``, ``backlog=``, ``reuse_address=``, ``start_serving=``, ...).
    """
    loop = asyncio.get_running_loop()
    if handshake_timeout is FROM_CONFIG:
        handshake_timeout = config.handshake_timeout

    def factory() -> _TLSProtocol:
        reader = _TLSStreamReader(limit=limit, loop=loop, suppress_ragged_eofs=suppress_ragged_eofs)
        app_protocol = asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)
        return _TLSProtocol(loop, config.server(), app_protocol, None, handshake_timeout)

    host_arg: Any = host
    port_arg: Any = port
    return await loop.create_server(factory, host_arg, port_arg, **kw)
