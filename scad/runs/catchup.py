"""A run's event log brought up to date from the engine, once or live, and followed.

Claude writes stream-json to the container's stdout whether or not scad is
watching; the engine keeps it (scad's containers log with no rotation). A run
under a supervisor is written live; whoever reads a log nobody watched catches it
up from the engine's log. Both write through :func:`scad.runs.events.ingest`, so each
line lands once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from ..engine import ContainerState
from ..errors import ScadError
from ..home import Home
from ..taskgroups import open_task_group
from .envelopes import Envelope, Exited
from .events import LogLine, ingest, is_supervised, mark_lost, position
from .lines import LogLines, event_time, unix_time
from .logread import read_events
from .records import RunPaths, RunRecord

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "CATCH_UPS_AT_ONCE",
    "catch_up",
    "exit_of",
    "follow_engine",
    "last_stderr",
    "stderr_lines",
    "stream_events",
    "tail_events",
]

#: Lines of stderr kept in the `exited` event of a failed run.
STDERR_TAIL = 5
#: The engine's log entries read for them: an entry is a line, or a piece of one (16
#: KiB at most), blank lines count too, and the engine counts a tail over stdout and
#: stderr both, so the last entries may all be stdout's. When they hold fewer lines
#: than wanted, the last :data:`MORE_STDERR_ENTRIES` are read (16 MiB at most).
STDERR_ENTRIES = 64
MORE_STDERR_ENTRIES = 1024
#: Characters kept of each of those lines (an agent can print one of any length).
STDERR_LINE_CHARS = 2000
#: Lines of the engine's log gathered before they are written, in characters of
#: its entries: a catch-up holds no more than three such batches (one written, one
#: waiting, one gathered) and one line, whatever the log's size.
BATCH_CHARS = 1 << 20
#: Catch-ups from the engine at once, where many runs are caught up together: each
#: holds a connection and a batch.
CATCH_UPS_AT_ONCE = 8
#: How often a follower looks for lines that other writers appended.
POLL_SECONDS = 0.2


async def exit_of(engine: Engine, container: ContainerState) -> Exited:
    """The ``exited`` event of a stopped container: code, OOM, and a failure's stderr."""
    exit_code = container.exit_code if container.exit_code is not None else -1
    stderr = None
    if exit_code != 0:

        async def read(tail: int) -> list[str]:
            return await engine.logs(container.id, stderr=True, tail=tail)

        stderr = await last_stderr(read)
    return Exited(
        ts=event_time(container.finished_at) if container.finished_at else "",
        exit_code=exit_code,
        oom=container.oom_killed,
        life=container.started_at,
        stderr=stderr,
    )


async def last_stderr(read: Callable[[int], Awaitable[list[str]]]) -> str | None:
    """The last :data:`STDERR_TAIL` lines of a log's stderr that are not blank (None:
    none), each cut to :data:`STDERR_LINE_CHARS`; ``read(N)`` gives its entries among
    the last N. When the first read fails, so does this; when the second does, what
    the first found is kept."""
    lines = stderr_lines("".join(await read(STDERR_ENTRIES)))
    if len(lines) < STDERR_TAIL:
        with contextlib.suppress(ScadError, TimeoutError):
            lines = stderr_lines("".join(await read(MORE_STDERR_ENTRIES)))
    return "\n".join(lines[-STDERR_TAIL:]) or None


def stderr_lines(text: str) -> list[str]:
    """The lines of a failure's stderr in ``text`` worth keeping: those not blank, each
    cut to :data:`STDERR_LINE_CHARS`."""
    return [line[:STDERR_LINE_CHARS] for line in text.splitlines() if line.strip()]


