"""Reading a run's event log: a chunk at a time, so memory stays flat whatever its
size; every complete line decoded, a damaged one skipped (see :mod:`.events`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from .envelopes import Envelope, decode_line
from .records import RunPaths

__all__ = [
    "READ_CHUNK",
    "each_event",
    "envelopes_in",
    "read_all_events",
    "read_events",
    "read_events_blocking",
]

#: How much a reader takes in one call: memory stays flat whatever the log's size.
READ_CHUNK = 4 << 20


def _read_chunk(path: Path | str, offset: int, limit: int) -> bytes | None:
    """The log's bytes from ``offset``: about ``limit`` of them, or on to the end of
    a line longer than that; None when there is no log."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read(limit)
            if len(data) == limit and b"\n" not in data:
                # One line longer than the limit: read on to its end (joined once).
                pieces = [data]
                while (more := log.read(limit)) and b"\n" not in more:
                    pieces.append(more)
                data = b"".join([*pieces, more])
            return data
    except FileNotFoundError:
        return None


async def read_events(
    paths: RunPaths, offset: int = 0, *, limit: int = READ_CHUNK
) -> tuple[list[Envelope], int]:
    """Envelopes from byte ``offset`` up to the last complete line within about
    ``limit`` bytes, and the offset after them; call again from there for more.

    The read is one worker-thread call: cancelled, it still ends and closes the
    log before the cancellation lands (a reader that streams to many clients,
    each of which may go away mid-read, leaks no file)."""
    data = await anyio.to_thread.run_sync(_read_chunk, paths.events, offset, limit)
    return envelopes_in(data, offset)


def read_events_blocking(
    log: Path | str, offset: int = 0, *, limit: int = READ_CHUNK
) -> tuple[list[Envelope], int]:
    """:func:`read_events` of the log at ``log``, in the calling thread (one that
    reads many logs in one worker-thread call)."""
    return envelopes_in(_read_chunk(log, offset, limit), offset)


def envelopes_in(data: bytes | None, offset: int) -> tuple[list[Envelope], int]:
    """The envelopes of the complete lines of ``data``, read at ``offset``, and the
    offset after them."""
    if data is None:
        return [], offset
    end = data.rfind(b"\n") + 1
    envelopes = []
    # Lines end at \n only: a \r inside Claude's JSON (whitespace there) must not
    # cut one envelope into pieces that read as envelopes of their own.
    for line in data[:end].split(b"\n"):
        if (envelope := decode_line(line)) is not None:
            envelopes.append(envelope)  # a damaged line is skipped, not fatal
    return envelopes, offset + end


async def each_event(paths: RunPaths) -> AsyncIterator[Envelope]:
    """Every envelope of the log, read a chunk at a time (for going over a whole run
    with memory flat in the log's size)."""
    offset = 0
    while True:
        batch, after = await read_events(paths, offset)
        if after == offset:
            return
        for envelope in batch:
            yield envelope
        offset = after


async def read_all_events(paths: RunPaths) -> list[Envelope]:
    """Every envelope of the log, in a list (a log known to be small)."""
    return [envelope async for envelope in each_event(paths)]
