"""Bad input from Python (issue 5.3), mirroring tests/c/test_badinput.c and
tests/c/test_config.c: every case ends in its docs/design.md code with a message,
never a crash or a hang.

- records in memory mode, to both roles: random bytes (the same xorshift32
  stream, seed and sizes as the C test), real handshake flights with random
  bit flips, truncated flights with and without EOF, oversized records and
  inputs, reordered records, an alert instead of the next flight;
- a peer that closes mid-handshake: feed_eof() in memory mode, and a real
  loopback socket closed (or reset) by the peer;
- a chain of 100 intermediates under the root (101 certificates);
- files and PEM/DER text: missing, unreadable, malformed, truncated, random
  mutations, a key that does not match its certificate, wrong or missing
  passwords: code `config`, the file or field named.

Every loop is bounded; every socket has a timeout; random input comes from
seeded generators so a failure reproduces.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

import pytest

import mutls

HOST = "orders.internal"
Outcome = Union[str, mutls.Error]  # "ok", "want-read", or the error


# ---------------------------------------------------------------------------
# The world: the C tests' PKI (root, server "orders", client "payments")


class World:
    def __init__(self, versions: Optional[List[str]] = None) -> None:
        self.ca = mutls.TestCA("mutls test root")
        self.server_id = self.ca.issue(cn="orders", dns=[HOST, "localhost"], ip=["127.0.0.1", "::1"],
                                       purpose="server")
        self.client_id = self.ca.issue(cn="payments", uri=["spiffe://example.org/payments"], purpose="client")
        kw: Dict[str, Any] = {"versions": versions} if versions else {}
        self.ccfg = mutls.Config(identity=self.client_id, trust=self.ca, **kw)
        self.scfg = mutls.Config(identity=self.server_id, trust=self.ca, **kw)

    def session(self, server: bool) -> mutls.Session:
        return self.scfg.server() if server else self.ccfg.client(server_hostname=HOST)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def worlds() -> Dict[str, World]:
    return {"1.2": World(["1.2"]), "1.3": World(["1.3"])}


def step(s: mutls.Session) -> Outcome:
    try:
        s.handshake()
        return "ok"
    except mutls.WantRead:
        return "want-read"
    except mutls.Error as exc:
        return exc


def describe(o: Outcome) -> str:
    if isinstance(o, str):
        return o
    return f"{type(o).__name__}({o.code}, reasons={list(o.reasons)}, alert={o.alert}, side={o.side}): {o}"


def check_failure(s: mutls.Session, o: Outcome) -> mutls.Error:
    """A failed handshake: a mutls.Error with a message, recorded on the
    session, sticky (the next call fails the same way)."""
    assert isinstance(o, mutls.Error), describe(o)
    assert o.code in mutls.CODES, o.code
    assert set(o.reasons) <= set(mutls.REASONS), o.reasons
    assert len(str(o)) > 10, describe(o)
    assert s.error is not None and s.error.code == o.code
    again = step(s)
    assert isinstance(again, mutls.Error) and again.code == o.code, describe(again)
    return o


def records(data: bytes) -> List[bytes]:
    """Splits a byte stream into whole TLS records."""
    out = []
    pos = 0
    while pos + 5 <= len(data):
        n = 5 + (data[pos + 3] << 8 | data[pos + 4])
        out.append(data[pos:pos + n])
        pos += n
    assert pos == len(data), "a flight ends on a record boundary"
    return out


def flights(w: World) -> Tuple[bytes, bytes, bytes]:
    """The three first flights of a real handshake: the ClientHello, the
    server's answer, the client's second flight."""
    c, s = w.session(False), w.session(True)
    assert step(c) == "want-read"
    hello = c.data_to_send()
    s.feed(hello)
    assert step(s) == "want-read"
    server_flight = s.data_to_send()
    c.feed(server_flight)
    assert step(c) in ("want-read", "ok")
    return hello, server_flight, c.data_to_send()


def client_waiting_for_server(w: World) -> Tuple[mutls.Session, bytes]:
    """A client that sent its ClientHello; returns it and the ClientHello."""
    c = w.session(False)
    assert step(c) == "want-read"
    return c, c.data_to_send()


def client_and_server_flight(w: World) -> Tuple[mutls.Session, bytes]:
    """A client that sent its ClientHello, and a real server's answer to it
    (not yet fed)."""
    c, hello = client_waiting_for_server(w)
    s = w.session(True)
    s.feed(hello)
    assert step(s) == "want-read"
    return c, s.data_to_send()


def server_waiting_for_client(w: World) -> Tuple[mutls.Session, bytes]:
    """A server that answered a real ClientHello; returns it and the real
    client's second flight (not yet fed)."""
    c, s = w.session(False), w.session(True)
    step(c)
    s.feed(c.data_to_send())
    assert step(s) == "want-read"
    c.feed(s.data_to_send())
    step(c)
    return s, c.data_to_send()


# ---------------------------------------------------------------------------
# Random bytes: the C test's xorshift32 stream, seed, sizes and roles.


class XorShift32:
    def __init__(self, seed: int) -> None:
        self.x = seed

    def __call__(self) -> int:
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x


