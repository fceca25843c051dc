"""asyncio streams and transports over mutls: mutual TLS for ``asyncio`` programs.

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

Transports. :func:`create_connection`, :func:`create_server` and
:func:`start_tls` are :mod:`asyncio`'s functions of the same names with a
``config=`` instead of ``ssl=``: any :class:`asyncio.Protocol` (asyncio's
StreamReaderProtocol, uvicorn's H11Protocol, a database driver) runs over
them unchanged. The transport carries plaintext; it has flow control
(``pause_reading``/``resume_reading``; ``set_write_buffer_limits``,
``get_write_buffer_size`` and the protocol's ``pause_writing``/
``resume_writing``, measured on the TCP transport's buffer of records, since
each write is encrypted at once), ``write_eof`` (sends close_notify and
half-closes TCP: the peer sees EOF and may still answer; reading goes on),
``close`` (close_notify, then the TCP close once the buffer is written),
``abort`` (no close_notify: the peer sees a truncation) and ``is_closing``.
Their ``get_extra_info`` answers as :mod:`ssl`'s transports do:
``"peercert"`` is the dict of :meth:`ssl.SSLSocket.getpeercert` (see
:func:`peercert_dict`), ``"cipher"`` the ``(name, version, bits)`` tuple
(see :func:`cipher_tuple`), ``"ssl_object"`` and ``"sslcontext"`` are None
(there is no :mod:`ssl` object), plus ``"mutls_peer_certificate"`` (the
:class:`mutls.Certificate`), ``"mutls_session"``, ``"mutls_config"`` and the
TCP transport's ``"peername"``, ``"sockname"``, ``"socket"``. (The streams
keep their documented shapes above: ``"peercert"`` is the Certificate.)
End of stream on a transport: close_notify calls ``eof_received``; a close
without it, an alert or a record error calls ``connection_lost(exc)`` with
the :class:`mutls.Error` after every byte that arrived was delivered.

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
import os
from typing import Any, Awaitable, Callable, Iterable, Optional, Sequence, Union, cast

from . import Certificate, Config, ConnectionClosed, Error, Session, WantRead, WantWrite
from . import TimeoutError as _MutlsTimeoutError

__all__ = [
    "open_connection", "start_server", "ClientConnectedCallback",
    "create_connection", "create_server", "start_tls", "peercert_dict", "cipher_tuple",
]

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


# ---- ssl's shapes for get_extra_info -------------------------------------

# RFC 4514 attribute names -> the long names ssl's getpeercert() uses
_ATTR_NAMES = {
    "CN": "commonName", "O": "organizationName", "OU": "organizationalUnitName",
    "C": "countryName", "L": "localityName", "ST": "stateOrProvinceName",
    "STREET": "streetAddress", "DC": "domainComponent", "UID": "userId",
    "EMAIL": "emailAddress", "emailAddress": "emailAddress",
    "serialNumber": "serialNumber", "title": "title", "SN": "surname", "GN": "givenName",
    "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
}


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    out, i = bytearray(), 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            pair = value[i + 1:i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _dn_tuple(dn: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """An RFC 4514 string (most specific RDN first, as GnuTLS prints it) in
    ssl's shape: a tuple of RDNs in certificate order, each a tuple of pairs."""
    if not dn:
        return ()
    rdns = []
    for rdn in _split_unescaped(dn, ","):
        pairs = []
        for ava in _split_unescaped(rdn, "+"):
            name, _, value = ava.partition("=")
            pairs.append((_ATTR_NAMES.get(name.strip(), name.strip()), _unescape(value)))
        rdns.append(tuple(pairs))
    return tuple(reversed(rdns))


def _ssl_time(when: Any) -> str:
    # ssl's "%b %e %H:%M:%S %Y GMT" in the C locale ("Jun  1 00:00:00 2026 GMT")
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return "%s %2d %02d:%02d:%02d %d GMT" % (
        months[when.month - 1], when.day, when.hour, when.minute, when.second, when.year)


def _ip_text(ip: Any) -> str:
    if ip.version == 4:
        return str(ip)
    words = ip.packed
    return ":".join("%X" % (words[i] << 8 | words[i + 1]) for i in range(0, 16, 2))


def peercert_dict(cert: Certificate) -> dict[str, Any]:
    """A :class:`mutls.Certificate` in the shape of :meth:`ssl.SSLSocket.getpeercert`:
    ``subject``/``issuer`` (tuples of RDNs), ``version``, ``serialNumber``,
    ``notBefore``/``notAfter`` and ``subjectAltName`` (DNS, IP Address, URI,
    email: grouped by type in that order, not in the extension's order).
    ssl's ``OCSP``/``caIssuers``/``crlDistributionPoints`` are not given."""
    out: dict[str, Any] = {
        "subject": _dn_tuple(cert.subject),
        "issuer": _dn_tuple(cert.issuer),
        "version": 3,
        "serialNumber": cert.serial.upper(),
        "notBefore": _ssl_time(cert.not_before),
        "notAfter": _ssl_time(cert.not_after),
    }
    san = ([("DNS", n) for n in cert.dns_names] + [("IP Address", _ip_text(ip)) for ip in cert.ip_addresses]
           + [("URI", u) for u in cert.uris] + [("email", e) for e in cert.emails])
    if san:
        out["subjectAltName"] = tuple(san)
    return out


