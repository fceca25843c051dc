"""Serve an ASGI app (FastAPI, Starlette, ...) over mutual TLS with uvicorn's protocol.

::

    import mutls, mutls.asgi
    cfg = mutls.Config(certificate="orders.pem", private_key="orders.key",
                       trust="ca.pem", peers=["uri:spiffe://example.org/payments"])
    mutls.asgi.serve(app, config=cfg, host="0.0.0.0", port=8443)

or from the shell: ``mutls asgi module:app --cert ... --key ... --ca ... --peers ...``.

uvicorn (the ``asgi`` extra: ``pip install mutls[asgi]``) parses HTTP: its
``http_protocol_class`` (h11 or httptools, as ``uvicorn.Config`` picks it)
runs over :func:`mutls.aio.create_server`'s transports. A client that fails
the handshake (unknown CA, outside ``peers=``, no certificate) never reaches
the app: the protocol is connected only after the handshake succeeded; the
refusal is logged on the ``"mutls.aio"`` logger (DEBUG) with the mutls
sentence.

What the app sees. ``scope["scheme"]`` is ``"https"`` (``"wss"`` for a
websocket) and ``scope["extensions"]`` holds

- ``"tls"``: the ASGI TLS extension (asgi.readthedocs.io, specs/tls):
  ``server_cert`` (PEM of our leaf, the certificate the handshake sent:
  :attr:`mutls.Session.own_certificate`), ``client_cert_chain`` (PEM strings, the client's leaf first),
  ``client_cert_name`` (the leaf's subject, RFC 4514), ``client_cert_error``
  (None when the certificate verified or none was sent, else the mutls
  sentence: a certificate that fails verification is refused in the
  handshake, so an app sees one only with ``peer_certificate="observe"``), ``tls_version`` (0x0303, 0x0304) and ``cipher_suite`` (the
  16-bit IANA code; None for a suite not in :data:`CIPHER_SUITES`);
- ``"mutls"``: ``session`` (the :class:`mutls.Session`), ``verified``,
  ``reasons``, ``message`` (the verification's sentence), ``explanation``
  (:meth:`mutls.Session.explain`), ``spiffe_id`` (the first ``spiffe://``
  URI of the client's certificate), ``uris``, ``dns_names``,
  ``common_name``, ``version`` ("TLSv1.3"), ``cipher`` (the IANA name) and
  ``alpn``.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import re
import weakref
from typing import Any, Awaitable, Callable, MutableMapping, Optional, Union

from . import Config, Session
from . import aio

__all__ = ["serve", "serve_async", "Server", "tls_scope", "CIPHER_SUITES"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# IANA TLS cipher suite names (as mutls reports them) -> their 16-bit codes
# (RFC 8446 B.4, RFC 5289, RFC 7905, RFC 5288, RFC 7251); the suites GnuTLS
# can negotiate with mutls's priorities. tests/python/test_asgi.py checks
# them against `gnutls-cli --list`.
CIPHER_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_AES_128_CCM_SHA256": 0x1304,
    "TLS_AES_128_CCM_8_SHA256": 0x1305,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": 0xC009,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": 0xC00A,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": 0xC023,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": 0xC024,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": 0xC027,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": 0xC028,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM": 0xC0AC,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CCM": 0xC0AD,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
    "TLS_RSA_WITH_AES_128_GCM_SHA256": 0x009C,
    "TLS_RSA_WITH_AES_256_GCM_SHA384": 0x009D,
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": 0x009E,
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": 0x009F,
}

# The session of the connection whose bytes are being handled: set around
# the protocol's callbacks, so the request task uvicorn creates inherits it
# (a task copies the context it was created in).
_current: contextvars.ContextVar[Session] = contextvars.ContextVar("mutls_asgi_session")


def _uvicorn() -> Any:
    try:
        return importlib.import_module("uvicorn")
    except ImportError as exc:
        raise ImportError(
            "mutls.asgi needs uvicorn: install the 'asgi' extra (pip install 'mutls[asgi]')") from exc


def _tls_version(version: Optional[str]) -> Optional[int]:
    m = re.search(r"(\d)\.(\d)", version or "")
    if not m or m.group(1) != "1":
        return None
    return 0x0301 + int(m.group(2))  # TLS 1.0 is 0x0301 ... TLS 1.3 is 0x0304


def tls_scope(session: Session) -> dict[str, Any]:
    """The ``"tls"`` and ``"mutls"`` scope extensions of one server session."""
    own = session.own_certificate
    chain = session.peer_chain
    leaf = chain[0] if chain else session.peer_certificate
    verification = session.verification
    error = None
    if leaf is not None and not verification.ok:
        error = verification.message
    cipher = session.cipher
    uris = list(leaf.uris) if leaf is not None else []
    return {
        "tls": {
            "server_cert": own.pem if own is not None else None,
            "client_cert_chain": [c.pem for c in chain],
            "client_cert_name": leaf.subject if leaf is not None else None,
            "client_cert_error": error,
            "tls_version": _tls_version(session.version),
            "cipher_suite": CIPHER_SUITES.get(cipher or ""),
        },
        "mutls": {
            "session": session,
            "verified": bool(verification.ok and leaf is not None),
            "reasons": list(verification.reasons),
            "message": verification.message,
            "explanation": session.explain(),
            "spiffe_id": next((u for u in uris if u.startswith("spiffe://")), None),
            "uris": uris,
            "dns_names": list(leaf.dns_names) if leaf is not None else [],
            "common_name": leaf.common_name if leaf is not None else None,
            "version": session.version,
            "cipher": cipher,
            "alpn": session.alpn,
        },
    }


def _copy_scope(ext: dict[str, Any]) -> dict[str, Any]:
    """A request's own copy of a connection's extensions (its dicts and
    lists), so that an app changing its scope changes no other request's."""
    return {name: {k: list(v) if isinstance(v, list) else v for k, v in part.items()}
            for name, part in ext.items()}


