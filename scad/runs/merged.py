"""Many runs' event logs as one stream ordered by time, like ``docker compose logs``.

Each log is read a chunk at a time and merged by timestamp, so memory stays
flat whatever the logs' size. Following, the logs are read as other writers (a
supervisor, a catch-up) append to them, new runs are picked up as they appear,
runs nobody else watches are fed from the engine, and each line is handed on once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.abc import TaskGroup

from ..errors import ScadError
from ..home import Home
from ..taskgroups import open_task_group
from .catchup import CATCH_UPS_AT_ONCE, POLL_SECONDS, catch_up, follow_engine
from .envelopes import Envelope
from .logread import read_events
from .records import RunPaths, RunRecord

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "MERGE_CHUNK",
    "RunEnvelope",
    "catch_up_runs",
    "follow_logs",
    "follow_runs",
    "merge_logs",
]

#: What each log is read by when merging: many logs are open at once.
MERGE_CHUNK = 256 << 10
#: How often a follower looks for new runs (for new lines: runlog.POLL_SECONDS).
DISCOVER_SECONDS = 1.0


class RunEnvelope(msgspec.Struct, frozen=True):
    run_id: str
    envelope: Envelope


Emit = Callable[[list[RunEnvelope]], None]
OnError = Callable[[RunRecord, ScadError], None]


class _Reader:
    """One run's log, read forward a chunk at a time."""

    def __init__(self, home: Home, run_id: str, since: str | None) -> None:
        self.run_id = run_id
        self._paths = RunPaths(home, run_id)
        self._since = since
        self.offset = 0

    async def next_chunk(self, limit: int = MERGE_CHUNK) -> list[RunEnvelope]:
        """The next complete envelopes (at or after ``since``); [] at the log's end."""
        while True:
            envelopes, after = await read_events(self._paths, self.offset, limit=limit)
            if after == self.offset:
                return []
            self.offset = after
            chosen = [
                RunEnvelope(self.run_id, e)
                for e in envelopes
                if self._since is None or e.ts >= self._since
            ]
            if chosen:
                return chosen


async def merge_logs(
    home: Home, run_ids: Iterable[str], emit: Emit, *, since: str | None = None, batch: int = 500
) -> dict[str, int]:
    """Hand every envelope of the runs to ``emit`` in time order, ``batch`` at a time;
    returns where each log was read to (for :func:`follow_logs`)."""
    readers = [_Reader(home, run_id, since) for run_id in run_ids]
    pending: dict[int, list[RunEnvelope]] = {}
    heap: list[tuple[str, int, int]] = []  # (ts, reader, position in its chunk)

    async def refill(index: int) -> None:
        chunk = await readers[index].next_chunk()
        if chunk:
            pending[index] = chunk
            heapq.heappush(heap, (chunk[0].envelope.ts, index, 0))

    for index in range(len(readers)):
        await refill(index)
    out: list[RunEnvelope] = []
    while heap:
        _, index, position = heapq.heappop(heap)
        chunk = pending[index]
        out.append(chunk[position])
        if position + 1 < len(chunk):
            heapq.heappush(heap, (chunk[position + 1].envelope.ts, index, position + 1))
        else:
            await refill(index)
        if len(out) >= batch:
            emit(out)
            out = []
    if out:
        emit(out)
    return {reader.run_id: reader.offset for reader in readers}


async def follow_logs(
    home: Home,
    offsets: dict[str, int],
    emit: Emit,
    *,
    discover: Callable[[], Iterable[str]] | None = None,
    until: Callable[[], bool] = lambda: False,
) -> None:
    """Hand on what is appended to the logs after ``offsets``, each poll's lines in
    time order; ``discover`` names runs to pick up as they appear (read from their
    start). Returns once ``until()`` holds and what was there then is handed on.
    Both may read the disk: they are called off the event loop."""
    readers: dict[str, _Reader] = {}
    for run_id, offset in offsets.items():
        readers[run_id] = _Reader(home, run_id, None)
        readers[run_id].offset = offset
    discovered = 0.0
    while True:
        finished = await anyio.to_thread.run_sync(until)
        if discover and (finished or anyio.current_time() - discovered >= DISCOVER_SECONDS):
            discovered = anyio.current_time()  # reading every run's record is not free
            for run_id in await anyio.to_thread.run_sync(discover):
                readers.setdefault(run_id, _Reader(home, run_id, None))
        fresh: list[RunEnvelope] = []
        for reader in readers.values():
            while chunk := await reader.next_chunk():
                fresh += chunk
        if fresh:
            fresh.sort(key=lambda item: item.envelope.ts)
            emit(fresh)
        if finished:
            return
        await anyio.sleep(POLL_SECONDS)


async def catch_up_runs(
    engine: Engine, home: Home, records: Iterable[RunRecord], *, on_error: OnError
) -> None:
    """Catch every run's log up from the engine, a bounded number at a time; a run
    that fails is handed to ``on_error`` and the others go on."""
    limiter = anyio.CapacityLimiter(CATCH_UPS_AT_ONCE)

    async def one(record: RunRecord) -> None:
        async with limiter:
            try:
                await catch_up(engine, home, record)
            except ScadError as exc:
                on_error(record, exc)

    async with open_task_group() as tg:
        for record in records:
            tg.start_soon(one, record)


async def follow_runs(
    engine: Engine,
    home: Home,
    offsets: dict[str, int],
    emit: Emit,
    *,
    select: Callable[[], list[RunRecord]],
    complete: Callable[[], bool] | None,
    on_error: OnError,
) -> None:
    """Hand on what lands in the runs' logs (``select`` names them, and is asked again
    for runs that start later) while feeding each container nobody else watches
    from the engine. Once ``complete()`` says no run will join (always, for runs
    named), it returns when each has a container and none is fed any more;
    without it, it goes on until cancelled. ``select`` and ``complete`` may read the
    disk: they are called off the event loop."""
    fed: set[str] = set()  # container ids being fed or done
    feeding = 0  # engine feeds still running
    all_ended = anyio.Event()

    async def feed(record: RunRecord) -> None:
        nonlocal feeding
        try:
            await follow_engine(engine, home, record)
        except ScadError as exc:
            on_error(record, exc)
        finally:
            feeding -= 1

    async def discover_and_feed(tg: TaskGroup) -> None:
        nonlocal feeding
        while True:
            current = await anyio.to_thread.run_sync(select)
            for record in current:
                if record.container_id and record.container_id not in fed and not record.cleaned:
                    fed.add(record.container_id)
                    feeding += 1
                    tg.start_soon(feed, record)
            if (
                complete is not None
                and await anyio.to_thread.run_sync(complete)
                and feeding == 0
                and all(r.container_id or r.cleaned for r in current)
            ):
                all_ended.set()
                return
            await anyio.sleep(DISCOVER_SECONDS)

    async with open_task_group() as tg:
        tg.start_soon(discover_and_feed, tg)
        await follow_logs(
            home,
            offsets,
            emit,
            discover=lambda: [r.run_id for r in select()],
            until=all_ended.is_set,
        )
        tg.cancel_scope.cancel()
