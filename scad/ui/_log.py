"""A run's log as its page shows it: the end of what is there (bounded), then what
lands after (see ``_follow``), each line rendered as the terminal views render it.

Both read with :func:`scad.runs.logread.read_events`, as ``scad logs -f`` does: a
chunk at a time from a byte offset, so memory stays flat in the log's size, and
each chunk says the offset after it (where a stream goes on from, and resumes).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import anyio

from ..runs.activity import activity_lines
from ..runs.envelopes import Envelope
from ..runs.logread import read_events
from ..runs.records import RunPaths

__all__ = ["CHUNK", "LogChunk", "log_size", "log_tail", "rendered"]

#: What one read takes (a line longer than this is read whole, as every reader does).
CHUNK = 256 << 10
#: How far a reader looks at a time for the start of the line after a cut.
_BLOCK = 64 << 10


class LogChunk(NamedTuple):
    """Lines rendered from the log, and the byte offset just after them."""

    lines: list[str]
    end: int


class LogTail(NamedTuple):
    lines: list[str]
    #: Where the lines begin in the log (0: they are all of it).
    start: int
    #: Where they end: the live stream goes on from here.
    end: int


def rendered(envelopes: list[Envelope]) -> list[str]:
    return [line for envelope in envelopes for line in activity_lines(envelope)]


def _line_start(path: os.PathLike[str], at: int) -> int:
    """The offset of the first line that begins at or after ``at``."""
    if at <= 0:
        return 0
    try:
        with open(path, "rb") as log:
            log.seek(at - 1)
            while block := log.read(_BLOCK):
                if (newline := block.find(b"\n")) >= 0:
                    return log.tell() - len(block) + newline + 1
            return log.tell()
    except FileNotFoundError:
        return 0


def log_size(path: os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


async def log_tail(paths: RunPaths, limit: int) -> LogTail:
    """The lines of about the last ``limit`` bytes of the log, whole lines only."""
    size = await anyio.to_thread.run_sync(log_size, paths.events)
    start = await anyio.to_thread.run_sync(_line_start, paths.events, size - limit)
    lines: list[str] = []
    offset = start
    while offset < size:
        envelopes, after = await read_events(paths, offset, limit=CHUNK)
        if after == offset:
            break  # a partial last line: the stream brings it once it is whole
        lines += rendered(envelopes)
        offset = after
    return LogTail(lines, start, offset)