def feed_role(w: World, server: bool, data: bytes, eof: bool) -> Outcome:
    s = w.session(server)
    assert step(s) == "want-read"
    s.data_to_send()
    s.feed(data)
    if eof:
        s.feed_eof()
    o = step(s)
    if o != "want-read":
        check_failure(s, o)
    return o


def test_random_bytes_to_both_roles(world: World) -> None:
    rnd = XorShift32(0x12345678)
    seen: Dict[str, int] = {}
    for i in range(300):
        n = 1 + rnd() % 2048
        buf = bytearray(rnd() & 0xFF for _ in range(n))
        if i % 2:  # half of them look like a handshake record header
            buf[0] = 22
            buf[1] = 3
            buf[2] = rnd() % 4
        for server in (False, True):
            o = feed_role(world, server, bytes(buf), i % 3 == 0)
            key = o if isinstance(o, str) else o.code
            assert key in ("protocol", "closed", "want-read"), f"input {i} ({n} bytes): {describe(o)}"
            if isinstance(o, mutls.Error):
                assert o.side in ("local", "peer") and o.step == "handshake", describe(o)
                if o.code == "closed":
                    assert i % 3 == 0, "closed only after the end of the input"
            seen[key] = seen.get(key, 0) + 1
    assert seen.get("protocol", 0) > 100, seen


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_bit_flips_in_real_flights(worlds: Dict[str, World], version: str) -> None:
    """One flipped bit in the server's first flight (fed to the client) or in
    the client's second flight (fed to the server): refused as protocol or
    verify-failed (a flipped certificate), or still waiting (a flipped length)
    and then closed at EOF."""
    w = worlds[version]
    rng = random.Random(5300 + int(version[-1]))
    seen: Dict[str, int] = {}
    for i in range(120):
        to_server = i % 2 == 1
        if to_server:
            s, flight = server_waiting_for_client(w)
        else:
            s, flight = client_and_server_flight(w)
        data = bytearray(flight)
        k = rng.randrange(len(data))
        data[k] ^= 1 << rng.randrange(8)
        s.feed(bytes(data))
        o = step(s)
        if o == "ok":
            # measured (every bit of every byte, both versions): only a record
            # header's type/version bytes (ignored: RFC 8446 5.1, 5.2) or
            # the TLS 1.2 ChangeCipherSpec value pass unnoticed
            assert k in unchecked_bytes(flight), f"flip {i} at byte {k} was accepted"
            continue
        if o == "want-read":
            s.feed_eof()
            o = step(s)
            assert isinstance(o, mutls.ConnectionClosed) and o.code == "closed", describe(o)
        check_failure(s, o)
        assert isinstance(o, mutls.Error)
        assert o.code in ("protocol", "verify-failed", "closed"), f"flip {i} at byte {k}: {describe(o)}"
        if o.code == "verify-failed":
            assert isinstance(o, mutls.CertificateVerifyError) and o.reasons, describe(o)
        seen[o.code] = seen.get(o.code, 0) + 1
    assert seen.get("protocol", 0) > 40, seen


def unchecked_bytes(flight: bytes) -> Set[int]:
    """Positions whose change GnuTLS does not notice: each record header's
    type and version bytes (TLS 1.3: the outer type of an encrypted record
    and the legacy version are ignored) and a ChangeCipherSpec's value."""
    out: Set[int] = set()
    pos = 0
    for r in records(flight):
        out.update((pos, pos + 1, pos + 2))
        if r[0] == 20:
            out.add(pos + 5)
        pos += len(r)
    return out


@pytest.mark.parametrize("how", ["retyped", "dropped"])
def test_tls12_certificate_verify_replaced_is_not_no_certificate(worlds: Dict[str, World], how: str) -> None:
    """TLS 1.2: the client's Certificate arrives (the server has it:
    peer_certificate is CN=payments), but its CertificateVerify is replaced
    by another handshake type or left out. The client did present a
    certificate; it did not prove it holds the key. That is a protocol
    failure, not `no-certificate` with the message "client presented no
    certificate" (found by the bit-flip sweep: all 8 flips of that byte)."""
    s, flight = server_waiting_for_client(worlds["1.2"])
    recs = records(flight)
    assert [r[5] for r in recs if r[0] == 22][:3] == [11, 16, 15]  # Certificate, ClientKeyExchange, CertificateVerify
    if how == "retyped":
        cv = bytearray(recs[2])
        cv[5] = 20  # Finished
        recs[2] = bytes(cv)
    else:
        del recs[2]
    s.feed(b"".join(recs))
    o = step(s)
    assert isinstance(o, mutls.Error), describe(o)
    assert s.peer_certificate is not None and s.peer_certificate.common_name == "payments"
    assert "presented no certificate" not in str(o), describe(o)
    assert o.code == "protocol" and o.side == "local", describe(o)


# ---------------------------------------------------------------------------
# Truncated input


