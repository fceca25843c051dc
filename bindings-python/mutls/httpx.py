"""httpx over mutls: mutual TLS for ``httpx.Client`` and ``httpx.AsyncClient``.

::

    import httpx, mutls, mutls.httpx

    cfg = mutls.Config(identity=..., trust=..., peers=["spiffe://example.org/payments"])
    with httpx.Client(transport=mutls.httpx.Transport(cfg)) as client:
        r = client.get("https://payments.internal:8443/charge")
        r.extensions["mutls"].peer_certificate     # the server's Certificate

    async with httpx.AsyncClient(transport=mutls.httpx.AsyncTransport(cfg)) as client:
        r = await client.get("https://payments.internal:8443/charge")

Built on public APIs only: a network backend (``httpcore.NetworkBackend`` /
``AsyncNetworkBackend``) whose ``start_tls`` runs a mutls client session
instead of :mod:`ssl`, under an ``httpcore.ConnectionPool`` (keep-alive
pooling, HTTP/1.1 and HTTP/2), wrapped as an ``httpx.BaseTransport``. The
sync transport runs a socket-mode :class:`mutls.Session`; the async one runs
:mod:`mutls.aio` streams (asyncio only, not trio).

- **Verification** is the Config's: ``trust``, ``peers``, ``check_hostname``,
  the verify hook. httpx's ``verify=`` / ``cert=`` are not used. The name
  checked (and sent as SNI) is the URL's host, or the request extension
  ``sni_hostname``.
- **https:// only**: a request for another scheme raises
  ``httpx.UnsupportedProtocol`` (nothing goes out in clear text).
- **HTTP/2** when the Config offers it by ALPN
  (``mutls.Config(..., alpn=["h2", "http/1.1"])``) and the server chooses
  it; that needs the ``h2`` package (``pip install 'mutls[httpx]'``). Without
  ALPN in the Config, HTTP/1.1. httpcore decides from
  ``network_stream.get_extra_info("ssl_object").selected_alpn_protocol()``;
  here ``"ssl_object"`` is an :class:`ALPNInfo` that answers from the mutls
  session (it is not an ``ssl.SSLObject``).
- **Resumption**: each transport keeps the newest ``session_data`` per
  (host, port, server name) and offers it on the next connection to the same
  place, so a new connection resumes (``session.resumed``) when the server
  agrees; resumed sessions are verified again by mutls.
- **Proxies are not supported**: ``proxy=`` is refused with a
  :class:`mutls.UsageError`; mount the transport only for hosts reached
  directly.
- **Response extensions**: ``response.extensions["mutls"]`` is the
  :class:`mutls.Session` that carried the response (``peer_certificate``,
  ``peer_chain``, ``verification``, ``version``, ``alpn``, ``resumed``,
  ``explain()``); ``response.extensions["network_stream"].get_extra_info(name)``
  answers ``"mutls_session"``, ``"peer_certificate"``, ``"ssl_object"``,
  ``"socket"``, ``"client_addr"``, ``"server_addr"``.
- **Errors**: a refused handshake (we refused the server, or it refused us)
  raises ``httpx.ConnectError`` whose message is the mutls sentence and whose
  ``__cause__`` is the :class:`mutls.Error` (``CertificateVerifyError``,
  ``PeerRejectedError``, ...). In TLS 1.3 a server refuses a client after the
  client's handshake ended; that refusal, read with the first response
  bytes, is reported the same way. A handshake slower than the connect
  timeout raises ``httpx.ConnectTimeout``.
- **End of stream**: a close without close_notify (ragged; many HTTP servers
  close that way) ends the stream like a close_notify, as ``ssl``'s
  ``suppress_ragged_eofs`` does; every byte that arrived is delivered first,
  and httpcore's HTTP framing (Content-Length, chunks) detects a truncated
  body. Closed before anything arrived: ``httpx.ReadError`` from the
  :class:`mutls.ConnectionClosed` (a TLS 1.3 server refusing our certificate
  without an alert, as Python's asyncio ssl does, looks so).
- **Threads**: one sync connection never sends and receives at the same time
  (a lock orders them), so threads sharing one HTTP/2 connection take turns.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import threading
import types
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, AsyncIterator, Optional, Tuple, Type

from . import Config, ConnectionClosed, Error, HandshakeError, Session, UsageError
from ._resumption import Key as _Key, Resumption as _Resumption
from . import TimeoutError as _MutlsTimeoutError
from . import aio as _aio

if TYPE_CHECKING:  # pragma: no cover
    import httpcore
    import httpx

__all__ = ["Transport", "AsyncTransport", "ALPNInfo"]

_EXTRA = "pip install 'mutls[httpx]' (or: pip install httpx h2)"


def _import_httpx() -> Tuple[types.ModuleType, types.ModuleType]:
    try:
        import httpcore
        import httpx
    except ImportError as exc:
        raise ImportError(f"mutls.httpx needs the httpx package: {_EXTRA}") from exc
    return httpx, httpcore


def _h2_installed() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


class ALPNInfo:
    """What ``get_extra_info("ssl_object")`` returns: the few ``ssl.SSLObject``
    questions httpcore asks, answered from the mutls session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def selected_alpn_protocol(self) -> Optional[str]:
        return self.session.alpn

    def version(self) -> Optional[str]:
        return self.session.version

    def getpeercert(self, binary_form: bool = False) -> Any:
        cert = self.session.peer_certificate
        if cert is None:
            return None
        return cert.der if binary_form else cert




