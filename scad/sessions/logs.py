"""Bringing a run's event log up to date from the engine, once or live.

Claude writes stream-json to the container's stdout whether or not scad is
watching; the engine keeps it. Whoever reads a log first catches it up; the
event log's lock makes sure each line lands once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..events import ingest_claude_lines
from ..home import Home
from ..runs import RunPaths, RunRecord
from .loglines import LogLines

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["catch_up", "follow"]

#: Lines of stderr kept in the `exited` event of a failed run.
STDERR_TAIL = 5


async def catch_up(engine: Engine, home: Home, record: RunRecord) -> bool:
    """Ingest what the container has printed so far; True while it still runs."""
    if not record.container_id:
        return False
    state = await engine.inspect(record.container_id)
    if state is None:
        return False
    parser = LogLines()
    lines = [
        line
        for entry in await engine.logs(record.container_id, timestamps=True)
        for line in parser.feed(entry)
    ]
    finished = state.status in ("exited", "dead")
    exit_code, detail = None, None
    if finished:
        # Output that ended without a newline is a last line, not one still being written.
        lines += parser.finish()
        exit_code = state.exit_code if state.exit_code is not None else -1
        if exit_code != 0:
            stderr = (
                "".join(await engine.logs(record.container_id, stderr=True)).strip().splitlines()
            )
            detail = "\n".join(stderr[-STDERR_TAIL:]) or None
    ingest_claude_lines(
        RunPaths(home, record.run_id),
        record.container_id,
        0,
        lines,
        exit_code=exit_code,
        detail=detail,
    )
    return not finished


async def follow(engine: Engine, home: Home, record: RunRecord) -> None:
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
