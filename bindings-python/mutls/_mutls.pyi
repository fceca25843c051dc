# Type stubs for the CPython extension mutls._mutls (bindings-python/src/*.c).
# The public names are re-exported by mutls/__init__.py.

import builtins
import datetime
import io
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv6Address
from types import TracebackType
from typing import Any, Final, Literal, Union, final, overload

from _typeshed import structseq
from typing_extensions import Self, TypeAlias

_PathLike: TypeAlias = Union[str, os.PathLike[str]]
# PEM text (str or bytes, containing "-----BEGIN") or a path (file; for trust, a directory).
_Source: TypeAlias = Union[str, bytes, os.PathLike[str]]
_TrustItem: TypeAlias = Union[_Source, "Certificate", "TestCA"]
_Trust: TypeAlias = Union[_TrustItem, Sequence[_TrustItem]]
_Crl: TypeAlias = Union[_Source, Sequence[_Source]]
# datetime (aware; naive is UTC) or seconds from now.
_Time: TypeAlias = Union[datetime.datetime, int, float]
_PeerMode: TypeAlias = Literal["require", "request", "none", "observe"]
_Purpose: TypeAlias = Literal["server", "client", "both", "none", "any"]
_VerifyResult: TypeAlias = Union[bool, str, None]

__version__: str
GNUTLS_VERSION: str
CODES: tuple[str, ...]  # every error code name
REASONS: tuple[str, ...]  # every reason name

# ---- errors ---------------------------------------------------------------

class Error(Exception):
    # Set on every error mutls raises (None only on a bare Error() made by hand):
    # "verify-failed", "peer-rejected", "no-certificate", "protocol", "closed",
    # "timeout", "config", "usage", "hook", "want-read", "want-write", "out-of-memory"
    code: str
    # "expired", "not-yet-valid", "unknown-issuer", "name-mismatch", "revoked",
    # "bad-purpose", "insecure-algorithm", "signer-not-ca", "policy", "hook"
    reasons: list[str]
    alert: str | None  # TLS alert name as in the RFCs ("bad_certificate")
    side: str | None  # "local", "peer", or None when nobody refused (config, usage)
    step: str | None  # "handshake", "server-certificate", "client-certificate", "record", "close"
    peer_certificate: Certificate | None
    # code "hook": what the failed hook said (its exception, described), also
    # in the message; the exception itself is __cause__
    hook_message: str | None

class HandshakeError(Error): ...
class CertificateVerifyError(HandshakeError): ...
class PeerRejectedError(HandshakeError): ...
class ProtocolError(HandshakeError): ...
class ConnectionClosed(Error, ConnectionError): ...
class TimeoutError(Error, builtins.TimeoutError): ...
class ConfigError(Error, ValueError): ...
class UsageError(Error, ValueError): ...
class WantRead(Error): ...
class WantWrite(Error): ...

# ---- certificates ----------------------------------------------------------