def _find_mutls_error(exc: BaseException) -> Optional[Error]:
    seen = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Error):
            return e
        tagged = getattr(e, "mutls_error", None)  # httpcore's pool raises "from None"
        if isinstance(tagged, Error):
            return tagged
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                todo.append(nxt)
    return None


def _tagged(kind: Any, exc: Error) -> Exception:
    """An httpcore exception carrying the mutls error (raise it ``from exc``;
    the attribute survives httpcore's ``raise ... from None``)."""
    out: Exception = kind(str(exc))
    setattr(out, "mutls_error", exc)
    return out


def _tls_failure(httpcore: types.ModuleType, exc: Error, *, reading: bool) -> Exception:
    """The httpcore exception for a mutls failure (raised ``from exc``)."""
    if isinstance(exc, _MutlsTimeoutError):
        return _tagged(httpcore.ReadTimeout if reading else httpcore.WriteTimeout, exc)
    if isinstance(exc, HandshakeError):
        return _tagged(httpcore.ConnectError, exc)
    return _tagged(httpcore.ReadError if reading else httpcore.WriteError, exc)


def _connect_failure(httpcore: types.ModuleType, exc: BaseException) -> Exception:
    """The httpcore exception for a failed handshake (raised ``from exc``)."""
    if isinstance(exc, _MutlsTimeoutError):
        return _tagged(httpcore.ConnectTimeout, exc)
    if isinstance(exc, Error):
        return _tagged(httpcore.ConnectError, exc)
    out: Exception = httpcore.ConnectError(str(exc))
    return out


def _io_failure(httpcore: types.ModuleType, exc: BaseException, *, reading: bool) -> Exception:
    """The httpcore exception for a failed read or write, sync or async
    (raised ``from exc``): a mutls error, a socket or asyncio timeout, an
    OSError."""
    if isinstance(exc, Error):
        return _tls_failure(httpcore, exc, reading=reading)
    if isinstance(exc, (socket.timeout, asyncio.TimeoutError)):
        kind = httpcore.ReadTimeout if reading else httpcore.WriteTimeout
        out: Exception = kind(str(exc) or ("read timed out" if reading else "write timed out"))
    else:
        out = (httpcore.ReadError if reading else httpcore.WriteError)(str(exc))
    return out


def _https_only(httpcore: types.ModuleType) -> Exception:
    out: Exception = httpcore.UnsupportedProtocol("mutls.httpx carries https:// only")
    return out


def _session_info(session: Optional[Session], info: str) -> Any:
    """get_extra_info's TLS answers, the same for both streams."""
    if session is None:
        return None
    if info == "ssl_object":
        return ALPNInfo(session)
    if info == "mutls_session":
        return session
    if info == "peer_certificate":
        return session.peer_certificate
    return None


