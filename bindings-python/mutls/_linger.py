"""Closing a refused connection gently (shared by `mutls serve` and
mutls.wsgi)."""
from __future__ import annotations

import socket as _socket
import time as _time

# The client of a refused connection may still be sending (its TLS 1.3 data
# after a handshake it thinks succeeded, or the rest of a 16 MiB
# ClientHello with its record headers); closing with its data unread would
# reset the connection, and the reset can destroy our alert before the
# client reads it.
LINGER_SECONDS = 1.0
LINGER_BYTES = 17 * 1024 * 1024


def linger(conn: _socket.socket, seconds: float = LINGER_SECONDS, max_bytes: int = LINGER_BYTES) -> None:
    """Stop writing, then read and drop what the client sends until it
    closes, for at most seconds and max_bytes. Never raises OSError."""
    deadline = _time.monotonic() + seconds
    total = 0
    try:
        conn.shutdown(_socket.SHUT_WR)
        while total < max_bytes:
            left = deadline - _time.monotonic()
            if left <= 0:
                break
            conn.settimeout(left)
            data = conn.recv(65536)
            if not data:
                break
            total += len(data)
    except OSError:
        pass
