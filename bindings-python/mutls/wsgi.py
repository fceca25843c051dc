"""Threaded mTLS servers for ``http.server`` handlers and ``wsgiref`` apps.

::

    import http.server, mutls, mutls.wsgi
    server = mutls.wsgi.MTLSServer(("127.0.0.1", 8443), MyHandler, config=cfg)
    server.serve_forever()

    httpd = mutls.wsgi.make_server("127.0.0.1", 8443, wsgi_app, config=cfg)
    httpd.serve_forever()

:class:`MTLSServer` is a :class:`socketserver.ThreadingTCPServer`: each
accepted connection gets a thread, which runs the mutls handshake (bounded by
the Config's ``handshake_timeout``) and then the handler. The handler's
``self.request`` / ``self.connection`` is the :class:`mutls.Session`, which
behaves as a socket (``makefile``, ``sendall``, ``recv_into``,
``settimeout``, ``shutdown``), so :class:`http.server.BaseHTTPRequestHandler`
subclasses run unchanged and learn the peer from
``self.connection.peer_certificate`` / ``.verification``. A client that fails
the handshake never reaches the handler: the alert that explains it is sent,
the refusal is logged on the ``"mutls.wsgi"`` logger (INFO) with the mutls
sentence, and :meth:`MTLSServer.handshake_failed` is called (override it to
count or report).

:class:`WSGIServer` with :class:`WSGIRequestHandler` (or
:func:`make_server`) serves a WSGI app with ``wsgiref``. The environ has
``wsgi.url_scheme`` ``"https"``, ``HTTPS`` ``"on"``, and the client's
certificate under the names Apache's mod_ssl uses: ``SSL_CLIENT_VERIFY``
(``"SUCCESS"``; ``"NONE"`` when no certificate was sent; else
``"FAILED:"`` and the reasons), ``SSL_CLIENT_S_DN`` and ``SSL_CLIENT_I_DN``
(RFC 4514), ``SSL_CLIENT_S_DN_CN``, ``SSL_CLIENT_CERT`` (PEM),
``SSL_CLIENT_CERT_CHAIN_n`` (PEM, the certificates after the leaf),
``SSL_CLIENT_M_SERIAL``, ``SSL_PROTOCOL`` (``"TLSv1.3"``), ``SSL_CIPHER``
(the IANA suite name), ``SSL_SERVER_S_DN`` is not given (the Config does not
hand its certificate back); plus ``mutls.session`` (the
:class:`mutls.Session`), ``mutls.spiffe_id`` (the first ``spiffe://`` URI),
``mutls.dns_names`` and ``mutls.explanation``.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import wsgiref.simple_server
from typing import Any, Callable, Optional

from . import Config, Error, Session
from ._linger import linger

__all__ = ["MTLSServer", "WSGIServer", "WSGIRequestHandler", "make_server", "ssl_environ"]

log = logging.getLogger("mutls.wsgi")


class MTLSServer(socketserver.ThreadingTCPServer):
    """A :class:`socketserver.ThreadingTCPServer` that speaks mutual TLS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, server_address: Any, RequestHandlerClass: Callable[..., Any],
                 bind_and_activate: bool = True, *, config: Config) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config: expected a mutls.Config, not {type(config).__name__}")
        self.config = config
        super().__init__(server_address, RequestHandlerClass, bind_and_activate)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        sock.settimeout(self.config.handshake_timeout)
        session = self.config.server(sock)
        try:
            session.handshake()
        except Error as exc:
            self._refuse(sock, client_address, exc)
            return
        session.settimeout(None)
        handler: Any = self.RequestHandlerClass
        try:
            handler(session, client_address, self)
            session.close()  # close_notify; shutdown_request then closes the socket
        except (Error, OSError) as exc:  # the client went away
            log.debug("mutls: connection with %s ended: %s", client_address, exc)

    def _refuse(self, sock: socket.socket, client_address: Any, exc: Error) -> None:
        log.info("mutls: TLS handshake with %s failed: %s", client_address, exc)
        try:
            self.handshake_failed(exc, client_address)
        finally:
            linger(sock)

    def handshake_failed(self, error: Error, client_address: Any) -> None:
        """Called in the connection's thread for each refused or failed handshake."""

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def _failed(session: Session) -> str:
    return "FAILED:" + ",".join(session.verification.reasons or ["unknown"])


def ssl_environ(session: Session) -> dict[str, Any]:
    """The mod_ssl-style and ``mutls.*`` environ entries of one server session."""
    env: dict[str, Any] = {"HTTPS": "on", "wsgi.url_scheme": "https", "mutls.session": session,
                           "SSL_PROTOCOL": session.version or "", "SSL_CIPHER": session.cipher or ""}
    chain = session.peer_chain
    leaf = chain[0] if chain else session.peer_certificate
    if leaf is None:
        env["SSL_CLIENT_VERIFY"] = "NONE"
        env.update({"mutls.spiffe_id": None, "mutls.dns_names": []})
    else:
        env["SSL_CLIENT_VERIFY"] = "SUCCESS" if session.verification.ok else _failed(session)
        env["SSL_CLIENT_S_DN"] = leaf.subject
        env["SSL_CLIENT_I_DN"] = leaf.issuer
        if leaf.common_name is not None:
            env["SSL_CLIENT_S_DN_CN"] = leaf.common_name
        env["SSL_CLIENT_CERT"] = leaf.pem
        env["SSL_CLIENT_M_SERIAL"] = leaf.serial.upper()
        for i, cert in enumerate(chain[1:]):
            env[f"SSL_CLIENT_CERT_CHAIN_{i}"] = cert.pem
        env["mutls.spiffe_id"] = next((u for u in leaf.uris if u.startswith("spiffe://")), None)
        env["mutls.dns_names"] = list(leaf.dns_names)
    env["mutls.explanation"] = session.explain()
    return env


class WSGIServer(MTLSServer, wsgiref.simple_server.WSGIServer):
    """:class:`wsgiref.simple_server.WSGIServer` over mutual TLS, one thread
    per connection."""


class WSGIRequestHandler(wsgiref.simple_server.WSGIRequestHandler):
    """wsgiref's handler; the environ says https and who the client is."""

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        if isinstance(self.connection, Session):
            env.update(ssl_environ(self.connection))
        return env

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s - %s", self.address_string(), format % args)


def make_server(host: str, port: int, app: Callable[..., Any], *, config: Config,
                server_class: type[WSGIServer] = WSGIServer,
                handler_class: type[WSGIRequestHandler] = WSGIRequestHandler) -> WSGIServer:
    """:func:`wsgiref.simple_server.make_server` over mutual TLS."""
    server = server_class((host, port), handler_class, config=config)
    server.set_app(app)
    return server
