"""Ctrl-C and SIGTERM as an anyio cancellation, so that shielded clean-ups hold.

asyncio's runner answers a Ctrl-C by cancelling its main task natively, and no
``CancelScope(shield=True)`` holds against that: a container create shielded so
that a Ctrl-C waits for the container's id was cut short, the roll-back found no
container yet, and the one the engine made a moment later was no run's. A command
runs instead in a cancel scope that the signals cancel (:func:`run_until_stopped`), and
every shield holds.
SIGTERM (a ``kill``, ``timeout``, a process manager) stops it the same way: it
rolls back what it was making, where the default action ended scad mid-way.

A command that takes a signal itself for a while (a watch's Ctrl-C ends the watch)
opens :func:`open_signal_receiver`: anyio's own puts back Python's default handlers
when it is left, after which a Ctrl-C would be a KeyboardInterrupt wherever the
command was.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import anyio

__all__ = ["STOP_SIGNALS", "open_signal_receiver", "run_until_stopped"]

#: The signals that stop a command: a Ctrl-C, and a polite kill.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_until_stopped(command: Callable[[], Awaitable[object]]) -> int | None:
    """Run ``command`` in a scope that :data:`STOP_SIGNALS` cancel; when one stopped
    it, the exit code a shell gives a process that signal ended (128 + its number),
    else None. Only the main thread sets signal handlers: run the loop there."""
    loop = asyncio.get_running_loop()
    stopped_by: list[int] = []
    with anyio.CancelScope() as scope:

        def stop(signum: int, frame: FrameType | None) -> None:
            # Python runs this between two bytecodes of whatever the loop's thread is
            # doing: the loop is told, and cancels at its next turn. A second signal
            # changes nothing: the clean-ups then under way are shielded and each is
            # bounded by its own timeout (Ctrl-\ still ends scad at once).
            if not stopped_by:
                stopped_by.append(signum)
                loop.call_soon_threadsafe(scope.cancel)

        found = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
        try:
            await command()
        finally:
            for signum, handler in found.items():
                signal.signal(signum, handler)
    return 128 + stopped_by[0] if scope.cancelled_caught else None


@contextmanager
def open_signal_receiver(*signals: signal.Signals) -> Iterator[AsyncIterator[signal.Signals]]:
    """anyio's receiver of ``signals``, which puts back, when it is left, the handlers
    it found (a command's :func:`run_until_stopped`), not Python's defaults."""
    found = {signum: signal.getsignal(signum) for signum in signals}
    try:
        with anyio.open_signal_receiver(*signals) as received:
            yield received
    finally:
        for signum, handler in found.items():
            signal.signal(signum, handler)
