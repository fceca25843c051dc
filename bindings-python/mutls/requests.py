"""requests over mutls: mutual TLS for ``requests.Session``.

::

    import requests, mutls, mutls.requests

    cfg = mutls.Config(identity=..., trust=..., peers=["uri:spiffe://example.org/payments"])
    with requests.Session() as http:
        http.mount("https://", mutls.requests.Adapter(cfg))
        r = http.post("https://payments.internal:8443/charge", json={...})
        r.mutls.peer_certificate          # the server's Certificate

Built on urllib3 2.x's and requests' public extension points: an
``HTTPAdapter`` subclass whose ``PoolManager`` makes ``HTTPSConnectionPool``
subclasses whose ``ConnectionCls`` is an ``HTTPSConnection`` subclass;
its ``connect()`` runs a socket-mode mutls client session over the TCP
socket instead of :mod:`ssl`. urllib3's pools keep connections alive.

- **Verification** is the Config's (``trust``, ``peers``, the verify hook,
  ``check_hostname``); requests' ``verify=`` and ``cert=`` are not used. The
  name checked and sent as SNI is the URL's host.
- **https:// only**: mount the adapter on ``"https://"``; an ``http://`` URL
  sent through it raises ``requests.exceptions.InvalidURL``.
- **Resumption**: the adapter keeps the newest ``session_data`` per (host,
  port, server name) and offers it on the next connection there.
- **Proxies are not supported**: a request that would go through a proxy
  (``proxies=`` or ``HTTPS_PROXY`` from the environment) raises
  ``requests.exceptions.InvalidProxyURL`` saying so (set ``NO_PROXY`` or
  ``session.trust_env = False``).
- **The session**: ``response.mutls`` is the :class:`mutls.Session` that
  carried the response (``peer_certificate``, ``verification``, ``resumed``,
  ``version``, ``explain()``); ``response.raw.mutls_session`` too.
- **Errors**: a refused handshake (either side) raises
  ``requests.exceptions.SSLError`` whose message is the mutls sentence and
  whose ``__cause__`` is the :class:`mutls.Error`; other mutls failures on
  the connection raise ``requests.exceptions.ConnectionError`` the same way.
  In TLS 1.3 a server refuses a client after the client's handshake; that
  refusal arrives with the response and is reported the same way.
- **End of stream**: a close without close_notify ends the stream like a
  close_notify (as ``ssl``'s ``suppress_ragged_eofs``), after every byte that
  arrived; http.client's framing (Content-Length, chunks) detects a
  truncated body. Closed before anything arrived: ``ConnectionError`` from
  the :class:`mutls.ConnectionClosed` (see :mod:`mutls.httpx`).
- **HTTP/1.1 only** (urllib3's HTTPS connections); keep the Config's ALPN
  empty or ``["http/1.1"]``.
"""

from __future__ import annotations

import io
import socket
import ssl
from typing import Any, Optional

from . import Config, ConnectionClosed, Error, HandshakeError, Session
from ._resumption import Resumption as _Resumption
from . import TimeoutError as _MutlsTimeoutError

try:
    import requests
    import requests.adapters
    import requests.exceptions
    import urllib3
    import urllib3.connection
    import urllib3.connectionpool
    import urllib3.exceptions
    import urllib3.poolmanager
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mutls.requests needs requests and urllib3 2.x: "
        "pip install 'mutls[requests]' (or: pip install requests 'urllib3>=2')") from _exc

_URLLIB3_VERSION = str(getattr(urllib3, "__version__", "0"))
if int(_URLLIB3_VERSION.split(".")[0]) < 2:  # pragma: no cover
    raise ImportError(f"mutls.requests needs urllib3 2.x (found {_URLLIB3_VERSION}): "
                      "pip install 'mutls[requests]'")

__all__ = ["Adapter", "SessionSocket"]