def _check_config(config: Any, name: str) -> None:
    if not isinstance(config, Config):
        raise TypeError(f"mutls.httpx.{name} needs a mutls.Config, not {type(config).__name__}")


def _check_h2(httpcore: types.ModuleType, session: Session) -> None:
    if session.alpn == "h2" and not _h2_installed():
        raise httpcore.ConnectError(
            f"the server chose HTTP/2 (ALPN h2) but the h2 package is not installed: {_EXTRA}")


def _configure(sock: socket.socket, socket_options: Optional[Iterable[Any]]) -> None:
    for option in socket_options or ():
        sock.setsockopt(*option)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # pragma: no cover - not TCP
        pass


# -- sync -----------------------------------------------------------------------

def _make_sync_backend(httpcore: types.ModuleType, config: Config, cache: _Resumption) -> Any:

    class _SyncStream(httpcore.NetworkStream):  # type: ignore[misc, name-defined]
        def __init__(self, sock: socket.socket, host: str, port: int) -> None:
            self._sock = sock
            self._host = host
            self._port = port
            self._session: Optional[Session] = None
            self._key: Optional[_Key] = None
            self._remembered = False
            self._got_data = False
            self._lock = threading.Lock()  # one send or recv at a time

        def start_tls(self, ssl_context: Any, server_hostname: Optional[str] = None,
                      timeout: Optional[float] = None) -> Any:
            name = server_hostname or self._host
            self._key = (self._host, self._port, name)
            data = cache.get(self._key)
            try:
                self._sock.settimeout(timeout)
                if data is not None:
                    session = config.client(self._sock, server_hostname=name, session_data=data)
                else:
                    session = config.client(self._sock, server_hostname=name)
                self._session = session
                session.handshake()
            except (Error, OSError) as exc:
                self._sock.close()
                raise _connect_failure(httpcore, exc) from exc
            try:
                _check_h2(httpcore, session)
            except BaseException:
                self._sock.close()
                raise
            self._remembered = cache.remember(self._key, session)
            return self

        def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
            session = self._session
            if session is None:
                raise _https_only(httpcore)
            with self._lock:
                try:
                    self._sock.settimeout(timeout)
                    data = session.recv(max_bytes)
                except ConnectionClosed as exc:
                    if not self._got_data:  # nothing came: no response to end, say why
                        raise _io_failure(httpcore, exc, reading=True) from exc
                    data = b""  # ragged close: EOF, after every byte that arrived
                except (Error, OSError) as exc:
                    raise _io_failure(httpcore, exc, reading=True) from exc
            self._got_data = self._got_data or bool(data)
            if not self._remembered and self._key is not None:
                self._remembered = cache.remember(self._key, session)
            return data

        def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
            session = self._session
            if session is None:
                raise _https_only(httpcore)
            if not buffer:
                return
            with self._lock:
                try:
                    self._sock.settimeout(timeout)
                    session.sendall(buffer)
                except (Error, OSError) as exc:
                    raise _io_failure(httpcore, exc, reading=False) from exc

        def close(self) -> None:
            session = self._session
            if session is not None:
                if self._key is not None:
                    cache.remember(self._key, session)
                try:
                    self._sock.settimeout(0.5)
                    session.close()
                except (Error, OSError):
                    pass
            self._sock.close()

        def get_extra_info(self, info: str) -> Any:
            session = self._session
            if info == "is_readable":
                if session is not None and session.pending():
                    return True
                try:
                    readable, _, _ = select.select([self._sock], [], [], 0)
                except (OSError, ValueError):
                    return True
                return bool(readable)
            if info == "socket":
                return self._sock
            if info == "client_addr":
                return self._sock.getsockname()
            if info == "server_addr":
                return self._sock.getpeername()
            return _session_info(session, info)

    class _SyncBackend(httpcore.NetworkBackend):  # type: ignore[misc, name-defined]
        def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                        local_address: Optional[str] = None,
                        socket_options: Optional[Iterable[Any]] = None) -> Any:
            source = None if local_address is None else (local_address, 0)
            try:
                sock = socket.create_connection((host, port), timeout, source_address=source)
            except socket.timeout as exc:
                raise httpcore.ConnectTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            try:
                _configure(sock, socket_options)
            except OSError as exc:
                sock.close()
                raise httpcore.ConnectError(str(exc)) from exc
            return _SyncStream(sock, host, port)

        def connect_unix_socket(self, path: str, timeout: Optional[float] = None,
                                socket_options: Optional[Iterable[Any]] = None) -> Any:
            raise httpcore.UnsupportedProtocol("mutls.httpx does not connect to Unix sockets")

    return _SyncBackend()


