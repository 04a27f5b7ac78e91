"""Turning the engine's timestamped log entries back into lines. Pure.

The engine splits lines longer than 16 KiB into several entries, each with its
own timestamp and only the last ending in a newline. A line keeps the timestamp
of its first piece, so a log caught up long after the fact still says when
Claude wrote each line; it also carries the exact timestamp of its last piece,
which is where the next catch-up may resume.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

__all__ = ["LogLine", "LogLines", "after", "event_time", "unix_time"]

# RFC 3339 with nanoseconds, as the engine writes it; a multi-byte character cut
# at an entry boundary can leave a few characters in front of it.
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")


class LogLine(NamedTuple):
    #: When the line began, to the millisecond (the event log's format).
    ts: str
    text: str
    #: The engine's exact timestamp of the line's last piece.
    end: str


def event_time(timestamp: str) -> str:
    """``2026-11-27T10:57:51.102755120Z`` -> ``2026-11-27T10:57:51.102Z``."""
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    return f"{head}.{(fraction + '000')[:3]}Z"


def _instant(timestamp: str) -> tuple[int, int]:
    """Seconds since the epoch and nanoseconds; the engine trims trailing zeros."""
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return seconds, int((fraction + "000000000")[:9])


def unix_time(timestamp: str) -> str:
    """The engine's ``since`` form of a log timestamp: ``seconds.nanoseconds``."""
    seconds, nanos = _instant(timestamp)
    return f"{seconds}.{nanos:09d}"


def after(entry: str, timestamp: str) -> bool:
    """Whether a log entry was written after ``timestamp`` (entries without one count as after)."""
    match = _TIMESTAMP.search(entry, 0, 48)
    return match is None or _instant(match[1]) > _instant(timestamp)


class LogLines:
    """Feed entries in order; get back complete lines."""

    def __init__(self) -> None:
        self._pending = ""
        self._since: str | None = None
        self._last = ""

    def feed(self, entry: str) -> list[LogLine]:
        match = _TIMESTAMP.search(entry, 0, 48)
        if match is None:
            content, stamp = entry, self._since or ""
        else:
            self._pending += entry[: match.start()]
            content, stamp, self._last = entry[match.end() :], event_time(match[1]), match[1]
        if not self._pending:
            self._since = stamp
        self._pending += content
        lines = []
        while "\n" in self._pending:
            text, self._pending = self._pending.split("\n", 1)
            lines.append(LogLine(self._since or stamp, text, self._last))
            self._since = stamp
        return lines

    def finish(self) -> list[LogLine]:
        """The last line, when the output ended without a newline."""
        if not self._pending:
            return []
        text, self._pending = self._pending, ""
        return [LogLine(self._since or "", text, self._last)]
