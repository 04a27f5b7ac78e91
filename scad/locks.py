"""An exclusive file lock that async code waits for without blocking the event loop.

``flock`` is tried without blocking and tried again a moment later, so a waiter
holds no worker thread, can be cancelled, and gives up at a deadline of its own. The
lock is the kernel's: a holder that dies releases it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

__all__ = ["POLL", "hold_flock"]

#: How long a waiter sleeps between two tries.
POLL = 0.05


@asynccontextmanager
async def hold_flock(path: Path, *, wait: float, poll: float = POLL) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made if absent, mode 0600, never
    through a link) for the block.

    Raises TimeoutError when another still holds it after ``wait`` seconds, OSError
    when the file cannot be opened. A waiter that is cancelled or gives up has taken
    nothing: the holder keeps its lock.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = await anyio.to_thread.run_sync(os.open, path, flags, 0o600)
    try:
        deadline = anyio.current_time() + wait
        while not _try_flock(fd):
            if anyio.current_time() > deadline:
                raise TimeoutError(f"{path} stayed locked for {wait:.0f} s")
            await anyio.sleep(poll)
        try:
            yield
        finally:
            # Released before the close: a copy of the descriptor (a child between its
            # fork and its exec) would keep the lock past the close.
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