# -- async ----------------------------------------------------------------------

def _make_async_backend(httpcore: types.ModuleType, config: Config, cache: _Resumption) -> Any:

    class _AsyncStream(httpcore.AsyncNetworkStream):  # type: ignore[misc, name-defined]
        def __init__(self, sock: socket.socket, host: str, port: int) -> None:
            self._sock: Optional[socket.socket] = sock
            self._host = host
            self._port = port
            self._reader: Optional[asyncio.StreamReader] = None
            self._writer: Optional[asyncio.StreamWriter] = None
            self._session: Optional[Session] = None
            self._key: Optional[_Key] = None
            self._remembered = False
            self._got_data = False

        async def start_tls(self, ssl_context: Any, server_hostname: Optional[str] = None,
                            timeout: Optional[float] = None) -> Any:
            name = server_hostname or self._host
            self._key = (self._host, self._port, name)
            sock, self._sock = self._sock, None
            try:
                self._reader, self._writer = await _aio.open_connection(
                    config=config, server_hostname=name, sock=sock,
                    session_data=cache.get(self._key),
                    handshake_timeout=timeout if timeout is not None else _aio.FROM_CONFIG)
            except (Error, OSError) as exc:
                raise _connect_failure(httpcore, exc) from exc
            finally:
                if self._writer is None and sock is not None:
                    sock.close()
            session = self._writer.get_extra_info("mutls_session")
            self._session = session
            try:
                _check_h2(httpcore, session)
            except BaseException:
                self._writer.transport.abort()
                raise
            self._remembered = cache.remember(self._key, session)
            return self

        async def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
            if self._reader is None or self._session is None:
                raise _https_only(httpcore)
            try:
                data = await asyncio.wait_for(self._reader.read(max_bytes), timeout)
            except ConnectionClosed as exc:
                if not self._got_data:  # nothing came: no response to end, say why
                    raise _io_failure(httpcore, exc, reading=True) from exc
                data = b""  # ragged close: EOF, after every byte that arrived
            except (Error, OSError, asyncio.TimeoutError) as exc:
                raise _io_failure(httpcore, exc, reading=True) from exc
            self._got_data = self._got_data or bool(data)
            if not self._remembered and self._key is not None:
                self._remembered = cache.remember(self._key, self._session)
            return data

        async def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
            if self._writer is None:
                raise _https_only(httpcore)
            if not buffer:
                return
            try:
                self._writer.write(buffer)
                await asyncio.wait_for(self._writer.drain(), timeout)
            except (Error, OSError, asyncio.TimeoutError) as exc:
                raise _io_failure(httpcore, exc, reading=False) from exc

        async def aclose(self) -> None:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            writer = self._writer
            if writer is None:
                return
            if self._session is not None and self._key is not None:
                cache.remember(self._key, self._session)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (asyncio.TimeoutError, Error, OSError):
                pass

        def get_extra_info(self, info: str) -> Any:
            writer = self._writer
            if writer is None:
                return self._sock if info == "socket" else None
            if info == "is_readable":
                reader = self._reader
                return (writer.transport.is_closing() or reader is None or reader.at_eof()
                        or reader.exception() is not None)
            if info == "client_addr":
                return writer.get_extra_info("sockname")
            if info == "server_addr":
                return writer.get_extra_info("peername")
            if info == "socket":
                return writer.get_extra_info("socket")
            return _session_info(self._session, info)

    class _AsyncBackend(httpcore.AsyncNetworkBackend):  # type: ignore[misc, name-defined]
        async def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                              local_address: Optional[str] = None,
                              socket_options: Optional[Iterable[Any]] = None) -> Any:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError("mutls.httpx.AsyncTransport runs on asyncio (not trio)") from None
            try:
                return await asyncio.wait_for(
                    self._connect(loop, host, port, local_address, socket_options), timeout)
            except asyncio.TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc

        async def _connect(self, loop: asyncio.AbstractEventLoop, host: str, port: int,
                           local_address: Optional[str],
                           socket_options: Optional[Iterable[Any]]) -> Any:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            last: Optional[OSError] = None
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                try:
                    sock.setblocking(False)
                    _configure(sock, socket_options)
                    if local_address is not None:
                        sock.bind((local_address, 0))
                    await loop.sock_connect(sock, address)
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                return _AsyncStream(sock, host, port)
            raise last or OSError(f"no address for {host}")

        async def connect_unix_socket(self, path: str, timeout: Optional[float] = None,
                                      socket_options: Optional[Iterable[Any]] = None) -> Any:
            raise httpcore.UnsupportedProtocol("mutls.httpx does not connect to Unix sockets")

        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(seconds)

    return _AsyncBackend()


