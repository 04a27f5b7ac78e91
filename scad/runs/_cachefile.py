"""Small cache files in a run's root, rewritten in place and read only when whole.

A look at many runs may bring each run's cache up to date. Replacing a file
(a new one renamed over the old) frees the old one's blocks, and on this file
system that costs a journal commit's worth of time each (0.3-2 ms, 500 runs:
seconds); writing over the file where it is costs microseconds. So a cache is
rewritten in place, and carries a digest of itself: a read that meets a write
half done, two writers' bytes mixed, or a crash's leftovers, sees a digest that
does not match and takes the cache as missing (it is then recomputed).

The run's root is scad's, but the files are read as untrusted: without following
a link, only a regular file (a FIFO cannot block), up to a bound. A link or a
FIFO where a cache belongs is replaced, not written through.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .. import agentfs
from ..errors import AgentFileError

__all__ = ["read_cache", "write_cache"]

T = TypeVar("T")

#: The digest's length in hex, and the newline after it.
_HEAD = 32 + 1
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).hexdigest().encode()


def read_cache(path: Path, decode: Callable[[bytes], T], *, limit: int) -> T | None:
    """The cache at ``path`` as ``decode`` makes it; None when it is missing, not a
    regular file, over ``limit`` bytes, not whole (its digest does not match) or
    does not decode."""
    try:
        data = agentfs.read_file(path, limit=limit + _HEAD)
    except AgentFileError:
        return None
    body = data[_HEAD:]
    if data[_HEAD - 1 : _HEAD] != b"\n" or data[: _HEAD - 1] != _digest(body):
        return None
    try:
        return decode(body)
    except agentfs.JSON_ERRORS:
        return None


def write_cache(path: Path, body: bytes, *, limit: int) -> None:
    """Write ``body`` as the cache at ``path``, over the old one where it is. Nothing
    is written when it would not be read back (over ``limit``), nor when it cannot be
    (a folder in the way, a full disk, a run being removed): the next look tries again."""
    if len(body) > limit:
        return
    data = _digest(body) + b"\n" + body
    try:
        fd = os.open(path, _WRITE_FLAGS, 0o600)
    except OSError:
        _replace(path, data)  # a link (not followed), a FIFO nobody reads, a folder
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            fd = -1
            _replace(path, data)  # a FIFO: replaced, never written to
            return
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    except OSError:
        pass
    finally:
        if fd >= 0:
            os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` as a new file renamed over whatever is there."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
