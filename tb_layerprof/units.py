"""Text for people: human units for times and byte counts, and terminal-safe strings.

Shared by every text renderer (the CLI's tables, the demo); pure, no I/O.
"""

from __future__ import annotations

import codecs
from typing import TextIO


def safe_text(text: object) -> str:
    """`text` with every control/format character shown as an escape (e.g. `\\x1b`, `\\n`).

    Layer names come from user code and event files we did not write; printing them raw
    could move the cursor, recolour or clear the terminal, or break the table's lines.
    """
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def as_float(value: object, default: float = 0.0) -> float:
    """A report figure as a float; anything unusable (None, text) reads as `default`.

    Unlike `figures.finite`, NaN and infinities pass through: the tables print them as
    "?" rather than hide a broken figure behind a 0.
    """
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


class Units:
    """Human units for times (given in µs) and byte counts."""

    def __init__(self, micro: str = "µs"):
        self.micro = micro

    @classmethod
    def for_stream(cls, stream: TextIO) -> "Units":
        """Units that `stream` can print: "us" where its encoding has no "µ"."""
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "µ".encode(codecs.lookup(encoding).name)
        except (LookupError, UnicodeEncodeError):
            return cls(micro="us")
        return cls()

    @property
    def arrow(self) -> str:
        """"→" where the stream can print it (the same test as for "µ"), else "->"."""
        return "\u2192" if self.micro == "µs" else "->"

    def time(self, us: float) -> str:
        """Microseconds as '0', '4.2 µs', '420 µs', '4.20 ms' or '4.20 s'; NaN as '?'."""
        us = float(us)
        if us != us:  # NaN
            return "?"
        a = abs(us)
        if a == 0:
            return "0"
        if a < 10:
            return f"{us:.1f} {self.micro}"
        if a < 1000:
            return f"{us:.0f} {self.micro}"
        if a < 1_000_000:
            return f"{us / 1000:.2f} ms"
        return f"{us / 1_000_000:.2f} s"

    @staticmethod
    def size(n: float) -> str:
        """Bytes as '512 B', '4.0 KiB' ... 'TiB' (binary units); NaN as '?'."""
        n = float(n)
        if n != n:
            return "?"
        a = abs(n)
        if a < 1024:
            return f"{n:.0f} B"
        for unit in ("KiB", "MiB", "GiB", "TiB"):
            n /= 1024.0
            a /= 1024.0
            if a < 1024 or unit == "TiB":
                return f"{n:.1f} {unit}"
        return f"{n:.1f} TiB"  # pragma: no cover

    @staticmethod
    def percent(part: float, whole: float) -> str:
        """part / whole as '12.3%'; '-' without a whole."""
        if not whole:
            return "-"
        return f"{100.0 * part / whole:.1f}%"
