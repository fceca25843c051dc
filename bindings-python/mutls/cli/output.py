"""Output helpers for the mutls command line.

Colour and progress lines only when the stream is a terminal (and NO_COLOR is
not set); otherwise plain text, one line at a time, safe to read from a
script or a test. Every print is serialised so that the client and server
threads of the demo never interleave within a line.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, Optional

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


class Output:
    """Writes lines to a stream; styles them only on a terminal."""

    def __init__(self, stream: Optional[IO[str]] = None, colour: Optional[bool] = None):
        self.stream = stream if stream is not None else sys.stdout
        isatty = False
        try:
            isatty = self.stream.isatty()
        except (AttributeError, ValueError):
            isatty = False
        self.tty = isatty
        if colour is None:
            colour = isatty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.colour = bool(colour)
        self.lock = threading.RLock()
        self._progress_shown = False

    # -- styling ----------------------------------------------------------
    def style(self, text: str, *styles: str) -> str:
        if not self.colour or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles if s in _CODES)
        return f"\x1b[{codes}m{text}\x1b[0m" if codes else text

    def ok(self, text: str) -> str:
        return self.style(text, "green")

    def bad(self, text: str) -> str:
        return self.style(text, "red", "bold")

    def dim(self, text: str) -> str:
        return self.style(text, "dim")

    # -- lines --------------------------------------------------------------
    def line(self, text: str = "") -> None:
        with self.lock:
            self._clear_progress()
            self.stream.write(text + "\n")
            self.stream.flush()

    def say(self, who: str, text: str, width: int = 7) -> None:
        """'client  text': a speaker column, then the text."""
        label = who.ljust(width)
        colour = {"client": "cyan", "server": "magenta"}.get(who.strip())
        if colour:
            label = self.style(label, colour)
        self.line(f"{label} {text}")

    def heading(self, title: str) -> None:
        self.line("")
        self.line(self.style(f"== {title}", "bold"))

    def subheading(self, title: str) -> None:
        self.line("")
        self.line(self.style(f"-- {title}", "bold"))

    # -- progress (terminal only) -------------------------------------------
    def progress(self, text: str) -> None:
        """A transient status line, replaced by the next output. Terminal only."""
        if not self.tty:
            return
        with self.lock:
            self.stream.write("\r\x1b[K" + self.dim(text))
            self.stream.flush()
            self._progress_shown = True

    def _clear_progress(self) -> None:
        if self._progress_shown:
            self.stream.write("\r\x1b[K")
            self._progress_shown = False


def error_fields(err: BaseException) -> str:
    """'code verify-failed, reasons expired, side local, step ..., alert ...'"""
    code = getattr(err, "code", None)
    if code is None:
        return type(err).__name__
    reasons = getattr(err, "reasons", None) or []
    parts = [f"code {code}", f"reasons {','.join(reasons) if reasons else 'none'}"]
    parts.append(f"side {getattr(err, 'side', None) or 'none'}")
    step = getattr(err, "step", None)
    if step:
        parts.append(f"step {step}")
    parts.append(f"alert {getattr(err, 'alert', None) or 'none'}")
    return ", ".join(parts)


def describe_certificate(cert) -> str:
    """'CN=orders  dns:orders.internal  ip:127.0.0.1' (subject, then SANs)."""
    if cert is None:
        return "(no certificate)"
    parts = [cert.subject or getattr(cert, "label", "?")]
    parts += [f"dns:{n}" for n in cert.dns_names]
    parts += [f"ip:{n}" for n in cert.ip_addresses]
    parts += [f"uri:{n}" for n in cert.uris]
    parts += [f"email:{n}" for n in cert.emails]
    return "  ".join(str(p) for p in parts)


def iso(dt) -> str:
    """A datetime as 2026-01-01T00:00:00Z."""
    try:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    except AttributeError:
        return str(dt)
