"""Following many runs' logs at once for their pages: one clock for every stream, one
look at each log's size a tick, and one worker-thread call a tick that reads, decodes
and renders what landed in every log that grew (once for all the streams that stand
at the same place in it).

It has no task of its own: of the streams waiting for lines, one drives the clock and
hands the drive on when it has lines to send or goes away; the others sleep until a
tick brings them lines, or the drive. A stream holds at most one chunk, read only
while it waits: memory stays bounded whatever a slow client does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from ..runs.catchup import POLL_SECONDS
from ..runs.logread import read_events_blocking
from ..runs.records import RunPaths
from ._log import CHUNK, LogChunk, log_size, rendered

__all__ = ["LogFollowers", "follow_log"]


class _Follower:
    """One stream waiting for what lands in its log after ``offset``."""

    def __init__(self, paths: RunPaths, offset: int) -> None:
        self.paths = paths
        self.offset = offset
        self.chunk: LogChunk | None = None
        self.woken = anyio.Event()


def read_all(wanted: list[tuple[RunPaths, int]]) -> dict[tuple[Path, int], LogChunk]:
    """Each log's lines after its offset (a chunk at most), rendered: one worker-thread
    call for all of them."""
    chunks = {}
    for paths, offset in wanted:
        envelopes, after = read_events_blocking(paths.events, offset, limit=CHUNK)
        chunks[paths.events, offset] = LogChunk(rendered(envelopes), after)
    return chunks


class LogFollowers:
    """Every stream of one server that waits for lines, looked after together."""

    def __init__(self, closing: anyio.Event) -> None:
        self._closing = closing
        self._waiting: dict[_Follower, None] = {}  # in the order they came
        self._driver: _Follower | None = None

    async def next_chunk(self, paths: RunPaths, offset: int) -> LogChunk | None:
        """The lines that land in the log after ``offset``, once some have; None once
        the server closes."""
        follower = _Follower(paths, offset)
        self._waiting[follower] = None
        if self._driver is None:
            self._driver = follower
        try:
            while follower.chunk is None and not self._closing.is_set():
                if self._driver is follower:
                    await self._tick()
                else:
                    await follower.woken.wait()
                    follower.woken = anyio.Event()
        finally:
            del self._waiting[follower]
            if self._driver is follower:
                self._hand_on()
        return follower.chunk

    def _hand_on(self) -> None:
        self._driver = next(iter(self._waiting), None)
        if self._driver is not None:
            self._driver.woken.set()

    async def _tick(self) -> None:
        with anyio.move_on_after(POLL_SECONDS):
            await self._closing.wait()
        if self._closing.is_set():
            for follower in self._waiting:
                follower.woken.set()
            return
        # A look at a size is one stat of scad's own log (never a FIFO or a link: the
        # agent cannot write there), cheap enough on the loop; quiet logs cost no more.
        sizes: dict[Path, int] = {}
        grown = []
        for follower in self._waiting:
            path = follower.paths.events
            if path not in sizes:
                sizes[path] = log_size(path)
            if sizes[path] > follower.offset:
                grown.append(follower)
        if not grown:
            return
        wanted = {(f.paths.events, f.offset): (f.paths, f.offset) for f in grown}
        chunks = await anyio.to_thread.run_sync(read_all, list(wanted.values()))
        for follower in grown:
            chunk = chunks[follower.paths.events, follower.offset]
            if chunk.end > follower.offset:  # not only a partial last line
                follower.chunk = chunk
                follower.woken.set()


async def follow_log(
    followers: LogFollowers,
    paths: RunPaths,
    offset: int,
    send: Callable[[LogChunk], Awaitable[None]],
) -> None:
    """Hand ``send`` what lands in the log after ``offset``, a chunk at a time, each
    once it was sent; until the server closes."""
    while (chunk := await followers.next_chunk(paths, offset)) is not None:
        await send(chunk)
        offset = chunk.end
