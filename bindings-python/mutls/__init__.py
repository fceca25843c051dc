"""mutls: mutual TLS over GnuTLS.

Both sides prove who they are with certificates, both sides check the other,
and the program can see and steer every step::

    import mutls

    ca = mutls.TestCA()
    server_cfg = mutls.Config(identity=ca.issue(dns=["localhost"], purpose="server"), trust=ca)
    client_cfg = mutls.Config(identity=ca.issue(cn="payments", purpose="client"), trust=ca)

    session = client_cfg.connect(("localhost", 8443))   # TCP connect + handshake
    print(session.peer_certificate, session.version, session.explain())

The objects (Config, Session, Certificate, TestCA, Identity) and the error
classes live in the C extension ``mutls._mutls``; this module re-exports them
and adds the few helpers that are plain Python: :meth:`Config.connect`,
:meth:`Config.accept`, :func:`load_certificates` and the ``ssl`` helpers of
TestCA and Identity (trustme style).
"""

from __future__ import annotations

# Private names only: `from mutls import *` and dir(mutls) show the API
# (__all__), not the helpers' imports.
import os as _os
import socket as _socket
import tempfile as _tempfile
import time as _time
from typing import Any as _Any
from typing import List as _List
from typing import Tuple as _Tuple
from typing import Union as _Union

from . import _mutls
from ._mutls import (
    CODES,
    GNUTLS_VERSION,
    REASONS,
    Certificate,
    CertificateVerifyError,
    Config,
    ConfigError,
    ConnectionClosed,
    Error,
    HandshakeError,
    Identity,
    Peer,
    PeerRejectedError,
    ProtocolError,
    Session,
    TestCA,
    TimeoutError,
    TraceEvent,
    UsageError,
    Verification,
    WantRead,
    WantWrite,
    trace_event_note,
    trace_event_text,
)

__version__: str = _mutls.__version__

__all__ = [
    "CODES",
    "GNUTLS_VERSION",
    "REASONS",
    "Certificate",
    "CertificateVerifyError",
    "Config",
    "ConfigError",
    "ConnectionClosed",
    "Error",
    "HandshakeError",
    "Identity",
    "Peer",
    "PeerRejectedError",
    "ProtocolError",
    "Session",
    "TestCA",
    "TimeoutError",
    "TraceEvent",
    "UsageError",
    "Verification",
    "WantRead",
    "WantWrite",
    "__version__",
    "load_certificates",
    "trace_event_note",
    "trace_event_text",
]

_Source = _Union[str, bytes, "_os.PathLike[str]"]


def load_certificates(source: _Source) -> _List[Certificate]:
    """Every certificate of PEM text (str or bytes), or of a PEM or DER file.

    Raises ConfigError when there is none or the file cannot be read.
    """
    if isinstance(source, (bytes, bytearray)) and b"-----BEGIN" in source:
        return _mutls.certificates_from_pem(bytes(source))
    if isinstance(source, str) and "-----BEGIN" in source:
        return _mutls.certificates_from_pem(source)
    if not isinstance(source, (str, bytes, _os.PathLike)):
        raise TypeError(
            "load_certificates: expected PEM text or a path, not %s" % type(source).__name__
        )
    # the core reads the file: its errors never repeat a value that is not a path
    return _mutls.certificates_load(source)


# ---- Config: socket conveniences ------------------------------------------


def _connect(
    self: Config,
    address: _Tuple[_Any, ...],
    *,
    server_hostname: _Union[str, None] = None,
    timeout: _Union[float, None] = None,
) -> Session:
    """Open a TCP connection to ``address`` and run the client handshake.

    ``server_hostname`` (the name checked and sent as SNI) defaults to the host
    of ``address``. ``timeout`` (seconds) becomes the socket's timeout, for the
    connect, the handshake and later calls; None means blocking. The whole
    handshake ends within the Config's ``handshake_timeout`` (30 s by default)
    in any case: :class:`mutls.TimeoutError` then. The session
    owns the socket: ``close()`` and its ``with`` block close it too. On a
    failed handshake the socket is closed and the error raised.
    """
    if server_hostname is None:
        server_hostname = str(address[0])
    if timeout is None:
        sock = _socket.create_connection(address)
    else:
        sock = _socket.create_connection(address, timeout)
    try:
        session = self.client(sock, server_hostname=server_hostname)
        session._adopt_socket()
    except BaseException:
        sock.close()
        raise
    return _handshake_owned(session)


