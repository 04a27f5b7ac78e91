"""A command run to its end as a process, off the event loop and ended cleanly when
cancelled, its output kept whole (:func:`completed`) or up to a bound (:func:`bounded`).

This is how :mod:`.git` runs git; which command, and what its failure means, are
its own.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import IO, TypeVar

import anyio
import msgspec

__all__ = ["Bounded", "bounded", "completed"]

T = TypeVar("T")

#: How long a cancelled command has to end on SIGTERM before it is killed.
END_SECONDS = 5.0


async def completed(
    command: Sequence[str], env: dict[str, str], input: bytes | None
) -> tuple[int, bytes, bytes]:
    """Run ``command`` to its end in worker threads: spawning a process (a fork of a
    big interpreter) and reaping it would otherwise hold the event loop. Cancelled,
    the process is asked to end (SIGTERM: git then removes its lock files, as a
    killed one cannot, and a host branch stays writable), killed if it has not within
    :data:`END_SECONDS`, and reaped before the cancellation goes on."""
    stdin = subprocess.DEVNULL if input is None else subprocess.PIPE
    process = await anyio.to_thread.run_sync(_spawn, command, env, stdin, subprocess.PIPE)
    pipes = _Pipes(process)
    try:
        stdout, stderr = await anyio.to_thread.run_sync(
            pipes.talk, partial(process.communicate, input), abandon_on_cancel=True
        )
    except BaseException:
        process.terminate()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(END_SECONDS):
                await anyio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
            process.kill()
            await anyio.to_thread.run_sync(process.wait)
        pipes.close_unread()
        raise
    return process.returncode, stdout, stderr


class _Pipes:
    """A process's pipes, read to their end by the worker thread that talks to it, or
    closed here when that thread never began: a cancellation can come before a
    worker thread starts, and the pipes would be left open."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._taken = threading.Lock()  # by whichever comes first

    def talk(self, read: Callable[[], T]) -> T:
        """``read()`` the process's output, in the worker thread."""
        if not self._taken.acquire(blocking=False):  # the caller was cancelled and has gone
            raise RuntimeError("the process's pipes were closed unread")
        return read()

    def close_unread(self) -> None:
        """Close the pipes when no thread began to read them (one that did closes them
        as its read ends)."""
        if self._taken.acquire(blocking=False):
            for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
                if pipe is not None:
                    pipe.close()


def _spawn(
    command: Sequence[str], env: dict[str, str], stdin: int, stderr: int | IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr)


class Bounded(msgspec.Struct, frozen=True, kw_only=True):
    """What a command printed, up to a bound: whole lines only when it was cut."""

    data: bytes
    cut: bool

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


async def bounded(
    command: Sequence[str], env: dict[str, str], limit: int, line_end: bytes
) -> tuple[int, Bounded, str]:
    """Run ``command`` keeping up to ``limit`` bytes of its output: its exit status,
    what was kept, and the last line of its errors."""
    # stderr to a file: a pipe nobody drains while stdout is read could block git.
    with tempfile.TemporaryFile() as err:
        process = await anyio.to_thread.run_sync(_spawn, command, env, subprocess.DEVNULL, err)
        pipes = _Pipes(process)
        try:
            head = await anyio.to_thread.run_sync(
                pipes.talk, partial(_read_head, process, limit, line_end), abandon_on_cancel=True
            )
        except BaseException:
            process.kill()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(process.wait)
            pipes.close_unread()
            raise
        if head.cut or process.returncode == 0:
            return process.returncode, head, ""
        err.seek(0)
        message = err.read(64 << 10).decode(errors="replace").strip().splitlines()
    detail = message[-1] if message else f"exit code {process.returncode}"
    return process.returncode, head, detail


def _read_head(process: subprocess.Popen[bytes], limit: int, line_end: bytes) -> Bounded:
    """Up to ``limit`` bytes of the process's output; past them it is killed."""
    assert process.stdout is not None
    with process.stdout:
        data = process.stdout.read(limit + 1)
        cut = len(data) > limit
        if cut:
            process.kill()
            data = data[: data.rfind(line_end, 0, limit) + 1]
    process.wait()
    return Bounded(data=data, cut=cut)