def test_truncated_client_hello_then_eof_is_closed(world: World) -> None:
    _, hello = client_waiting_for_server(world)
    for cut in range(1, len(hello), 13):
        o = feed_role(world, True, hello[:cut], True)
        assert isinstance(o, mutls.ConnectionClosed), describe(o)
        assert o.code == "closed" and o.side == "peer" and o.step == "handshake" and o.alert is None
        assert str(o) == "client closed the connection during the handshake"
    # without EOF the server just waits for the rest
    assert feed_role(world, True, hello[:len(hello) // 2], False) == "want-read"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_truncated_server_flight_then_eof_is_closed(worlds: Dict[str, World], version: str) -> None:
    w = worlds[version]
    for cut in range(1, 1 << 16, 97):
        c, flight = client_and_server_flight(w)  # TLS 1.3: this client's keys
        if cut >= len(flight):  # (signatures vary in length by a byte or two)
            break
        c.feed(flight[:cut])
        assert step(c) == "want-read", f"cut at {cut}"
        c.feed_eof()
        o = step(c)
        check_failure(c, o)
        assert isinstance(o, mutls.ConnectionClosed) and o.side == "peer", describe(o)
        assert str(o) == "server closed the connection during the handshake"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_truncated_client_flight_then_eof_is_closed(worlds: Dict[str, World], version: str) -> None:
    w = worlds[version]
    for cut in range(1, 1 << 16, 89):
        s, flight = server_waiting_for_client(w)
        if cut >= len(flight):  # (signatures vary in length by a byte or two)
            break
        s.feed(flight[:cut])
        o = step(s)
        if o == "want-read":
            s.feed_eof()
            o = step(s)
        check_failure(s, o)
        assert isinstance(o, mutls.ConnectionClosed), f"cut at {cut}: {describe(o)}"
        assert str(o) == "client closed the connection during the handshake"


# ---------------------------------------------------------------------------
# Oversized


def test_oversized_record_is_protocol_error(world: World) -> None:
    for length in (20000, 0xFFFF):
        rec = bytes([22, 3, 3]) + struct.pack(">H", length) + bytes(length)
        for server in (True, False):
            o = feed_role(world, server, rec, False)
            assert isinstance(o, mutls.ProtocolError) and o.code == "protocol", describe(o)
            assert o.alert == "record_overflow" and o.side == "local", describe(o)
            assert "invalid length" in str(o), str(o)


def test_one_mebibyte_of_random_input_in_one_feed(world: World) -> None:
    data = random.Random(53).randbytes(1 << 20)
    for server in (True, False):
        start = time.monotonic()
        o = feed_role(world, server, data, False)
        assert isinstance(o, mutls.ProtocolError), describe(o)
        assert time.monotonic() - start < 2.0


def test_handshake_message_claiming_16_mib_is_refused(world: World) -> None:
    """A ClientHello whose header claims 16 MiB - 1, sent in 16 KiB records:
    refused once the handshake input passes 256 KiB (GnuTLS alone buffers
    the whole message, 1025 records); bounded here at 1100 records."""
    s = world.session(True)
    assert step(s) == "want-read"
    header = bytes([1]) + (16 * 1024 * 1024 - 1).to_bytes(3, "big")
    o: Outcome = "want-read"
    sent = 0
    for i in range(1100):
        body = header + bytes(16380) if i == 0 else bytes(16384)
        s.feed(bytes([22, 3, 3]) + struct.pack(">H", len(body)) + body)
        sent += 1
        o = step(s)
        if o != "want-read":
            break
    check_failure(s, o)
    assert isinstance(o, mutls.ProtocolError) and o.alert == "decode_error", describe(o)
    assert "handshake data too large" in str(o), str(o)
    assert sent <= 17, sent


def test_many_empty_records(world: World) -> None:
    empty = bytes([22, 3, 3, 0, 0]) * 100_000
    for server in (True, False):
        o = feed_role(world, server, empty, True)
        assert isinstance(o, mutls.ProtocolError), describe(o)


# ---------------------------------------------------------------------------
# Reordered records


def swap_first_two(flight: bytes, first: int = 0) -> bytes:
    recs = records(flight)
    assert len(recs) >= first + 2, len(recs)
    recs[first], recs[first + 1] = recs[first + 1], recs[first]
    return b"".join(recs)


def test_reordered_client_flight_is_refused_tls12(worlds: Dict[str, World]) -> None:
    """As the C test: the client's second flight (Certificate,
    ClientKeyExchange, CertificateVerify, ChangeCipherSpec, Finished) with
    its first two records swapped."""
    s, flight = server_waiting_for_client(worlds["1.2"])
    assert len(records(flight)) >= 3
    s.feed(swap_first_two(flight))
    o = step(s)
    check_failure(s, o)
    assert isinstance(o, mutls.ProtocolError) and o.alert == "unexpected_message", describe(o)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_reordered_records_every_adjacent_pair(worlds: Dict[str, World], version: str) -> None:
    """Every adjacent pair of records swapped, in the server's first flight
    (to the client) and the client's second flight (to the server): always
    protocol (TLS 1.3: encrypted records out of order fail to decrypt)."""
    w = worlds[version]
    _, server_flight, client_flight = flights(w)
    for to_server, flight in ((False, server_flight), (True, client_flight)):
        n = len(records(flight))
        for i in range(n - 1):
            if to_server:
                s, real = server_waiting_for_client(w)
            else:
                s, real = client_and_server_flight(w)
            if 20 in (records(real)[i][0], records(real)[i + 1][0]) and version == "1.3":
                continue  # TLS 1.3: the compatibility ChangeCipherSpec may come anywhere
            s.feed(swap_first_two(real, i))
            o = step(s)
            where = f"{'client' if to_server else 'server'} flight, records {i} and {i + 1}"
            assert isinstance(o, mutls.Error), f"{where}: {describe(o)}"
            check_failure(s, o)
            assert o.code == "protocol", f"{where}: {describe(o)}"
            if version == "1.3" and records(real)[i][0] == records(real)[i + 1][0] == 23:
                assert o.alert == "bad_record_mac", f"{where}: {describe(o)}"


def test_reflected_client_hello_is_refused(world: World) -> None:
    """A client fed its own ClientHello (a mirror in the middle)."""
    c, hello = client_waiting_for_server(world)
    c.feed(hello)
    o = step(c)
    check_failure(c, o)
    assert isinstance(o, mutls.ProtocolError) and o.side == "local", describe(o)


# ---------------------------------------------------------------------------
# A peer that ends the handshake early


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_feed_eof_mid_handshake_both_roles(worlds: Dict[str, World], version: str) -> None:
    w = worlds[version]
    c, _ = client_waiting_for_server(w)
    c.feed_eof()
    o = step(c)
    check_failure(c, o)
    assert isinstance(o, mutls.ConnectionClosed) and o.side == "peer" and o.step == "handshake"
    assert str(o) == "server closed the connection during the handshake"
    s, _ = server_waiting_for_client(w)
    s.feed_eof()
    o = step(s)
    check_failure(s, o)
    assert isinstance(o, mutls.ConnectionClosed) and o.side == "peer" and o.step == "handshake"
    assert str(o) == "client closed the connection during the handshake"
    # feeding after EOF is a usage error, not a crash
    with pytest.raises(mutls.Error):
        s.feed(b"\x16\x03\x03\x00\x01\x00")


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_fatal_alert_instead_of_the_next_flight(worlds: Dict[str, World], version: str) -> None:
    """A plaintext fatal alert (handshake_failure) where the server's answer
    should be: the peer refused."""
    c, _ = client_waiting_for_server(worlds[version])
    c.feed(bytes([21, 3, 3, 0, 2, 2, 40]))
    o = step(c)
    check_failure(c, o)
    assert isinstance(o, mutls.PeerRejectedError) and o.side == "peer", describe(o)
    assert o.alert == "handshake_failure", describe(o)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_close_notify_during_the_handshake_is_closed(worlds: Dict[str, World], version: str) -> None:
    """A peer that sends close_notify (a plaintext warning alert, legitimate
    before any key is agreed) instead of its next flight closed the
    connection during the handshake: docs/design.md's code `closed` ("orderly or
    premature close"), side peer, like feed_eof() — not `protocol`."""
    close_notify = bytes([21, 3, 3, 0, 2, 1, 0])
    c, _ = client_waiting_for_server(worlds[version])
    c.feed(close_notify)
    o = step(c)
    assert isinstance(o, mutls.Error), describe(o)
    assert (o.code, o.side, o.step) == ("closed", "peer", "handshake"), describe(o)
    assert "server closed the connection during the handshake" in str(o), describe(o)
    if version == "1.2":  # the client's second flight is plaintext too
        s, _ = server_waiting_for_client(worlds[version])
        s.feed(close_notify)
        o = step(s)
        assert isinstance(o, mutls.Error), describe(o)
        assert (o.code, o.side, o.step) == ("closed", "peer", "handshake"), describe(o)
        assert "client closed the connection during the handshake" in str(o), describe(o)


# ---- over a real loopback socket


IO_TIMEOUT = 10.0


class RawPeer:
    """A thread on the other end of a loopback TCP connection that runs
    `act(conn)` and closes (or resets) the connection."""

    def __init__(self, act: Callable[[socket.socket], None], reset: bool = False, accept: bool = True) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(IO_TIMEOUT)
        self.port = int(self.listener.getsockname()[1])
        self.act, self.reset = act, reset
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(IO_TIMEOUT)
            try:
                self.act(conn)
            finally:
                if self.reset:  # RST instead of FIN
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
        except BaseException as exc:
            self.error = exc

    def join(self) -> None:
        self.thread.join(IO_TIMEOUT + 5)
        assert not self.thread.is_alive()
        self.listener.close()
        if self.error:
            raise self.error


def read_some(conn: socket.socket, at_least: int = 1) -> bytes:
    got = b""
    while len(got) < at_least:
        chunk = conn.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_socket_server_closes_after_client_hello(world: World, reset: bool) -> None:
    got: List[bytes] = []
    peer = RawPeer(lambda conn: got.append(read_some(conn)), reset=reset)
    with socket.create_connection(("127.0.0.1", peer.port), timeout=IO_TIMEOUT) as sock:
        c = world.ccfg.client(sock, server_hostname=HOST)
        start = time.monotonic()
        with pytest.raises(mutls.ConnectionClosed) as info:
            c.handshake()
        assert time.monotonic() - start < IO_TIMEOUT / 2, "the close was not noticed at once"
    peer.join()
    assert got and got[0][0] == 22, "the peer read a ClientHello"
    e = info.value
    assert e.code == "closed" and e.side == "peer" and e.step == "handshake", describe(e)
    assert str(e).startswith("server closed the connection during the handshake"), str(e)
    if reset:
        assert "Connection reset by peer" in str(e), str(e)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_socket_real_server_closes_mid_handshake(worlds: Dict[str, World], version: str) -> None:
    """A real mutls server that answers the ClientHello (its whole first
    flight) and then closes the socket before the client's second flight."""
    w = worlds[version]

    def act(conn: socket.socket) -> None:
        s = w.scfg.server()
        s.feed(read_some(conn))
        assert step(s) == "want-read"
        conn.sendall(s.data_to_send())

    peer = RawPeer(act)
    with socket.create_connection(("127.0.0.1", peer.port), timeout=IO_TIMEOUT) as sock:
        c = w.ccfg.client(sock, server_hostname=HOST)
        o = step(c)
        if o == "ok":  # TLS 1.3: the client is done before the server answers
            assert version == "1.3"
            with pytest.raises(mutls.ConnectionClosed) as info:
                c.recv()
            o = info.value
        assert isinstance(o, mutls.ConnectionClosed) and o.side == "peer", describe(o)
        assert "server closed the connection" in str(o), str(o)
    peer.join()


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_socket_client_closes_mid_client_hello(world: World, reset: bool) -> None:
    """A raw client sends half a real ClientHello and closes: the mutls
    server (socket mode, in this thread) reports closed."""
    _, hello = client_waiting_for_server(world)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(IO_TIMEOUT)
    port = listener.getsockname()[1]

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as raw:
            raw.sendall(hello[:len(hello) // 2])
            time.sleep(0.05)
            if reset:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    t = threading.Thread(target=client, daemon=True)
    t.start()
    conn, _ = listener.accept()
    with conn, listener:
        conn.settimeout(IO_TIMEOUT)
        s = world.scfg.server(conn)
        with pytest.raises(mutls.ConnectionClosed) as info:
            s.handshake()
    t.join(IO_TIMEOUT)
    assert not t.is_alive()
    e = info.value
    assert e.code == "closed" and e.side == "peer" and e.step == "handshake", describe(e)
    assert str(e).startswith("client closed the connection during the handshake"), str(e)


def test_refused_tls13_client_that_sends_first_still_learns_the_alert(world: World) -> None:
    """TLS 1.3: the client's handshake completes, then the server refuses
    its certificate (peers policy), sends access_denied and closes with the
    client's last records unread, so the kernel resets the connection. The
    alert is in the client's receive buffer (a recv() first reports it as
    peer-rejected). A client that *sends* first must learn the same thing,
    from send() or from the next recv(), not "closed: Connection reset by
    peer" for ever after (seen as a flaky docs example under ASan, where the
    client is slower than the reset)."""
    scfg = mutls.Config(identity=world.server_id, trust=world.ca, peers=["uri:spiffe://example.org/orders-only"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(IO_TIMEOUT)
    port = listener.getsockname()[1]
    server_error: List[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(IO_TIMEOUT)
        s = scfg.server(conn)
        try:
            s.handshake()
        except mutls.Error as exc:
            server_error.append(exc)
        # close at once: unread client records (or linger 0) mean a reset
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with listener, socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        c = world.ccfg.client(sock, server_hostname=HOST)
        c.handshake()
        assert c.version == "TLSv1.3"
        t.join(IO_TIMEOUT)
        assert not t.is_alive()
        assert server_error and isinstance(server_error[0], mutls.CertificateVerifyError), server_error
        time.sleep(0.2)  # the reset has arrived; the alert waits in our receive buffer
        with pytest.raises(mutls.Error) as info:
            c.sendall(b"ping")
            c.recv()
    e = info.value
    assert isinstance(e, mutls.PeerRejectedError), describe(e)
    assert e.code == "peer-rejected" and e.side == "peer" and e.alert == "access_denied", describe(e)


# ---------------------------------------------------------------------------
# A chain of 100 intermediates


@pytest.fixture(scope="module")
def deep(world: World) -> Dict[str, Any]:
    cas = [world.ca]
    for i in range(100):
        cas.append(cas[-1].intermediate(f"intermediate {i + 1}"))
    server = cas[-1].issue(cn="deep", dns=[HOST], purpose="server")
    client = cas[-1].issue(cn="deep client", purpose="client")
    return {"cas": cas, "server": server, "client": client}


def run(ccfg: mutls.Config, scfg: mutls.Config) -> Tuple[mutls.Session, Outcome, mutls.Session, Outcome]:
    c, s = ccfg.client(server_hostname=HOST), scfg.server()
    co: Outcome = "want-read"
    so: Outcome = "want-read"
    for _ in range(64):
        if co == "want-read":
            co = step(c)
        out = c.data_to_send()
        if out:
            s.feed(out)
        if so == "want-read":
            so = step(s)
        back = s.data_to_send()
        if back:
            c.feed(back)
        if not out and not back:
            break
    else:
        raise AssertionError("the handshake did not settle")
    return c, co, s, so


def test_chain_of_100_intermediates_server(world: World, deep: Dict[str, Any]) -> None:
    server = deep["server"]
    assert len(server.chain) == 101
    c, co, s, so = run(world.ccfg, mutls.Config(identity=server, trust=world.ca))
    assert isinstance(co, mutls.CertificateVerifyError), describe(co)
    assert co.code == "verify-failed" and list(co.reasons) == ["unknown-issuer"], describe(co)
    assert co.side == "local" and co.step == "server-certificate", describe(co)
    assert "a chain of 101 certificates" in str(co), str(co)
    assert len(c.peer_chain) == 101
    assert c.peer_certificate is not None and c.peer_certificate.common_name == "deep"
    assert isinstance(so, mutls.PeerRejectedError), describe(so)


def test_chain_of_100_intermediates_client(world: World, deep: Dict[str, Any]) -> None:
    c, co, s, so = run(mutls.Config(identity=deep["client"], trust=world.ca), world.scfg)
    assert isinstance(so, mutls.CertificateVerifyError), describe(so)
    assert so.code == "verify-failed" and list(so.reasons) == ["unknown-issuer"], describe(so)
    assert so.step == "client-certificate", describe(so)
    assert "a chain of 101 certificates" in str(so), str(so)
    assert len(s.peer_chain) == 101


def test_chain_of_100_offline_verify(world: World, deep: Dict[str, Any]) -> None:
    """Certificate.verify with the same 100 intermediates must refuse the
    chain as the handshake does (verify-failed, unknown-issuer, the length
    named), not call it API misuse."""
    leaf = deep["server"].certificate
    with pytest.raises(mutls.Error) as info:
        leaf.verify(world.ca, hostname=HOST, purpose="server", intermediates=deep["server"].chain[1:])
    e = info.value
    assert isinstance(e, mutls.CertificateVerifyError), describe(e)
    assert e.code == "verify-failed" and list(e.reasons) == ["unknown-issuer"], describe(e)
    assert "a chain of 101 certificates" in str(e), str(e)


# ---------------------------------------------------------------------------
# Files and PEM/DER text: code `config`, the file or field named


def config_error(*fragments: str, **kw: Any) -> mutls.ConfigError:
    with pytest.raises(mutls.ConfigError) as info:
        mutls.Config(**kw)
    e = info.value
    assert e.code == "config" and list(e.reasons) == [] and e.side is None and e.alert is None, describe(e)
    for f in fragments:
        assert f in str(e), f"{f!r} not in {str(e)!r}"
    return e


def broken_base64(pem: str) -> str:
    first = pem.index("\n") + 10
    return pem[:first] + "!!!!" + pem[first + 4:]


def test_missing_files_are_named(world: World, tmp_path: Path) -> None:
    key = world.server_id.write_to(tmp_path)["key"]
    missing = str(tmp_path / "missing.pem")
    config_error(missing, "No such file or directory", certificate=missing, private_key=key)
    config_error(missing, "No such file or directory", certificate=world.server_id.cert_pem, private_key=missing)
    config_error(missing, "No such file or directory", trust=missing)
    config_error(missing, "No such file or directory", trust=world.ca, crl=missing)
    dangling = tmp_path / "dangling.pem"
    dangling.symlink_to(tmp_path / "nowhere.pem")
    config_error(str(dangling), "No such file or directory", trust=dangling)


def test_unreadable_files_are_named(world: World, tmp_path: Path) -> None:
    paths = world.server_id.write_to(tmp_path)
    config_error(str(tmp_path), "cannot read file: Is a directory", certificate=tmp_path,
                 private_key=paths["key"])
    config_error(str(tmp_path), "cannot read file: Is a directory", certificate=world.server_id.cert_pem,
                 private_key=tmp_path)
    not_dir = paths["cert"] + "/cert.pem"  # a file used as a directory
    config_error(not_dir, "cannot read file: Not a directory", trust=not_dir)
    if os.geteuid() != 0:  # root reads any file: there, only the cases above apply
        locked = tmp_path / "locked.pem"
        locked.write_text(world.server_id.key_pem)
        locked.chmod(0)
        config_error(str(locked), "Permission denied", certificate=world.server_id.cert_pem, private_key=locked)


def test_malformed_pem_and_der(world: World, tmp_path: Path) -> None:
    sid = world.server_id
    key = sid.write_to(tmp_path)["key"]
    files = {
        "garbage.pem": random.Random(1).randbytes(300),
        "empty.pem": b"",
        "bad.der": b"\x30\x82\x01\x00" + random.Random(2).randbytes(50),
        "truncated.pem": sid.cert_pem[:200].encode(),
        "damaged.pem": broken_base64(sid.cert_pem).encode(),
        "key-as-cert.pem": sid.key_pem.encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for name in files:
        path = str(tmp_path / name)
        e = config_error(path, certificate=path, private_key=key)
        assert "not a readable certificate" in str(e) or 'no "-----BEGIN CERTIFICATE-----"' in str(e), str(e)
        if name != "key-as-cert.pem":
            config_error(path, "not a readable certificate", trust=path)
        if name != "key-as-cert.pem":  # that one is a good key
            config_error(path, "not a readable private key", certificate=sid.cert_pem, private_key=path)
        config_error(path, trust=world.ca, crl=path)
    # text: the field is named
    config_error("certificate: not a readable certificate", certificate=broken_base64(sid.cert_pem),
                 private_key=sid.key_pem)
    config_error('no "-----BEGIN CERTIFICATE-----"', certificate=sid.key_pem, private_key=sid.key_pem)
    config_error("private_key", certificate=sid.cert_pem, private_key=broken_base64(sid.key_pem))
    config_error("trust", trust="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    # a DER certificate file is fine
    (tmp_path / "good.der").write_bytes(sid.certificate.der)
    assert mutls.Config(certificate=tmp_path / "good.der", private_key=key).has_identity


def test_certificate_parsers_refuse_malformed_input(world: World, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"\x30\x82\x01\x00" + bytes(40))
    cases: List[Tuple[Callable[[Any], Any], Any, str]] = [
        (mutls.Certificate.load, str(garbage), str(garbage)),
        (mutls.Certificate.load, str(tmp_path / "missing.der"), "No such file"),
        (mutls.Certificate.load, str(tmp_path), "Is a directory"),
        (mutls.Certificate.from_der, b"\x30\x03\x02\x01\x01", "certificate DER"),
        (mutls.Certificate.from_der, b"", "certificate DER"),
        (mutls.Certificate.from_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
         "certificate PEM"),
        (mutls.load_certificates, str(garbage), str(garbage)),
    ]
    for fn, arg, fragment in cases:
        with pytest.raises(mutls.ConfigError) as info:
            fn(arg)
        assert info.value.code == "config" and fragment in str(info.value), (fn, str(info.value))


def test_key_does_not_match_its_certificate(world: World, tmp_path: Path) -> None:
    sid, cid = world.server_id, world.client_id
    config_error("private_key: the private key does not match the certificate CN=orders",
                 certificate=sid.cert_pem, private_key=cid.key_pem)
    cert = sid.write_to(tmp_path / "s")["cert"]
    key = cid.write_to(tmp_path / "c")["key"]
    config_error(f"{key}: the private key does not match the certificate CN=orders in {cert}",
                 certificate=cert, private_key=key)
    # same key type, another key: still refused (Ed25519 and RSA too)
    for key_type in ("ed25519", "rsa2048"):
        a = world.ca.issue(cn="a", key_type=key_type)
        b = world.ca.issue(cn="b", key_type=key_type)
        config_error("does not match the certificate CN=a", certificate=a.cert_pem, private_key=b.key_pem)


def test_wrong_and_missing_passwords(world: World, tmp_path: Path) -> None:
    sid = world.server_id
    enc = tmp_path / "enc.pem"
    enc.write_text(sid.encrypted_key_pem("s3cret"))
    config_error(f"{enc}: wrong password for the encrypted private key", certificate=sid.chain_pem,
                 private_key=enc, password="wrong")
    config_error(f"{enc}: the private key is encrypted and no password was given", certificate=sid.chain_pem,
                 private_key=enc)
    config_error("private_key: wrong password", certificate=sid.chain_pem,
                 private_key=sid.encrypted_key_pem("s3cret"), password=lambda: "nope")
    config_error("wrong password", certificate=sid.chain_pem, private_key=enc, password="")
    config_error("wrong password", certificate=sid.chain_pem, private_key=enc, password="s3cret" * 200)
    assert mutls.Config(certificate=sid.chain_pem, private_key=enc, password="s3cret").has_identity


def test_random_mutations_of_pem_and_der(world: World) -> None:
    """200 seeded mutations (byte flips, cuts, insertions) of a PEM
    certificate and of its DER: every one loads or is a ConfigError."""
    rng = random.Random(0x5E3)
    sid = world.server_id
    pem, der = sid.cert_pem.encode(), sid.certificate.der
    outcomes = {"loaded": 0, "config": 0}
    for i in range(200):
        src = bytearray(pem if i % 2 == 0 else der)
        kind = i % 3
        if kind == 0:
            for _ in range(1 + rng.randrange(4)):
                src[rng.randrange(len(src))] = rng.randrange(256)
        elif kind == 1:
            del src[rng.randrange(len(src)):]
        else:
            at = rng.randrange(len(src))
            src[at:at] = rng.randbytes(1 + rng.randrange(32))
        data = bytes(src)
        try:
            if i % 2 == 0:
                mutls.Config(certificate=data.decode("latin-1"), private_key=sid.key_pem)
            else:
                mutls.Certificate.from_der(data)
            outcomes["loaded"] += 1
        except mutls.ConfigError as e:
            assert e.code == "config" and str(e), describe(e)
            if i % 2 == 0 and b"-----BEGIN" not in data:
                # documented: a source without "-----BEGIN" is a file path,
                # and a value that is not a plausible path is never echoed
                assert str(e).startswith("certificate: not PEM text and not a readable file"), str(e)
                assert "the value is not shown" in str(e), str(e)
            else:
                assert ("certificate" in str(e)) or ("private_key" in str(e)), str(e)
            outcomes["config"] += 1
    assert outcomes["config"] > 100, outcomes


# ---- key text and passwords never appear in an error (issue 11, defect 3) --


def pem_body(pem: str) -> str:
    """The base64 body of the first PEM block, lines joined."""
    lines = pem.strip().splitlines()
    return "".join(line for line in lines[1:] if not line.startswith("-----"))


def assert_no_secret(e: BaseException, body: str, password: Optional[str] = None) -> None:
    """Neither str(e), repr(e) nor the formatted traceback holds any
    16-character run of the key's base64 body, nor the password."""
    import traceback
    texts = [str(e), repr(e), "".join(traceback.format_exception(type(e), e, e.__traceback__))]
    for text in texts:
        for i in range(len(body) - 15):
            assert body[i:i + 16] not in text, f"key text {body[i:i + 16]!r} in {text!r}"
        if password is not None:
            assert password not in text, f"the password is in {text!r}"


def test_key_text_never_in_messages(world: World) -> None:
    sid = world.server_id
    key, cert = sid.key_pem, sid.cert_pem
    body = pem_body(key)
    lines = key.split("\n", 1)[1].split("-----END")[0]
    damaged = key.replace("-----BEGIN PRIVATE KEY-----", "----BEGIN PRIVATE KEY-----")
    not_file = "not PEM text and not a readable file"
    cases = [
        # (what it names and says, Config options)
        (["private_key: " + not_file, "the value is not shown", '"-----BEGIN" line looks damaged'],
         dict(certificate=cert, private_key=damaged)),
        (["private_key: " + not_file, "looks like base64"], dict(certificate=cert, private_key=lines)),
        (["private_key: " + not_file, "looks like base64"], dict(certificate=cert, private_key=body)),
        (["private_key: " + not_file], dict(certificate=cert, private_key=body.encode())),
        (["private_key: " + not_file], dict(certificate=cert, private_key=bytearray(body.encode()))),
        (['certificate: no "-----BEGIN CERTIFICATE-----"'], dict(certificate=key, private_key=key)),
        (["certificate: " + not_file], dict(certificate=body, private_key=key)),
        (["certificate: " + not_file], dict(certificate=damaged, private_key=key)),
        (["certificate: " + not_file], dict(certificate=damaged)),
        (["trust: " + not_file], dict(trust=body)),
        (["trust: " + not_file], dict(trust=[world.ca, damaged])),
        (["crl: " + not_file], dict(trust=world.ca, crl=lines)),
    ]
    for fragments, kw in cases:
        e = config_error(*fragments, **kw)
        assert_no_secret(e, body)
    # the certificate loaders read paths the same way
    for load, what in ((mutls.load_certificates, "certificates"), (mutls.Certificate.load, "certificate")):
        for value in (body, lines, damaged):
            with pytest.raises(mutls.ConfigError) as info:
                load(value)
            assert str(info.value).startswith(what + ": " + not_file), str(info.value)
            assert_no_secret(info.value, body)


def test_wrong_password_never_in_messages(world: World, tmp_path: Path) -> None:
    sid = world.server_id
    right, wrong = "Tr0ub4dor&3-right", "Tr0ub4dor&3-wrong"
    enc = sid.encrypted_key_pem(right)
    body = pem_body(enc)
    e = config_error("private_key: wrong password for the encrypted private key",
                     certificate=sid.chain_pem, private_key=enc, password=wrong)
    assert_no_secret(e, body, wrong)
    e = config_error("private_key: wrong password", certificate=sid.chain_pem, private_key=enc,
                     password=wrong.encode())
    assert_no_secret(e, body, wrong)
    e = config_error("private_key: wrong password", certificate=sid.chain_pem, private_key=enc,
                     password=lambda: wrong)
    assert_no_secret(e, body, wrong)
    # a key file: the path is named, the password is not
    path = tmp_path / "key.pem"
    path.write_text(enc)
    e = config_error(str(path), "wrong password", certificate=sid.chain_pem, private_key=path,
                     password=wrong)
    assert_no_secret(e, body, wrong)
    assert mutls.Config(certificate=sid.chain_pem, private_key=path, password=right).has_identity


def test_values_named_only_when_they_read_as_paths(world: World, tmp_path: Path) -> None:
    cert = world.server_id.cert_pem
    missing = str(tmp_path / "missing-key.pem")  # its directory exists: a mistyped path
    config_error("private_key " + missing + ": cannot read file: No such file", certificate=cert,
                 private_key=missing)
    e = config_error("private_key: not PEM text and not a readable file (No such file or directory; "
                     "the value is not shown)", certificate=cert, private_key="/nonexistent/key.pem")
    assert "/nonexistent" not in str(e)
    config_error("trust /nonexistent/ca.pem: cannot read file", trust="/nonexistent/ca.pem")
    e = config_error("the value is not shown", trust="ca.pem\nsecond line")
    assert "second line" not in str(e)
    e = config_error("the value is not shown", trust="x" * 5000)
    assert "xxxx" not in str(e)