def _accept(
    self: Config,
    listening_socket: _socket.socket,
    *,
    timeout: _Union[float, None] = None,
) -> _Tuple[Session, _Any]:
    """Accept one connection on ``listening_socket`` and run the server handshake.

    Returns ``(session, address)``. The connection's timeout is ``timeout``, or
    else the listening socket's own timeout (a non-blocking listening socket
    gives a blocking connection); the whole handshake ends within the
    Config's ``handshake_timeout`` (30 s by default) in any case. The
    session owns the connection socket:
    ``close()`` and its ``with`` block close it. On a failed handshake the
    connection is closed (after the alert that explains the refusal was sent)
    and the error raised.
    """
    conn, address = listening_socket.accept()
    try:
        t = timeout if timeout is not None else listening_socket.gettimeout()
        conn.settimeout(t if t else None)
        session = self.server(conn)
        session._adopt_socket()
    except BaseException:
        conn.close()
        raise
    return _handshake_owned(session), address


_LINGER = 1.0  # seconds to wait for the peer's close after we refused it


def _handshake_owned(session: Session) -> Session:
    """Runs the handshake of a session that owns its socket; on failure the
    socket is closed (after the alert that explains a refusal) and the error
    raised."""
    try:
        session.handshake()
    except BaseException as exc:
        _close_after_failure(session, exc)
        raise
    return session


def _close_after_failure(session: Session, exc: BaseException) -> None:
    """Closes the socket of a session whose handshake failed.

    When we refused the peer, the alert that says why is on its way; closing
    a TCP socket that still has unread input sends a reset, which can make
    the peer lose that alert. So: half-close (FIN after the alert), read
    until the peer closes (bounded), then close."""
    sock = session.sock
    if (
        isinstance(exc, Error)
        and exc.side == "local"
        and exc.alert is not None
        and sock is not None
        and sock.fileno() >= 0
    ):
        try:
            sock.shutdown(_socket.SHUT_WR)
            deadline = _time.monotonic() + _LINGER
            while True:
                left = deadline - _time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                if not sock.recv(65536):
                    break
        except OSError:
            pass
    try:
        session.close()  # sends nothing more after a failure; closes the socket
    except Error:
        pass


# The classes are the extension's own (heap types, kept mutable for this):
# these plain-Python methods are attached to them, so that every Config,
# TestCA and Identity, however made, has them. setattr keeps type checkers,
# which read the methods from _mutls.pyi, quiet.
setattr(Config, "connect", _connect)
setattr(Config, "accept", _accept)


# ---- ssl helpers (trustme style) --------------------------------------------


def _configure_trust(self: TestCA, ctx: _Any) -> None:
    """Make an ``ssl.SSLContext`` trust this CA (``load_verify_locations``)."""
    ctx.load_verify_locations(cadata=self.cert_pem)


def _configure_cert(self: Identity, ctx: _Any) -> None:
    """Make an ``ssl.SSLContext`` present this identity (``load_cert_chain``).

    The chain and the key go through temporary files, removed afterwards.
    """
    with _tempfile.TemporaryDirectory(prefix="mutls-") as tmp:
        chain = _os.path.join(tmp, "chain.pem")
        key = _os.path.join(tmp, "key.pem")
        with open(_os.open(chain, _os.O_WRONLY | _os.O_CREAT, 0o600), "w") as f:
            f.write(self.chain_pem)
        with open(_os.open(key, _os.O_WRONLY | _os.O_CREAT, 0o600), "w") as f:
            f.write(self.key_pem)
        ctx.load_cert_chain(chain, key)


setattr(TestCA, "configure_trust", _configure_trust)
setattr(TestCA, "configure_ssl_context", _configure_trust)
setattr(Identity, "configure_cert", _configure_cert)
setattr(Identity, "configure_ssl_context", _configure_cert)

for _f in (_connect, _accept, _configure_trust, _configure_cert):
    _f.__module__ = __name__
_connect.__name__, _connect.__qualname__ = "connect", "Config.connect"
_accept.__name__, _accept.__qualname__ = "accept", "Config.accept"
_configure_trust.__name__, _configure_trust.__qualname__ = "configure_trust", "TestCA.configure_trust"
_configure_cert.__name__, _configure_cert.__qualname__ = "configure_cert", "Identity.configure_cert"
del _f

# The __future__ import binds a name too; the module's users need not see it.
del annotations
