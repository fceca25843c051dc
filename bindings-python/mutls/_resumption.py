"""TLS session resumption for the HTTP client integrations (mutls.httpx,
mutls.requests): the newest session_data per (host, port, server name)."""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from . import Error, Session

Key = Tuple[str, int, str]


class Resumption:
    """The newest session_data per (host, port, server name), shared by the
    connections of one transport or adapter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: Dict[Key, bytes] = {}

    def get(self, key: Key) -> Optional[bytes]:
        with self._lock:
            return self._data.get(key)

    def remember(self, key: Key, session: Session) -> bool:
        """Stores the session's resumption data; True once some was stored.
        (TLS 1.3 tickets arrive after the handshake, with the first reads.)"""
        try:
            data = session.session_data
        except Error:
            return False
        if not data:
            return False
        with self._lock:
            self._data[key] = data
        return True
