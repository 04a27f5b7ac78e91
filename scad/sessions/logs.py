"""Bringing a run's event log up to date from the engine, once or live.

Claude writes stream-json to the container's stdout whether or not scad is
watching; the engine keeps it. Whoever reads a log first catches it up; the
event log's lock makes sure each line lands once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ..events import Envelope, ingest_claude_lines, ingest_state, read_events
from ..home import Home
from ..runs import RunPaths, RunRecord
from .loglines import LogLines, after, event_time, unix_time

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["catch_up", "ingest_live", "stream_events"]

#: Lines of stderr kept in the `exited` event of a failed run.
STDERR_TAIL = 5
#: How often a follower looks for lines that other writers appended.
POLL_SECONDS = 0.2


async def catch_up(engine: Engine, home: Home, record: RunRecord) -> bool:
    """Ingest what the container printed since the log last caught up; True while it runs.

    Only entries after the last ingested line are fetched, so reading a long
    run again costs what is new, not the whole log.
    """
    if not record.container_id:
        return False
    paths = RunPaths(home, record.run_id)
    ingested = ingest_state(paths, record.container_id)
    if ingested.exited:
        return False  # its exit is in the log: the container has nothing more to say
    state = await engine.inspect(record.container_id)
    if state is None:
        return False
    first, last_entry = ingested.claude_lines, ingested.last_entry
    since = unix_time(last_entry) if last_entry else None
    entries = await engine.logs(record.container_id, timestamps=True, since=since)
    if last_entry:
        # The engine's `since` includes the instant itself: drop what is already in.
        entries = [entry for entry in entries if after(entry, last_entry)]
    parser = LogLines()
    lines = [line for entry in entries for line in parser.feed(entry)]
    finished = state.status in ("exited", "dead")
    exit_code, detail, exited_at = None, None, None
    if finished:
        # Output that ended without a newline is a last line, not one still being written.
        lines += parser.finish()
        exit_code = state.exit_code if state.exit_code is not None else -1
        exited_at = event_time(state.finished_at) if state.finished_at else None
        if exit_code != 0:
            stderr = (
                "".join(await engine.logs(record.container_id, stderr=True)).strip().splitlines()
            )
            detail = "\n".join(stderr[-STDERR_TAIL:]) or None
    ingest_claude_lines(
        paths,
        record.container_id,
        first,
        lines,
        exit_code=exit_code,
        detail=detail,
        exited_at=exited_at,
    )
    return not finished


async def ingest_live(engine: Engine, home: Home, record: RunRecord) -> None:
    """Ingest the container's output as it comes, until it stops."""
    if not record.container_id:
        return
    paths = RunPaths(home, record.run_id)
    parser, index = LogLines(), 0
    async for entry in engine.follow_logs(record.container_id):
        if lines := parser.feed(entry):
            ingest_claude_lines(paths, record.container_id, index, lines)
            index += len(lines)
    await catch_up(engine, home, record)


async def stream_events(
    engine: Engine,
    home: Home,
    record: RunRecord,
    emit: Callable[[list[Envelope]], None],
    *,
    follow: bool,
) -> bool:
    """Hand the run's envelopes to ``emit``: everything so far in one batch, then,
    with ``follow`` and while the run goes on, new ones as they land. Returns
    whether the run is still going when this returns."""
    paths = RunPaths(home, record.run_id)
    running = await catch_up(engine, home, record)
    envelopes, offset = read_events(paths)
    emit(envelopes)
    if not (follow and running):
        return running
    done = anyio.Event()

    async def ingest() -> None:
        await ingest_live(engine, home, record)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(ingest)
        while True:
            finished = done.is_set()
            envelopes, offset = read_events(paths, offset)
            if envelopes:
                emit(envelopes)
            if finished:
                break
            with anyio.move_on_after(POLL_SECONDS):
                await done.wait()
    return False
