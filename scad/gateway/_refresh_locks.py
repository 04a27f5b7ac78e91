"""The locks a refresh of the Claude login is made under: an ``flock`` beside the
credentials file, which other gateways take, and the lock folder ``claude`` on the
host takes, so that one refresh token is never sent twice.
"""

from __future__ import annotations

import errno
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio

from ..errors import CredentialsError
from ..locks import hold_flock

__all__ = ["claude_lock", "flock"]

#: How long a lock held by someone else is waited for, and how often it is tried.
_LOCK_WAIT = 90.0
_LOCK_POLL = 0.05
#: Claude Code takes its lock folder over once it is this old (proper-lockfile's stale).
_CLAUDE_LOCK_STALE = 60.0


@asynccontextmanager
async def flock(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made if absent): gateways exclude each
    other, and a holder that dies releases it."""
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(hold_flock(path, wait=_LOCK_WAIT, poll=_LOCK_POLL))
        except TimeoutError:
            raise CredentialsError(
                f"{path} stayed locked for {_LOCK_WAIT:.0f} s; try again"
            ) from None
        except OSError as exc:
            raise CredentialsError(f"cannot lock {path}: {exc.strerror}") from None
        yield


@asynccontextmanager
async def claude_lock(folder: Path) -> AsyncIterator[None]:
    """Hold the lock Claude Code takes to refresh (a folder made with ``mkdir``, taken
    over once :data:`_CLAUDE_LOCK_STALE` old), so ``claude`` on the host waits for us
    and we for it."""
    deadline = anyio.current_time() + _LOCK_WAIT
    while not await anyio.to_thread.run_sync(_try_mkdir_lock, folder):
        if anyio.current_time() > deadline:
            raise CredentialsError(
                f"{folder} stayed locked for {_LOCK_WAIT:.0f} s (claude on the host is "
                "refreshing); try again"
            )
        await anyio.sleep(_LOCK_POLL)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_remove_lock, folder)


def _try_mkdir_lock(folder: Path) -> bool:
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        try:
            age = time.time() - folder.lstat().st_mtime
        except FileNotFoundError:
            return False  # released meanwhile: the next try takes it
        if age > _CLAUDE_LOCK_STALE:
            _remove_lock(folder)  # its holder died
        return False
    except OSError as exc:
        raise CredentialsError(f"cannot lock {folder}: {exc.strerror}") from None
    return True


def _remove_lock(folder: Path) -> None:
    try:
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            raise CredentialsError(f"cannot unlock {folder}: {exc.strerror}") from None
