"""A task's stdout into its run's event log, exactly once.

The swarm's task log (``/tasks/{id}/logs``) holds every line from the task's first,
with the engine's nanosecond timestamps, whenever it is opened: nothing is lost
between the task's start and the follow. Each line is stored with the ``end`` and
``k`` of its last piece, as a local run's catch-up stores them, so a follow that
broke resumes from the log's own position (``since`` that instant, the entries
already held dropped). The follow never ends on its own; the run's supervisor
cancels it once the task is over and reads the rest with :func:`read_rest`.
"""

from __future__ import annotations

import anyio

from ..engine import SwarmEngine
from ..errors import ScadError
from ..runs.events import LogLine, ingest, position
from ..runs.lines import LogLines, unix_time
from ..runs.outcomes import Watch
from ..runs.records import RunPaths

__all__ = ["follow_task", "read_rest"]

#: Pauses before a broken follow is opened again: the first, and the longest.
REOPEN_PAUSES = (0.2, 5.0)


async def _take(
    paths: RunPaths, task_id: str, watch: Watch, first: int, lines: list[LogLine]
) -> int:
    await ingest(paths, task_id, first, lines)
    for line in lines:
        watch.saw(line.data)
    return first + len(lines)


async def _read(
    swarm: SwarmEngine, paths: RunPaths, task_id: str, watch: Watch, *, follow: bool
) -> LogLines:
    """One read of the task's log from where the event log stands; the parser holds
    what it read of a line not ended yet."""
    where = await position(paths, task_id)
    parser = LogLines(last=where.end, same=where.k)
    since = unix_time(where.end) if where.end is not None else None
    index = where.next_line
    async with swarm.open_task_logs(task_id, since=since, follow=follow) as chunks:
        async for entries in chunks:
            if lines := parser.feed_all(entries):
                index = await _take(paths, task_id, watch, index, lines)
    return parser


async def follow_task(swarm: SwarmEngine, paths: RunPaths, task_id: str, watch: Watch) -> None:
    """Follow the task's log into the run's until cancelled, opened again (from the
    log's position) whenever the stream breaks or ends."""
    pause, longest = REOPEN_PAUSES
    while True:
        try:
            await _read(swarm, paths, task_id, watch, follow=True)
            pause = REOPEN_PAUSES[0]
        except ScadError:
            pause = min(2 * pause, longest)
        await anyio.sleep(pause)


async def read_rest(swarm: SwarmEngine, paths: RunPaths, task_id: str, watch: Watch) -> int:
    """The rest of an ended task's log (its last line even without a newline); the
    number of the line after it, where its exit goes."""
    parser = await _read(swarm, paths, task_id, watch, follow=False)
    where = await position(paths, task_id)
    return await _take(paths, task_id, watch, where.next_line, parser.finish())