def cipher_tuple(name: str, version: Optional[str]) -> tuple[str, Optional[str], int]:
    """ssl's ``cipher()`` shape ``(name, protocol version, secret bits)``; the
    name is the IANA suite name (TLS 1.3 names are OpenSSL's too; a TLS 1.2
    suite reads ``TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256``, not OpenSSL's
    ``ECDHE-ECDSA-AES128-GCM-SHA256``)."""
    bits = 256 if ("AES_256" in name or "CHACHA20" in name or "CAMELLIA_256" in name) else 128
    return (name, version, bits)


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
        return not self._tls._reading_paused and not self._tls._is_closing()

    def pause_reading(self) -> None:
        self._tls._pause_reading()

    def resume_reading(self) -> None:
        self._tls._resume_reading()

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
        *,
        ssl_info: bool = False,
        call_connection_made: bool = True,
    ) -> None:
        self._loop = loop
        self._session = session
        self._app_protocol = app_protocol
        self._waiter = waiter  # completed when the handshake is (clients, start_tls)
        self._server = session.is_server
        self._ssl_info = ssl_info  # get_extra_info answers in ssl's shapes (transports)
        self._call_connection_made = call_connection_made
        self._reading_paused = False  # the app paused reading: deliver nothing
        self._read_scheduled = False
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
        if name == "mutls_peer_certificate":
            return s.peer_certificate
        if self._ssl_info and name == "peercert":
            cert = s.peer_certificate
            return peercert_dict(cert) if cert is not None else None
        if self._ssl_info and name == "cipher":
            return cipher_tuple(s.cipher, s.version) if s.cipher else None
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
        # not isinstance(asyncio.Transport): uvloop's transports are not subclasses
        self._raw = cast(asyncio.Transport, transport)
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
        if self._reading_paused:
            return True  # the data before the end is delivered on resume_reading
        self._read_step()  # premature close: ConnectionClosed reaches the app
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._cancel_timer()
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)) and self._state != _CLOSED:
            self._feed_what_is_left()
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
        elif (isinstance(exc, OSError) and self._state == _OPEN and not self._peer_closed
              and not self._reading_paused):
            exc = self._closed_error(exc)
        self._state = _CLOSED
        self._notify_app_lost(exc)
        self._raw = None

    def _feed_what_is_left(self) -> None:
        """A write that met a reset stops the transport before it reads what
        the peer sent just before (a server that refused our certificate
        sends its alert, then resets the connection): the kernel still holds
        those bytes, and the socket is open until this returns. Read them
        without blocking and give them to the session, so that the peer's
        alert is what is reported (and data before it is delivered), as
        socket mode does."""
        sock = self._raw.get_extra_info("socket") if self._raw is not None else None
        if sock is None or self._reading_paused:
            return
        for _ in range(16):  # bounded: at most 1 MiB
            try:
                data = os.read(sock.fileno(), 65536)
            except OSError:  # nothing more (EAGAIN), or the reset itself
                return
            if not data or self._state == _CLOSED:
                return
            self.data_received(data)
            if self._reading_paused:  # the app has enough: the rest stays unread
                return

    def _closed_error(self, exc: OSError) -> Exception:
        """A reset after the handshake, in the session's words, as socket mode
        says it: ConnectionClosed "... closed the connection without
        close_notify" (with what that means right after a TLS 1.3 handshake:
        a server that refused our certificate without an alert), the
        OSError as its cause, unless what the peer sent last (_feed_what_is_left)
        says more, such as its alert."""
        try:
            self._session.feed_eof()
            self._session.recv()
        except Error as closed:  # ConnectionClosed, or the peer's alert
            closed.__cause__ = exc
            return closed
        except Exception:  # pragma: no cover - the session failed otherwise
            pass
        return exc

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
        if self._server:
            log.debug("mutls: TLS handshake with %s failed: %s", self._peer(), exc)
        raw = self._raw
        if raw is None or raw.is_closing():
            return
        if self._server and raw.can_write_eof():
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
        if self._call_connection_made:
            self._app_protocol.connection_made(self._app_transport)
        if self._writing_paused:
            self._app_protocol.pause_writing()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if not self._call_connection_made:
            # start_tls: the caller gets the new transport before any data
            self._read_scheduled = True
            self._loop.call_soon(self._scheduled_read)
            return
        self._read_step()  # application data that came with the last flight

    def _on_handshake_timeout(self) -> None:
        self._timer = None
        if self._state != _HANDSHAKE:
            return
        me, peer = ("server", "client") if self._server else ("client", "server")
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

    def _pause_reading(self) -> None:
        self._reading_paused = True
        if self._raw is not None:
            self._raw.pause_reading()

    def _resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        if self._raw is not None and not self._raw.is_closing():
            self._raw.resume_reading()
        if not self._read_scheduled:  # what the session already holds
            self._read_scheduled = True
            self._loop.call_soon(self._scheduled_read)

    def _scheduled_read(self) -> None:
        self._read_scheduled = False
        self._read_step()

    def _read_step(self) -> None:
        while self._state == _OPEN and not self._peer_closed and not self._reading_paused:
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
                keep_open = cast(asyncio.Protocol, self._app_protocol).eof_received()
                if not keep_open:
                    self._app_close()
                return
            cast(asyncio.Protocol, self._app_protocol).data_received(data)
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