def _tls_app(app: ASGIApp) -> ASGIApp:
    """Wraps ``app``: https scheme and the TLS extensions in every http and
    websocket scope."""
    # A server session's peer, verification and parameters do not change
    # after its handshake: the extensions are built once per connection
    # (the explanation and the chain's PEM cost about 0.1 ms, per request
    # on a keep-alive connection otherwise), each request gets a copy.
    per_session: weakref.WeakKeyDictionary[Session, dict[str, Any]] = weakref.WeakKeyDictionary()

    async def mutls_tls_app(scope: Scope, receive: Receive, send: Send) -> None:
        session = _current.get(None)
        if session is not None and scope.get("type") in ("http", "websocket"):
            scope = dict(scope)
            scope["scheme"] = "https" if scope["type"] == "http" else "wss"
            extensions = dict(scope.get("extensions") or {})
            built = per_session.get(session)
            if built is None:
                built = per_session[session] = tls_scope(session)
            extensions.update(_copy_scope(built))
            scope["extensions"] = extensions
        await app(scope, receive, send)

    return mutls_tls_app


class _ConnectionProtocol(asyncio.Protocol):
    """Forwards to uvicorn's protocol, with the connection's session in the
    context of every callback (so in the tasks the callbacks create)."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self._inner = inner
        self._session: Optional[Session] = None

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._session is None:
            return fn(*args)
        token = _current.set(self._session)
        try:
            return fn(*args)
        finally:
            _current.reset(token)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._session = transport.get_extra_info("mutls_session")
        self._run(self._inner.connection_made, transport)

    def data_received(self, data: bytes) -> None:
        self._run(self._inner.data_received, data)

    def eof_received(self) -> Optional[bool]:
        return self._run(self._inner.eof_received)  # type: ignore[no-any-return]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._run(self._inner.connection_lost, exc)

    def pause_writing(self) -> None:
        self._run(self._inner.pause_writing)

    def resume_writing(self) -> None:
        self._run(self._inner.resume_writing)


class Server:
    """One ASGI app served over mTLS; ``await start()``, ``port``, ``await stop()``.

    ``uvicorn_options`` go to ``uvicorn.Config`` (``http="h11"``,
    ``lifespan="off"``, ``timeout_keep_alive=``, ``root_path=``, ...);
    ``proxy_headers`` is off by default (the peer is who the handshake
    proved, not what a header says).
    """

    def __init__(self, app: Union[ASGIApp, str], *, config: Config, host: str = "127.0.0.1",
                 port: int = 8443, **uvicorn_options: Any) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config: expected a mutls.Config, not {type(config).__name__}")
        uvicorn = _uvicorn()
        self.config = config
        self.host = host
        self._port = port
        uvicorn_options.setdefault("proxy_headers", False)
        uvicorn_options.setdefault("log_config", None)
        self.uvicorn_config = uvicorn.Config(app, host=host, port=port, **uvicorn_options)
        self._server: Optional[asyncio.AbstractServer] = None
        self._state: Any = None
        self._lifespan: Any = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when ``port=0``), once started."""
        if self._server is None:
            return self._port
        sockets = getattr(self._server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    async def start(self) -> None:
        from uvicorn.server import ServerState

        cfg = self.uvicorn_config
        if not cfg.loaded:
            cfg.load()
        cfg.loaded_app = _tls_app(cfg.loaded_app)
        self._state = ServerState()
        self._lifespan = cfg.lifespan_class(cfg)
        await self._lifespan.startup()
        if self._lifespan.should_exit:
            raise RuntimeError("mutls.asgi: the app's lifespan startup failed")
        loop = asyncio.get_running_loop()
        protocol_class = cfg.http_protocol_class
        state = self._state
        app_state = self._lifespan.state

        def factory() -> asyncio.Protocol:
            return _ConnectionProtocol(protocol_class(config=cfg, server_state=state,
                                                      app_state=app_state, _loop=loop))

        self._server = await aio.create_server(factory, self.host, self._port, config=self.config,
                                               backlog=cfg.backlog)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let running requests finish (up to ``timeout``
        seconds), close the connections, run the lifespan shutdown."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._state.connections or self._state.tasks) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._state.tasks):
            task.cancel()
        await self._lifespan.shutdown()
        self._server = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> "Server":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def serve_async(app: Union[ASGIApp, str], *, config: Config, host: str = "127.0.0.1",
                      port: int = 8443, started: Optional[Callable[[Server], Any]] = None,
                      **options: Any) -> None:
    """Serve until cancelled; ``started(server)`` is called once listening."""
    server = Server(app, config=config, host=host, port=port, **options)
    await server.start()
    try:
        if started is not None:
            started(server)
        await asyncio.Event().wait()
    finally:
        await server.stop()


def serve(app: Union[ASGIApp, str], *, config: Config, host: str = "127.0.0.1", port: int = 8443,
          started: Optional[Callable[[Server], Any]] = None, **options: Any) -> None:
    """Serve ``app`` (an ASGI callable or ``"module:attr"``) until Ctrl-C."""
    try:
        asyncio.run(serve_async(app, config=config, host=host, port=port, started=started, **options))
    except KeyboardInterrupt:
        pass