# -- transports -----------------------------------------------------------------

def _exception_map(httpx: types.ModuleType, httpcore: types.ModuleType) -> list[Tuple[type, type]]:
    # most specific first
    return [
        (httpcore.ConnectTimeout, httpx.ConnectTimeout),
        (httpcore.ReadTimeout, httpx.ReadTimeout),
        (httpcore.WriteTimeout, httpx.WriteTimeout),
        (httpcore.PoolTimeout, httpx.PoolTimeout),
        (httpcore.TimeoutException, httpx.TimeoutException),
        (httpcore.ConnectError, httpx.ConnectError),
        (httpcore.ReadError, httpx.ReadError),
        (httpcore.WriteError, httpx.WriteError),
        (httpcore.NetworkError, httpx.NetworkError),
        (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
        (httpcore.LocalProtocolError, httpx.LocalProtocolError),
        (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
        (httpcore.ProtocolError, httpx.ProtocolError),
    ]


class _Mapper:
    """httpcore exceptions to httpx ones, as httpx.HTTPTransport maps them,
    except that a mutls failure becomes the ``__cause__`` and its sentence
    the message."""

    def __init__(self, httpx: types.ModuleType, httpcore: types.ModuleType) -> None:
        self._map = _exception_map(httpx, httpcore)

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[types.TracebackType]) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        for source, target in self._map:
            if isinstance(exc, source):
                cause = _find_mutls_error(exc)
                if cause is not None:
                    raise target(str(cause)) from cause
                raise target(str(exc)) from exc


def _pool_options(httpx: types.ModuleType, kw: Dict[str, Any]) -> Dict[str, Any]:
    if kw.pop("proxy", None) is not None or kw.pop("proxies", None) is not None:
        raise UsageError("mutls.httpx does not support proxies: connect to the server directly")
    limits = kw.pop("limits", None) or httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                                    keepalive_expiry=5.0)
    http2 = kw.pop("http2", None)
    if http2 is None:
        http2 = _h2_installed()
    elif http2 and not _h2_installed():
        raise ImportError(f"HTTP/2 needs the h2 package: {_EXTRA}")
    options = dict(
        http1=kw.pop("http1", True),
        http2=bool(http2),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        retries=kw.pop("retries", 0),
        local_address=kw.pop("local_address", None),
        socket_options=kw.pop("socket_options", None),
    )
    if kw:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kw))}")
    return options


def _unused_ssl_context() -> ssl.SSLContext:
    # httpcore hands an SSLContext to start_tls (and would otherwise build one
    # with the certifi bundle per connection); mutls does not use it.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _core_request(httpcore: types.ModuleType, request: Any) -> Any:
    if request.url.scheme != "https":
        raise httpcore.UnsupportedProtocol(
            f"mutls.httpx carries https:// only, not {request.url.scheme}:// (nothing is sent in clear text)")
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                         port=request.url.port, target=request.url.raw_path),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