async def catch_up(
    engine: Engine,
    home: Home,
    record: RunRecord,
    *,
    supervisor: bool = False,
) -> bool:
    """Ingest what the container printed that the log lacks; True while it may print more.

    When the log's last line came from the engine's log, only what follows it
    is fetched (entries sharing its timestamp are told apart by count), so
    reading a long run again costs what is new. A run whose exit is logged asks
    the engine only when that life began: a container restarted since (its stop
    seen, then its new life missed) has more to say. A run under a live
    supervisor is left to it, unless the caller is that supervisor. A container
    that is gone before its output was read leaves a ``lost`` event.
    """
    container_id = record.container_id
    if not container_id or record.cleaned:
        return False
    paths = RunPaths(home, record.run_id)
    where = await position(paths, container_id)
    if where.lost:
        return False
    if not supervisor and await anyio.to_thread.run_sync(is_supervised, paths):
        return True  # its supervisor writes it live, the exit included
    container = await engine.inspect(container_id)
    if container is None:
        if where.done:
            return False  # removed after its exit was logged: nothing was lost
        detail = (
            f"the container was removed before scad read its output from line {where.next_line} on"
        )
        await mark_lost(paths, container_id, detail)
        return False
    if where.ended(container.started_at):
        return False
    finished = container.status in ("exited", "dead")
    life = container.started_at
    # Only what follows the log's last line from the engine is asked for; lines the
    # log holds already (written live) are read again, and skipped by ingest.
    first = where.next_line if where.end is not None else 0
    since = unix_time(where.end) if where.end is not None else None
    parser = LogLines(last=where.end, same=where.k)
    # The engine's log is read and parsed while the batch before is written: the
    # writing (a worker thread, mostly waiting for the disk) hides behind the read.
    send, receive = anyio.create_memory_object_stream[list[LogLine]](1)

    async def write() -> None:
        nonlocal first
        async with receive:
            async for lines in receive:
                await ingest(paths, container_id, first, lines, life=life)
                first += len(lines)

    async with (
        engine.open_logs(container_id, since=since, follow=False) as chunks,
        open_task_group() as tg,
    ):
        tg.start_soon(write)
        async with send:
            async for lines in _batches(chunks, parser):
                await send.send(lines)
    exit, rest = None, []
    if finished:
        # Output that ended without a newline is a last line, not one still being written.
        rest = parser.finish()
        exit = await exit_of(engine, container)
    await ingest(paths, container_id, first, rest, exit=exit, life=life)
    return not finished


async def _batches(
    chunks: AsyncIterator[list[bytes]], parser: LogLines
) -> AsyncIterator[list[LogLine]]:
    """The complete lines of the engine's log entries, about :data:`BATCH_CHARS` at a time."""
    batch: list[LogLine] = []
    size = 0
    async for entries in chunks:
        batch += parser.feed_all(entries)
        size += sum(map(len, entries))
        if size >= BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


async def follow_engine(
    engine: Engine, home: Home, record: RunRecord, *, supervisor: bool = False
) -> None:
    """Ingest the container's output from the engine as it comes, until it has ended
    (a container not started yet, or restarting, is waited for). ``supervisor``: the
    caller supervises the run (see :func:`catch_up`)."""
    container_id = record.container_id
    if not container_id:
        return
    paths = RunPaths(home, record.run_id)
    while await catch_up(engine, home, record, supervisor=supervisor):
        where = await position(paths, container_id)
        if where.end is None:
            await anyio.sleep(POLL_SECONDS)  # nothing from the engine's log yet
            continue
        index = where.next_line
        parser = LogLines(last=where.end, same=where.k)
        async with engine.open_logs(container_id, since=unix_time(where.end)) as chunks:
            async for entries in chunks:
                if lines := parser.feed_all(entries):
                    await ingest(paths, container_id, index, lines)
                    index += len(lines)
        await anyio.sleep(POLL_SECONDS)  # the stream ended: stopped, or restarting


Emit = Callable[[list[Envelope], bool], None]


async def _emit_new(paths: RunPaths, offset: int, emit: Emit, live: bool) -> int:
    """Hand every complete envelope after ``offset`` to ``emit``, a chunk at a time."""
    while True:
        envelopes, after = await read_events(paths, offset)
        if after == offset:
            return offset
        emit(envelopes, live)
        offset = after


async def stream_events(
    engine: Engine | None,
    home: Home,
    record: RunRecord,
    emit: Emit,
    *,
    follow: bool,
) -> bool:
    """Hand the run's envelopes to ``emit`` a chunk at a time (memory stays flat), then,
    with ``follow`` and while the run goes on, new ones as they land; ``emit``'s
    second argument says which (False for what was there before). Returns
    whether the run is still going when this returns.

    Without the engine (None), the log is as last read, and ``follow`` hands on what
    other writers (a supervisor) append to it, until cancelled."""
    paths = RunPaths(home, record.run_id)
    if engine is None:
        offset = await _emit_new(paths, 0, emit, False)
        if follow:  # never done: until interrupted
            await tail_events(paths, emit, anyio.Event(), offset=offset)
        return False
    running = await catch_up(engine, home, record)
    offset = await _emit_new(paths, 0, emit, False)
    if not (follow and running):
        return running
    done = anyio.Event()

    async def ingest_live() -> None:
        await follow_engine(engine, home, record)
        done.set()

    async with open_task_group() as tg:
        tg.start_soon(ingest_live)
        await tail_events(paths, emit, done, offset=offset)
    return False


async def tail_events(paths: RunPaths, emit: Emit, done: anyio.Event, *, offset: int = 0) -> int:
    """Hand the log's envelopes to ``emit`` as other writers append them (from
    ``offset``), until ``done`` is set and the rest is read; returns the offset."""
    while True:
        finished = done.is_set()
        offset = await _emit_new(paths, offset, emit, True)
        if finished:
            return offset
        with anyio.move_on_after(POLL_SECONDS):
            await done.wait()
