"""Turning the engine's timestamped log entries back into lines. Pure.

The engine splits lines longer than 16 KiB into several entries, each with its
own timestamp and only the last ending in a newline. A line keeps the timestamp
of its first piece, so a log caught up long after the fact still says when
Claude wrote each line.
"""

from __future__ import annotations

import re

__all__ = ["LogLines"]

# RFC 3339 with nanoseconds, as the engine writes it; a multi-byte character cut
# at an entry boundary can leave a few characters in front of it.
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")


def _millis(timestamp: str) -> str:
    """``2026-11-27T10:57:51.102755120Z`` -> ``2026-11-27T10:57:51.102Z``."""
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    return f"{head}.{(fraction + '000')[:3]}Z"


class LogLines:
    """Feed entries in order; get back complete ``(timestamp, line)`` pairs."""

    def __init__(self) -> None:
        self._pending = ""
        self._since: str | None = None

    def feed(self, entry: str) -> list[tuple[str, str]]:
        match = _TIMESTAMP.search(entry, 0, 48)
        if match is None:
            content, stamp = entry, self._since or ""
        else:
            self._pending += entry[: match.start()]
            content, stamp = entry[match.end() :], _millis(match[1])
        if not self._pending:
            self._since = stamp
        self._pending += content
        lines = []
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            lines.append((self._since or stamp, line))
            self._since = stamp
        return lines

    def finish(self) -> list[tuple[str, str]]:
        """The last line, when the output ended without a newline."""
        if not self._pending:
            return []
        line, self._pending = self._pending, ""
        return [(self._since or "", line)]