def _extensions(resp: Any) -> Dict[str, Any]:
    extensions = dict(resp.extensions)
    stream = extensions.get("network_stream")
    if stream is not None:
        extensions["mutls"] = stream.get_extra_info("mutls_session")
    return extensions


def Transport(config: Config, **kw: Any) -> "httpx.BaseTransport":
    """An ``httpx.BaseTransport`` that speaks mTLS with ``config``.

    Keyword arguments: ``http2`` (None: HTTP/2 when the ``h2`` package is
    installed and the Config's ALPN offers ``"h2"``), ``http1``, ``limits``
    (``httpx.Limits``), ``retries``, ``local_address``, ``socket_options``.
    ``proxy`` raises :class:`mutls.UsageError` (proxies are not supported).
    """
    httpx, httpcore = _import_httpx()
    return _transport_class(httpx, httpcore)(config, **kw)  # type: ignore[no-any-return]


def AsyncTransport(config: Config, **kw: Any) -> "httpx.AsyncBaseTransport":
    """An ``httpx.AsyncBaseTransport`` (asyncio) that speaks mTLS with
    ``config``; same keyword arguments as :func:`Transport`."""
    httpx, httpcore = _import_httpx()
    return _async_transport_class(httpx, httpcore)(config, **kw)  # type: ignore[no-any-return]


_classes: Dict[str, Any] = {}


def _transport_class(httpx: types.ModuleType, httpcore: types.ModuleType) -> Any:
    if "sync" in _classes:
        return _classes["sync"]

    class _ResponseStream(httpx.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        def __iter__(self) -> Iterator[bytes]:
            with _Mapper(httpx, httpcore):
                for part in self._stream:
                    yield part

        def close(self) -> None:
            with _Mapper(httpx, httpcore):
                self._stream.close()

    class MutlsTransport(httpx.BaseTransport):  # type: ignore[misc, name-defined]
        """httpx transport over mutls (sync); see :mod:`mutls.httpx`."""

        def __init__(self, config: Config, **kw: Any) -> None:
            _check_config(config, "Transport")
            self.config = config
            self._resumption = _Resumption()
            self._pool = httpcore.ConnectionPool(
                ssl_context=_unused_ssl_context(), network_backend=_make_sync_backend(httpcore, config, self._resumption),
                **_pool_options(httpx, kw))

        def handle_request(self, request: Any) -> Any:
            with _Mapper(httpx, httpcore):
                resp = self._pool.handle_request(_core_request(httpcore, request))
            return httpx.Response(status_code=resp.status, headers=resp.headers,
                                  stream=_ResponseStream(resp.stream), extensions=_extensions(resp))

        def close(self) -> None:
            self._pool.close()

    _classes["sync"] = MutlsTransport
    return MutlsTransport


def _async_transport_class(httpx: types.ModuleType, httpcore: types.ModuleType) -> Any:
    if "async" in _classes:
        return _classes["async"]

    class _AsyncResponseStream(httpx.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            with _Mapper(httpx, httpcore):
                async for part in self._stream:
                    yield part

        async def aclose(self) -> None:
            with _Mapper(httpx, httpcore):
                await self._stream.aclose()

    class MutlsAsyncTransport(httpx.AsyncBaseTransport):  # type: ignore[misc, name-defined]
        """httpx transport over mutls.aio (asyncio); see :mod:`mutls.httpx`."""

        def __init__(self, config: Config, **kw: Any) -> None:
            _check_config(config, "AsyncTransport")
            self.config = config
            self._resumption = _Resumption()
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=_unused_ssl_context(), network_backend=_make_async_backend(httpcore, config, self._resumption),
                **_pool_options(httpx, kw))

        async def handle_async_request(self, request: Any) -> Any:
            with _Mapper(httpx, httpcore):
                resp = await self._pool.handle_async_request(_core_request(httpcore, request))
            return httpx.Response(status_code=resp.status, headers=resp.headers,
                                  stream=_AsyncResponseStream(resp.stream), extensions=_extensions(resp))

        async def aclose(self) -> None:
            await self._pool.aclose()

    _classes["async"] = MutlsAsyncTransport
    return MutlsAsyncTransport