# ---- transports ------------------------------------------------------------

def _client_session(config: Config, server_hostname: Optional[str], session_data: Optional[bytes]) -> Session:
    if session_data is not None:
        return config.client(server_hostname=server_hostname, session_data=session_data)
    return config.client(server_hostname=server_hostname)


async def create_connection(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    config: Config,
    server_hostname: Optional[str] = None,
    handshake_timeout: Optional[float] = FROM_CONFIG,
    session_data: Optional[bytes] = None,
    **kw: Any,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """:meth:`asyncio.loop.create_connection` with mutual TLS: connect, do the
    handshake, then call ``protocol.connection_made(transport)`` with a
    transport that carries plaintext. Returns ``(transport, protocol)``.

    ``server_hostname`` defaults to ``host``. Raises the :class:`mutls.Error`
    of a failed handshake (the protocol is never connected). Other keyword
    arguments go to :meth:`asyncio.loop.create_connection`.
    """
    loop = asyncio.get_running_loop()
    if handshake_timeout is FROM_CONFIG:
        handshake_timeout = config.handshake_timeout
    session = _client_session(config, host if server_hostname is None else server_hostname, session_data)
    app_protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    host_arg: Any = host
    port_arg: Any = port
    raw, tls = await loop.create_connection(
        lambda: _TLSProtocol(loop, session, app_protocol, waiter, handshake_timeout, ssl_info=True),
        host_arg, port_arg, **kw)
    try:
        await waiter
    except BaseException:
        raw.abort()
        raise
    return tls._app_transport, app_protocol


async def create_server(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: Union[str, Sequence[str], None] = None,
    port: Optional[int] = None,
    *,
    config: Config,
    handshake_timeout: Optional[float] = FROM_CONFIG,
    **kw: Any,
) -> asyncio.Server:
    """:meth:`asyncio.loop.create_server` with mutual TLS: each accepted
    connection gets a server session from ``config`` and a protocol from
    ``protocol_factory``; ``connection_made`` is called once the handshake
    succeeded. A refused or failed handshake is logged (DEBUG, logger
    ``"mutls.aio"``), the alert is sent and the connection closed; the
    protocol's methods are never called for it."""
    loop = asyncio.get_running_loop()
    if handshake_timeout is FROM_CONFIG:
        handshake_timeout = config.handshake_timeout

    def factory() -> _TLSProtocol:
        return _TLSProtocol(loop, config.server(), protocol_factory(), None, handshake_timeout, ssl_info=True)

    host_arg: Any = host
    port_arg: Any = port
    return await loop.create_server(factory, host_arg, port_arg, **kw)


async def start_tls(
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    config: Config,
    *,
    server_side: bool,
    server_hostname: Optional[str] = None,
    handshake_timeout: Optional[float] = FROM_CONFIG,
    session_data: Optional[bytes] = None,
) -> asyncio.Transport:
    """:meth:`asyncio.loop.start_tls` with mutual TLS: upgrade a connected
    ``transport`` (e.g. after STARTTLS) and return the new TLS transport,
    which ``protocol`` must use from now on. As in asyncio,
    ``protocol.connection_made`` is not called again. Either side raises the
    :class:`mutls.Error` of a failed handshake; the connection is then closed
    (a server sends its alert first)."""
    loop = asyncio.get_running_loop()
    if handshake_timeout is FROM_CONFIG:
        handshake_timeout = config.handshake_timeout
    if not all(hasattr(transport, m) for m in ("set_protocol", "write", "pause_reading")):
        raise TypeError(f"start_tls: expected an asyncio transport, not {type(transport).__name__}")
    raw = cast(asyncio.Transport, transport)
    if server_side:
        session = config.server()
    else:
        session = _client_session(config, server_hostname, session_data)
    waiter: asyncio.Future[None] = loop.create_future()
    tls = _TLSProtocol(loop, session, protocol, waiter, handshake_timeout,
                       ssl_info=True, call_connection_made=False)
    raw.pause_reading()
    raw.set_protocol(tls)
    tls.connection_made(raw)
    raw.resume_reading()
    try:
        await waiter
    except BaseException:
        if not raw.is_closing() and not server_side:
            raw.abort()
        raise
    return tls._app_transport
