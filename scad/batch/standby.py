"""A batch's supervisor started ahead of its batch.

A background supervisor is a Python process of its own: started only once the
batch is made, its interpreter's start and imports would come after everything
else. :func:`supervisor_standby` starts it first, as ``python -P -m
scad.batch.process --standby``: it imports what supervising takes while the
command checks the config, builds the image and writes the batch, then waits for
the batch's id on its standard input. :func:`~scad.batch.process.spawn_supervisor`
hands it over; a standby never handed a batch is ended with the block, having done
nothing (and, should the command die first, reads the end of its input and ends).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from ..detached import spawn
from ..home import Home

__all__ = ["Standby", "supervisor_standby"]

#: What the standby is told: a batch id, then the end of its input.
STANDBY_ARGS = ["--standby"]


class Standby:
    """A supervisor process waiting for its batch."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.handed = False

    def hand_over(self, batch_id: str) -> subprocess.Popen[bytes] | None:
        """Give the standby ``batch_id`` to supervise; None when it is gone (it died,
        or was handed one before)."""
        stdin = self.process.stdin
        if stdin is None or stdin.closed or self.process.poll() is not None:
            return None
        try:
            stdin.write(f"{batch_id}\n".encode())
            stdin.close()
        except OSError:  # it died meanwhile
            return None
        self.handed = True
        return self.process

    def release(self) -> None:
        """End a standby not handed a batch (it holds nothing), and reap it. Blocking."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if not self.handed:
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def supervisor_standby(home: Home) -> AsyncIterator[Standby]:
    """A supervisor standing by for a batch of ``home`` while the block makes it."""
    process = await anyio.to_thread.run_sync(
        lambda: spawn(
            "scad.batch.process", STANDBY_ARGS, None,
            {**os.environ, "SCAD_HOME": str(home.root)}, stdin=subprocess.PIPE,
        )
    )  # fmt: skip
    standby = Standby(process)
    try:
        yield standby
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(standby.release)
