"""Session.makefile(): a file object over a socket-mode mutls.Session, built
like socket.makefile (a raw SocketIO-like class under io's buffering)."""

from __future__ import annotations

import io
from typing import Any, Optional

from . import ConnectionClosed

__all__ = ["SessionIO", "makefile"]


class SessionIO(io.RawIOBase):
    """Raw I/O over a mutls Session (what socket.SocketIO is for a socket).

    ``readinto`` returns 0 at the peer's close_notify. A close without it
    (a possible truncation) ends the data read so far like an EOF, so that
    ``read()``/``readline()`` return every byte that arrived; the next read
    raises :class:`mutls.ConnectionClosed` (at once if nothing came before). Closing the file does not close the session (as with sockets)."""

    def __init__(self, session: Any, mode: str) -> None:
        if mode not in ("r", "w", "rw", "rb", "wb", "rwb"):
            raise ValueError(f"invalid mode: {mode!r}")
        super().__init__()
        self._session = session
        if "b" not in mode:
            mode += "b"
        self._mode = mode
        self._reading = "r" in mode
        self._writing = "w" in mode
        self._pending: Optional[BaseException] = None  # a close without close_notify
        self._got_data = False  # the last read returned data

    def readinto(self, b: Any) -> int:
        self._checkClosed()
        if not self._reading:
            raise io.UnsupportedOperation("not readable")
        if self._pending is not None:
            raise self._pending
        try:
            n: int = self._session.recv_into(b)
        except ConnectionClosed as exc:
            if not self._got_data:
                raise
            # end the data read so far (read() returns it); the next read raises
            self._pending = exc
            return 0
        self._got_data = n > 0
        return n

    def write(self, b: Any) -> int:
        self._checkClosed()
        if not self._writing:
            raise io.UnsupportedOperation("not writable")
        n: int = self._session.send(b)
        return n

    def readable(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return self._reading

    def writable(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return self._writing

    def seekable(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return False

    def fileno(self) -> int:
        self._checkClosed()
        n: int = self._session.fileno()
        return n

    @property
    def name(self) -> int:
        return -1 if self.closed else self.fileno()

    @property
    def mode(self) -> str:
        return self._mode

    def close(self) -> None:
        if self.closed:
            return
        io.RawIOBase.close(self)
        self._session = None


def makefile(session: Any, mode: str = "r", buffering: Optional[int] = None, *,
             encoding: Optional[str] = None, errors: Optional[str] = None,
             newline: Optional[str] = None) -> Any:
    """socket.makefile's contract over a Session: modes "r", "w", "rw" with
    an optional "b"; text mode wraps in io.TextIOWrapper."""
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
    writing = "w" in mode
    reading = "r" in mode or not writing
    binary = "b" in mode
    rawmode = ("r" if reading else "") + ("w" if writing else "")
    raw = SessionIO(session, rawmode)
    if buffering is None:
        buffering = -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    buffer: Any
    if reading and writing:
        buffer = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buffer = io.BufferedReader(raw, buffering)
    else:
        buffer = io.BufferedWriter(raw, buffering)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, encoding, errors, newline)
    text.mode = mode  # type: ignore[misc]
    return text
