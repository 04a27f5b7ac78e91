"""Turning the engine's timestamped log entries back into lines. Pure.

The engine splits lines longer than 16 KiB into several entries, each with its
own timestamp and only the last ending in a newline. A line keeps the timestamp
of its first piece, so a log caught up long after the fact still says when
Claude wrote each line; it also carries the exact timestamp of its last piece
and how many entries share that timestamp up to it, which is where the next
catch-up resumes (several entries can share one timestamp).

Lines streamed live (attached to the container) carry no engine timestamps:
:class:`ChunkLines` stamps them on receipt.

A line stays the bytes the container printed, pieces joined as bytes (a character
the engine cut between entries is whole again); the event log's writer checks
them as UTF-8 once, a batch at a time.
"""

from __future__ import annotations

import re
from datetime import datetime

from .events import LogLine
from .records import now_iso

__all__ = [
    "MAX_LINE",
    "ChunkLines",
    "LogLines",
    "entry_time",
    "event_time",
    "stamped_at",
    "unix_time",
]

#: The longest line kept of a container's output, in bytes (Claude's lines can be
#: megabytes); the rest of a longer one is dropped, and the line still counts as one.
MAX_LINE = 16 << 20

# RFC 3339 with nanoseconds, as the engine writes it at the start of each entry.
_TIMESTAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
# Entries joined, each one whole line: its timestamp (ending within the 48 characters
# an entry's is looked for in) and its bytes.
_WHOLE_LINE = re.compile(
    rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,26})?Z) ([^\n]*)\n", re.MULTILINE
)


def event_time(timestamp: str) -> str:
    """``2026-11-27T10:57:51.102755120Z`` -> ``2026-11-27T10:57:51.102Z``."""
    if len(timestamp) >= 24 and timestamp[19] == "." and timestamp[-1] == "Z":
        return timestamp[:23] + "Z"  # milliseconds there already: the engine's usual form
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


def entry_time(entry: bytes) -> str | None:
    """The engine's timestamp at the start of a log entry."""
    match = _TIMESTAMP.search(entry, 0, 48)
    return match[1].decode("ascii") if match else None


def stamped_at(entry: bytes, timestamp: str) -> bool:
    """Whether a log entry carries the instant ``timestamp``."""
    stamp = entry_time(entry)
    return stamp is not None and _instant(stamp) == _instant(timestamp)


class LogLines:
    """Feed entries in order; get back complete lines (each cut at ``MAX_LINE``)."""

    def __init__(self, *, last: str | None = None, same: int = 0) -> None:
        """``last`` and ``same``: a parse that resumes after a line whose last piece was
        stamped ``last``, the ``same``-th entry with that stamp. Read ``since`` that
        instant, the engine sends those ``same`` entries again: they are dropped."""
        self._pending = _PendingBytes()
        self._since: str | None = None
        self._last = last or ""
        #: Entries seen so far with timestamp ``_last``.
        self._same = same
        #: Entries still to drop: the log holds them already.
        self._consumed = same if last else 0

    def feed(self, entry: bytes) -> list[LogLine]:
        if self._consumed:
            if stamped_at(entry, self._last):
                self._consumed -= 1
                return []
            self._consumed = 0  # fewer came again than were consumed: the rest is new
        match = _TIMESTAMP.search(entry, 0, 48)
        if match is None:
            content, stamp = entry, self._since or ""
        else:
            at = match[1].decode("ascii")
            content, stamp = entry[: match.start()] + entry[match.end() :], event_time(at)
            self._same = self._same + 1 if at == self._last else 1
            self._last = at
        if not self._pending:
            self._since = stamp
        first, *others = content.split(b"\n")
        self._pending.take(first)
        if not others:
            return []
        *complete, rest = others
        end, same = self._last or None, self._same
        lines = [LogLine(self._since or stamp, self._pending.data(), end, same)]
        lines += [LogLine(stamp, data[:MAX_LINE], end, same) for data in complete]
        self._pending.take(rest)
        self._since = stamp
        return lines

    def feed_all(self, entries: list[bytes]) -> list[LogLine]:
        """:meth:`feed` of each entry in turn: the complete lines of all of them.

        Entries that are each one whole line, stamped, with nothing pending before
        them (almost every read's) are parsed together, in C; failing that, each
        such entry is taken without the general path's splitting."""
        if not self._consumed and not self._pending and (whole := _whole_lines(entries)):
            return self._stamped(whole)
        lines: list[LogLine] = []
        for entry in entries:
            match = None if self._consumed or self._pending else _TIMESTAMP.match(entry, 0, 48)
            end = len(entry) - 1
            if match is None or entry.find(b"\n", match.end()) != end:
                lines += self.feed(entry)
                continue
            stamp = match[1].decode("ascii")
            self._same = self._same + 1 if stamp == self._last else 1
            self._last = stamp
            since = self._since = event_time(stamp)
            lines.append(LogLine(since, entry[match.end() : end][:MAX_LINE], stamp, self._same))
        return lines

    def _stamped(self, whole: list[tuple[bytes, bytes]]) -> list[LogLine]:
        """The lines of whole-line entries, each its timestamp and bytes."""
        last, same, lines = self._last, self._same, []
        for at, data in whole:
            stamp = at.decode("ascii")
            same = same + 1 if stamp == last else 1
            last = stamp
            lines.append(LogLine(event_time(stamp), data, stamp, same))
        self._last, self._same, self._since = last, same, lines[-1].ts
        return lines

    def finish(self) -> list[LogLine]:
        """The last line, when the output ended without a newline."""
        if not self._pending:
            return []
        return [LogLine(self._since or "", self._pending.data(), self._last or None, self._same)]


def _whole_lines(entries: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The timestamp and bytes of each entry, when every one is one whole stamped line
    of at most ``MAX_LINE``; else none. Joined, each entry is one line of the whole
    (one newline, at its end), and each must match where its line starts."""
    if not entries or not all(entry[-1:] == b"\n" for entry in entries):
        return []
    joined = b"".join(entries)
    if joined.count(b"\n") != len(entries) or max(map(len, entries)) > MAX_LINE:
        return []
    found = _WHOLE_LINE.findall(joined)
    return found if len(found) == len(entries) else []


class ChunkLines:
    """Feed raw output chunks as they are received; get back complete lines, stamped
    now (each cut at ``MAX_LINE``)."""

    def __init__(self) -> None:
        self._pending = _PendingBytes()
        self._since = ""

    def feed(self, chunk: bytes) -> list[LogLine]:
        if not self._pending:
            self._since = now_iso()
        first, *others = chunk.split(b"\n")
        self._pending.take(first)
        if not others:
            return []
        *complete, rest = others
        lines = [LogLine(self._since, self._pending.data())]
        lines += [LogLine(self._since, line[:MAX_LINE]) for line in complete]
        self._pending.take(rest)
        self._since = now_iso()
        return lines

    def finish(self) -> list[LogLine]:
        if not self._pending:
            return []
        return [LogLine(self._since, self._pending.data())]


class _PendingBytes:
    """The pieces of the line being read, and no more than ``MAX_LINE`` of it: an
    agent printing without end must not exhaust the host."""

    def __init__(self) -> None:
        self._data = bytearray()

    def __bool__(self) -> bool:
        return bool(self._data)

    def take(self, piece: bytes) -> None:
        room = MAX_LINE - len(self._data)
        if piece and room > 0:
            self._data += piece[:room]

    def data(self) -> bytes:
        """The line so far; the buffer starts afresh."""
        data = bytes(self._data)
        self._data = bytearray()
        return data
