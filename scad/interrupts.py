"""Ctrl-C and SIGTERM as an anyio cancellation, so that shielded clean-ups hold.

asyncio's runner answers a Ctrl-C by cancelling its main task natively, and no
``CancelScope(shield=True)`` holds against that: a container create shielded so
that a Ctrl-C waits for the container's id was cut short, the roll-back found no
container yet, and the one the engine made a moment later was no run's. A command
runs instead in a cancel scope that the signals cancel (:func:`run_until_stopped`),
and every shield holds. SIGTERM (a ``kill``, ``timeout``, a process manager) and
SIGHUP (its terminal closed) stop it the same way: it rolls back what it was making.

Every handler here is Python's own, put in place with one ``signal.signal`` and
put back with another, so there is no moment between two handlers when a signal
takes its default action; a signal the parent had ignored (a background job's
SIGINT) stays ignored. A command that takes a signal itself for a while (a
watch's Ctrl-C ends the watch) opens :func:`open_signal_receiver`; a blocking
prompt lets a Ctrl-C abort it (:func:`ctrl_c_aborts`), and an editor that has the
terminal takes its Ctrl-C for itself (:func:`ctrl_c_ignored`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Any

import anyio

__all__ = [
    "STOP_SIGNALS",
    "ctrl_c_aborts",
    "ctrl_c_ignored",
    "open_signal_receiver",
    "run_until_stopped",
]

#: The signals that stop a command: a Ctrl-C, a polite kill, and its terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: Signals a receiver holds until they are read; more at once are dropped (one
#: read already says what a second would).
_RECEIVED_BUFFER = 8

#: What ``signal.signal`` takes: a function, or SIG_IGN / SIG_DFL.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers


@contextlib.contextmanager
def _handling(signals: tuple[signal.Signals, ...], handler: Handler) -> Iterator[None]:
    """``handler`` for ``signals`` (those not ignored), the handlers found put back after."""
    found = {}
    for signum in signals:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            found[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, previous in found.items():
            signal.signal(signum, previous)


async def run_until_stopped(
    command: Callable[[], Awaitable[object]], *, repeated: Callable[[], None] | None = None
) -> int | None:
    """Run ``command`` in a scope that :data:`STOP_SIGNALS` cancel; when one stopped
    it, the exit code a shell gives a process that signal ended (128 + its number),
    else None. A signal after the first calls ``repeated`` (to say what is going on)
    and changes nothing else: the clean-ups then under way are shielded, and each is
    bounded by its own timeout. A signal that comes once nothing is left to cancel
    (the command's last shielded step) lets it end as it would have. Call it in the
    main thread (the one that takes signals)."""
    loop = asyncio.get_running_loop()
    stopped_by: list[int] = []
    with anyio.CancelScope() as scope:

        def stop(signum: int, frame: FrameType | None) -> None:
            # Run between two bytecodes of whatever the loop's thread was doing: the
            # loop is told, and cancels at its next turn.
            if stopped_by:
                if repeated is not None:
                    repeated()
                return
            stopped_by.append(signum)
            loop.call_soon_threadsafe(scope.cancel)

        with _handling(STOP_SIGNALS, stop):
            await command()
    return 128 + stopped_by[0] if scope.cancelled_caught else None


@contextlib.contextmanager
def open_signal_receiver(*signals: signal.Signals) -> Iterator[AsyncIterator[signal.Signals]]:
    """The ``signals`` that arrive while the block runs, to be read as they come (in
    place of what they would do otherwise: stop the command, say)."""
    loop = asyncio.get_running_loop()
    send, receive = anyio.create_memory_object_stream[signal.Signals](_RECEIVED_BUFFER)

    def deliver(signum: int) -> None:
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
            send.send_nowait(signal.Signals(signum))

    def received(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(deliver, signum)

    with send, receive, _handling(signals, received):
        yield receive


@contextlib.contextmanager
def ctrl_c_aborts() -> Iterator[None]:
    """While a blocking prompt waits for its answer (the loop gets no turn), a Ctrl-C
    raises KeyboardInterrupt there, as Python's default does: the prompt is
    aborted, not answered later."""
    with _handling((signal.SIGINT,), signal.default_int_handler):
        yield


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """While a program scad waits for has the terminal (an editor), a Ctrl-C is that
    program's (an editor cancels with it), not scad's, as git does for its editor."""
    with _handling((signal.SIGINT,), signal.SIG_IGN):
        yield