@final
class Certificate:
    @classmethod
    def from_pem(cls, pem: str | bytes, /) -> Certificate: ...
    @classmethod
    def from_der(cls, der: bytes, /) -> Certificate: ...
    @classmethod
    def load(cls, path: _PathLike, /) -> Certificate: ...
    @property
    def subject(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def not_before(self) -> datetime.datetime: ...
    @property
    def not_after(self) -> datetime.datetime: ...
    @property
    def dns_names(self) -> list[str]: ...
    @property
    def ip_addresses(self) -> list[IPv4Address | IPv6Address]: ...
    @property
    def uris(self) -> list[str]: ...
    @property
    def emails(self) -> list[str]: ...
    @property
    def key_usage(self) -> list[str]: ...  # "digitalSignature", "keyCertSign", ...; [] when absent
    @property
    def extended_key_usage(self) -> list[str]: ...  # "serverAuth", "clientAuth", or a dotted OID; [] when absent
    @property
    def common_name(self) -> str | None: ...
    @property
    def is_ca(self) -> bool: ...
    @property
    def key_type(self) -> str: ...
    @property
    def pem(self) -> str: ...
    @property
    def der(self) -> bytes: ...
    @property
    def label(self) -> str: ...  # short description used in messages ("CN=orders")
    def fingerprint(self, algorithm: str = "sha256") -> str: ...
    def verify(
        self,
        trust: _Trust,
        *,
        hostname: str | None = None,
        purpose: Literal["server", "client", "any"] | None = None,
        crl: _Crl | None = None,
        peers: Sequence[str | Certificate] | None = None,
        intermediates: Iterable[Certificate] | None = (),
        at: _Time | Callable[[], _Time] | None = None,
        profile: Literal["default", "strict"] | None = None,
        max_chain_depth: int | None = None,
    ) -> bool: ...  # True, or raises CertificateVerifyError
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def certificates_from_pem(pem: str | bytes, /) -> list[Certificate]: ...
def certificates_load(path: str | bytes | os.PathLike[str], /) -> list[Certificate]: ...
def trace_event_text(ev: TraceEvent, /) -> str: ...
def trace_event_note(ev: TraceEvent, /) -> str | None: ...

# ---- test PKI ----------------------------------------------------------------

@final
class Identity:
    @property
    def certificate(self) -> Certificate: ...
    @property
    def chain(self) -> list[Certificate]: ...
    @property
    def cert_pem(self) -> str: ...
    @property
    def chain_pem(self) -> str: ...
    @property
    def key_pem(self) -> str: ...
    def encrypted_key_pem(self, password: str | bytes, /) -> str: ...
    def write_to(self, directory: _PathLike, /) -> dict[str, str]: ...  # {"cert", "chain", "key"}: paths
    def configure_cert(self, ctx: ssl.SSLContext) -> None: ...
    def configure_ssl_context(self, ctx: ssl.SSLContext) -> None: ...

@final
class TestCA:
    def __new__(
        cls,
        name: str | None = None,
        *,
        key_type: str = "p256",  # also the test-only weak "rsa512", "rsa1024", "dsa1024", "p192"
        not_before: _Time | None = None,
        not_after: _Time | None = None,
        path_length: int | None = None,  # pathLenConstraint; None: no limit
        permitted_dns: Sequence[str] = (),  # nameConstraints (permitted DNS subtrees)
    ) -> Self: ...
    @classmethod
    def load(cls, certificate: _Source, private_key: _Source, *, password: str | bytes | None = None) -> TestCA: ...
    @property
    def certificate(self) -> Certificate: ...
    @property
    def cert_pem(self) -> str: ...
    @property
    def key_pem(self) -> str: ...
    @property
    def crl_pem(self) -> str: ...
    def issue(
        self,
        *,
        cn: str | None = None,
        dns: Sequence[str] = (),
        ip: Sequence[str | IPv4Address | IPv6Address] = (),
        uri: Sequence[str] = (),
        email: Sequence[str] = (),
        not_before: _Time | None = None,
        not_after: _Time | None = None,
        key_type: str = "p256",
        purpose: Literal["server", "client", "both", "none"] = "both",
        bad_key_usage: bool = False,
    ) -> Identity: ...
    def intermediate(
        self,
        name: str | None = None,
        *,
        key_type: str = "p256",
        not_ca: bool = False,  # deliberately bad: a CA certificate with CA:FALSE
        not_before: _Time | None = None,
        not_after: _Time | None = None,
        path_length: int | None = None,  # pathLenConstraint; None: no limit
        permitted_dns: Sequence[str] = (),  # nameConstraints (permitted DNS subtrees)
    ) -> TestCA: ...
    def revoke(self, what: Identity | Certificate, /) -> None: ...
    def configure_trust(self, ctx: ssl.SSLContext) -> None: ...
    def configure_ssl_context(self, ctx: ssl.SSLContext) -> None: ...

# ---- config and sessions -----------------------------------------------------

@final
class TraceEvent(structseq[Any], tuple[str, bool, bool, str, str, int, int]):
    __match_args__: Final = ("kind", "outgoing", "ok", "name", "detail", "message_type", "length")
    @property
    def kind(self) -> str: ...  # "message", "check", "alert", "info"
    @property
    def outgoing(self) -> bool: ...  # message/alert: sent by this side
    @property
    def ok(self) -> bool: ...  # check: passed
    @property
    def name(self) -> str: ...  # "ClientHello", a check name, an alert name or an info key
    @property
    def detail(self) -> str: ...
    @property
    def message_type(self) -> int: ...  # message: HandshakeType; alert: alert number
    @property
    def length(self) -> int: ...  # message: body length

@final
class Verification:
    @property
    def ok(self) -> bool: ...
    @property
    def reasons(self) -> list[str]: ...
    @property
    def message(self) -> str: ...

@final
class Peer:
    @property
    def chain(self) -> list[Certificate]: ...
    @property
    def leaf(self) -> Certificate | None: ...
    @property
    def ok(self) -> bool: ...
    @property
    def reasons(self) -> list[str]: ...
    @property
    def hostname(self) -> str | None: ...
    @property
    def role(self) -> Literal["server", "client"]: ...  # the role of the peer being checked
    @property
    def session(self) -> Session: ...

@final
class Config:
    def __init__(
        self,
        *,
        certificate: _Source | None = None,
        private_key: _Source | None = None,
        password: str | bytes | Callable[[], str | bytes] | None = None,
        identity: Identity | None = None,
        trust: _Trust | None = None,
        crl: _Crl | None = None,
        peer_certificate: _PeerMode = "require",
        check_hostname: bool = True,
        peers: Sequence[str | Certificate] | None = None,
        verify_hook: Callable[[Peer], _VerifyResult] | None = None,
        versions: Sequence[str] | None = None,
        priority: str | None = None,
        alpn: Sequence[str] | None = None,
        session_tickets: bool = True,
        keylog: _PathLike | Callable[[str], object] | None = None,
        trace: Callable[[TraceEvent], object] | None = None,
        keylog_env: bool = False,
        session_cache: int = 1024,
        send_ca_names: bool = True,
        handshake_timeout: float | None = 30.0,
        verify_time: _Time | Callable[[], _Time] | None = None,
        profile: Literal["default", "strict"] | None = None,
        max_chain_depth: int | None = None,
    ) -> None: ...
    @property
    def handshake_timeout(self) -> float | None: ...
    def client(
        self,
        sock: socket.socket | None = None,
        *,
        server_hostname: str | None = None,
        session_data: bytes | None = None,
    ) -> Session: ...
    def server(self, sock: socket.socket | None = None) -> Session: ...
    def check_peer(self, chain: Certificate | Sequence[Certificate], /) -> Session: ...
    def connect(
        self,
        address: tuple[Any, ...],
        *,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> Session: ...
    # connect and accept are plain Python (mutls/__init__.py); the session owns the socket.
    def accept(self, listening_socket: socket.socket, *, timeout: float | None = None) -> tuple[Session, Any]: ...
    @property
    def peer_certificate(self) -> _PeerMode: ...
    @property
    def has_identity(self) -> bool: ...
    @property
    def verify_hook(self) -> Callable[[Peer], _VerifyResult] | None: ...
    @property
    def trace(self) -> Callable[[TraceEvent], object] | None: ...

@final
class Session:
    def handshake(self) -> None: ...
    def send(self, data: bytes | bytearray | memoryview, /) -> int: ...
    def sendall(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def recv(self, max: int = 16384) -> bytes: ...
    # socket-like (socket mode; a memory-mode session raises UsageError)
    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0) -> int: ...
    def fileno(self) -> int: ...
    def gettimeout(self) -> float | None: ...
    def settimeout(self, timeout: float | None, /) -> None: ...
    def setblocking(self, flag: bool, /) -> None: ...
    def shutdown(self, how: int, /) -> None: ...  # SHUT_WR/SHUT_RDWR send close_notify first
    @overload
    def makefile(self, mode: Literal["rb", "wb", "rwb", "br", "bw"], buffering: int | None = None, *,
                 encoding: None = None, errors: None = None, newline: None = None) -> io.BufferedIOBase: ...
    @overload
    def makefile(self, mode: str = "r", buffering: int | None = None, *, encoding: str | None = None,
                 errors: str | None = None, newline: str | None = None) -> Any: ...
    def close(self) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def feed_eof(self) -> None: ...
    def data_to_send(self) -> bytes: ...
    def pending(self) -> int: ...
    def explain(self) -> str: ...
    def _adopt_socket(self) -> None: ...
    def export_keying_material(self, label: str, length: int, context: bytes | None = None) -> bytes: ...
    def key_fingerprint(self, write: bool) -> str: ...
    @property
    def config(self) -> Config: ...
    @property
    def is_server(self) -> bool: ...
    @property
    def sock(self) -> socket.socket | None: ...
    @property
    def peer_certificate(self) -> Certificate | None: ...
    @property
    def peer_chain(self) -> list[Certificate]: ...
    @property
    def own_certificate(self) -> Certificate | None: ...
    @property
    def verified(self) -> bool: ...
    @property
    def verification(self) -> Verification: ...
    @property
    def version(self) -> str | None: ...
    @property
    def cipher(self) -> str | None: ...
    @property
    def alpn(self) -> str | None: ...
    @property
    def server_name(self) -> str | None: ...
    @property
    def server_hostname(self) -> str | None: ...
    @property
    def resumed(self) -> bool: ...
    @property
    def session_data(self) -> bytes | None: ...
    @property
    def handshake_done(self) -> bool: ...
    @property
    def trace(self) -> list[TraceEvent]: ...
    @property
    def error(self) -> Error | None: ...  # the session's failure (not raised)
    @property
    def freed(self) -> bool: ...  # after its with block
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