def _as_socket_error(exc: Error) -> OSError:
    """The OSError http.client and urllib3 understand for a mutls failure,
    carrying it (``mutls_error``); raise it ``from exc``."""
    out: OSError
    if isinstance(exc, _MutlsTimeoutError):
        out = socket.timeout(str(exc))
    elif isinstance(exc, ConnectionClosed):
        out = ConnectionResetError(str(exc))
    else:
        out = ssl.SSLError(str(exc))  # what urllib3 expects of a TLS failure
    setattr(out, "mutls_error", exc)
    return out


class _Reader(io.RawIOBase):
    """``makefile("rb")``'s raw file: reads plaintext from the session."""

    def __init__(self, sock: "SessionSocket") -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._sock.recv(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._sock._release_file()


class SessionSocket:
    """What http.client and urllib3 need of a socket, over a socket-mode
    :class:`mutls.Session`: ``makefile("rb")``, ``sendall``, ``recv``,
    ``settimeout``/``gettimeout``, ``fileno``, ``shutdown``, ``close``
    (deferred while a file from ``makefile`` is open, as :mod:`socket`
    does), ``getpeername``/``getsockname``. ``session`` is the Session."""

    def __init__(self, session: Session, sock: socket.socket, on_read: Any = None) -> None:
        self.session = session
        self._sock = sock
        self._on_read = on_read
        self._got_data = False
        self._io_refs = 0
        self._closed = False

    def makefile(self, mode: str = "r", buffering: Optional[int] = None, **kw: Any) -> Any:
        if set(mode) - {"r", "b"}:
            raise ValueError(f"mutls.requests: makefile mode {mode!r} is not supported (only 'rb')")
        self._io_refs += 1
        raw = _Reader(self)
        return io.BufferedReader(raw, buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def recv(self, n: int) -> bytes:
        try:
            data = self.session.recv(n)
        except ConnectionClosed as exc:
            if not self._got_data:  # nothing came: no response to end, say why
                raise _as_socket_error(exc) from exc
            data = b""  # ragged close: EOF, after every byte that arrived
        except Error as exc:
            raise _as_socket_error(exc) from exc
        self._got_data = self._got_data or bool(data)
        if self._on_read is not None:
            self._on_read()
        return data

    def sendall(self, data: Any) -> None:
        try:
            self.session.sendall(data)
        except Error as exc:
            raise _as_socket_error(exc) from exc

    def settimeout(self, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)

    def gettimeout(self) -> Optional[float]:
        return self._sock.gettimeout()

    def fileno(self) -> int:
        return self._sock.fileno()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def _release_file(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._really_close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._io_refs <= 0:
            self._really_close()

    def _really_close(self) -> None:
        if self._on_read is not None:
            self._on_read()
        try:
            if self._sock.fileno() >= 0:
                self._sock.settimeout(0.5)
                self.session.close()  # close_notify
        except (Error, OSError):
            pass
        self._sock.close()


class _MutlsHTTPSConnection(urllib3.connection.HTTPSConnection):
    """An HTTPSConnection whose TLS is mutls; the adapter subclasses it with
    its Config and resumption cache."""

    mutls_config: Config
    mutls_resumption: _Resumption

    def connect(self) -> None:
        if self._tunnel_host is not None or self.proxy is not None:
            raise urllib3.exceptions.ProxyError("mutls.requests does not support proxies",
                                                ValueError("proxy"))
        sock = self._new_conn()
        name = (self.server_hostname or self.host).rstrip(".")
        key = (self.host, int(self.port or 443), name)
        cache = self.mutls_resumption
        data = cache.get(key)
        try:
            if data is not None:
                session = self.mutls_config.client(sock, server_hostname=name, session_data=data)
            else:
                session = self.mutls_config.client(sock, server_hostname=name)
            session.handshake()
        except _MutlsTimeoutError as exc:
            sock.close()
            timeout = urllib3.exceptions.ConnectTimeoutError(self, str(exc))
            setattr(timeout, "mutls_error", exc)
            raise timeout from exc
        except Error as exc:
            sock.close()
            raise _as_socket_error(exc) from exc
        state = {"stored": cache.remember(key, session)}

        def on_read() -> None:  # TLS 1.3 tickets come after the handshake
            if not state["stored"]:
                state["stored"] = cache.remember(key, session)

        self.sock = SessionSocket(session, sock, on_read)  # type: ignore[assignment, unused-ignore]
        self.is_verified = session.verified

    def getresponse(self) -> Any:  # type: ignore[override, unused-ignore]
        sock = self.sock
        session = getattr(sock, "session", None)
        response = super().getresponse()
        setattr(response, "mutls_session", session)
        return response


def _find_mutls_error(exc: BaseException) -> Optional[Error]:
    seen = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Error):
            return e
        todo.extend((getattr(e, "mutls_error", None), e.__cause__, e.__context__,
                     getattr(e, "reason", None), *e.args))
    return None


class Adapter(requests.adapters.HTTPAdapter):
    """A requests transport adapter speaking mTLS with a :class:`mutls.Config`:
    ``session.mount("https://", Adapter(cfg))``. Other keyword arguments are
    HTTPAdapter's (``pool_connections``, ``pool_maxsize``, ``max_retries``,
    ``pool_block``)."""

    def __init__(self, config: Config, **kw: Any) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"mutls.requests.Adapter needs a mutls.Config, not {type(config).__name__}")
        self.mutls_config = config  # (HTTPAdapter has its own .config)
        self._resumption = _Resumption()
        connection_class = type("MutlsHTTPSConnection", (_MutlsHTTPSConnection,),
                                {"mutls_config": config, "mutls_resumption": self._resumption})
        self._pool_class = type("MutlsHTTPSConnectionPool", (urllib3.connectionpool.HTTPSConnectionPool,),
                                {"ConnectionCls": connection_class})
        super().__init__(**kw)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        # https only: an http:// pool would send clear text
        self.poolmanager.pool_classes_by_scheme = {"https": self._pool_class}

    def __setstate__(self, state: Any) -> None:  # pragma: no cover - pickling is not supported
        raise TypeError("mutls.requests.Adapter cannot be unpickled")

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """The Config verifies; requests' ``verify=`` / ``cert=`` are not used."""

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                        cert: Any = None) -> Any:
        if not str(request.url).lower().startswith("https://"):
            raise requests.exceptions.InvalidURL(
                f"mutls.requests.Adapter carries https:// only, not {request.url}", request=request)
        if requests.utils.select_proxy(request.url, proxies):
            raise requests.exceptions.InvalidProxyURL(
                "mutls.requests.Adapter does not support proxies (set NO_PROXY for this host, "
                "or session.trust_env = False)", request=request)
        return super().get_connection_with_tls_context(request, verify, proxies=None, cert=None)

    def send(self, request: Any, *args: Any, **kw: Any) -> Any:
        """HTTPAdapter.send, with a mutls failure as the ``__cause__`` of the
        exception and its sentence as the message."""
        try:
            return super().send(request, *args, **kw)
        except requests.exceptions.RequestException as exc:
            cause = _find_mutls_error(exc)
            if cause is None:
                raise
            kind: Any = (requests.exceptions.SSLError if isinstance(cause, HandshakeError)
                    else requests.exceptions.ConnectionError)
            if isinstance(cause, _MutlsTimeoutError):
                kind = requests.exceptions.ConnectTimeout if isinstance(
                    exc, requests.exceptions.ConnectTimeout) else requests.exceptions.ReadTimeout
            raise kind(str(cause), request=request) from cause

    def close(self) -> None:
        """Closes the idle connections now (close_notify), then as
        HTTPAdapter.close. (urllib3 2.x's PoolManager.clear() leaves the
        pools' connections to the garbage collector.)"""
        pools = self.poolmanager.pools
        for key in list(pools.keys()):
            pool = pools.get(key)
            if pool is not None:
                pool.close()
        super().close()

    def build_response(self, req: Any, resp: Any) -> Any:
        response = super().build_response(req, resp)
        setattr(response, "mutls", getattr(resp, "mutls_session", None))
        return response
