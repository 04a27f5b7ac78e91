"""Writing the gateway's events into each run's file without blocking the loop.

Handlers hand events to the journal; one task writes them, many at a time, in a
worker thread. The gateway process is the only writer of these files (its lock on
the home sees to it), so appends never interleave.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import defaultdict
from pathlib import Path

import anyio
from anyio.abc import TaskStatus

from ..agentfs import open_folder
from ..errors import AgentFileError
from ..home import Home
from ..runs.gatewaylog import EVENTS_FILE, GATEWAY_DIR
from ._events import GatewayEvent, encode_event

__all__ = ["Journal"]

#: Events waiting to be written before a handler waits for room.
_BACKLOG = 10_000


class Journal:
    def __init__(self, home: Home) -> None:
        self._home = home
        self._send, self._receive = anyio.create_memory_object_stream[tuple[str, GatewayEvent]](
            _BACKLOG
        )

    async def record(self, run_id: str, event: GatewayEvent) -> None:
        await self._send.send((run_id, event))

    def close(self) -> None:
        """No more events: :meth:`run` writes what it holds and ends."""
        self._send.close()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            async for first in self._receive:
                waiting = [first]
                # EndOfStream: the gateway closed the journal while these were taken.
                with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                    while len(waiting) < _BACKLOG:
                        waiting.append(self._receive.receive_nowait())
                # Shielded: events taken off the stream are written even while the
                # gateway stops.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._write, waiting)

    def _write(self, events: list[tuple[str, GatewayEvent]]) -> None:
        by_run: dict[str, list[bytes]] = defaultdict(list)
        for run_id, event in events:
            by_run[run_id].append(encode_event(event))
        for run_id, lines in by_run.items():
            try:
                _append(self._home.runs, run_id, b"".join(lines))
            except (OSError, AgentFileError) as exc:
                # A run folder removed under a live request: its events have nowhere to go.
                sys.stderr.write(f"scad gateway: cannot record events of {run_id}: {exc}\n")


def _append(runs: Path, run_id: str, data: bytes) -> None:
    with (
        open_folder(runs) as runs_fd,
        open_folder(Path(run_id, GATEWAY_DIR), dir_fd=runs_fd) as folder,
    ):
        fd = os.open(
            EVENTS_FILE,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=folder,
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
