"""The per-run event log: ``runs/<run-id>/events.jsonl``, append-only.

Each line is an envelope (:mod:`.envelopes`): ``src: "claude"`` lines carry
Claude's stream-json objects verbatim under ``data``; ``src: "scad"`` lines are
scad's own events, one typed Struct a kind, appended whole. Only scad writes it,
on the host.

Where the log has reached is read back from the log itself: each of Claude's
lines says which container printed it (``cid``) and which line of that
container's output it is (``n``), so a writer recovers its position from the
last lines under the lock and every line lands once, whoever writes it (the live
supervisor, or a catch-up from the engine's log) and wherever a writer was
killed. A batch is written with one ``write`` and synced; a writer killed mid-
write leaves a partial last line, which readers skip and the next writer closes.

What the writer stores every reader reads back: a line of Claude's is kept as
``data`` only when the reader's decoder reads the very line written and its JSON
nests far below the decoder's recursion limit (which counts the reader's own
stack); anything else an agent prints is kept as ``text``. So no reader, and no
writer finding its place, depends on decoding what an agent printed.

Readers (:mod:`.logread`) tolerate a partial last line and event types they do not know.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from ._pending import LogLine, PendingEnvelopes
from .envelopes import ClaudeLine, Envelope, Exited, Lost, ScadEvent, decode_line
from .lives import Life, begins_life
from .records import RunPaths
from .summaries import keep_summary

__all__ = [
    "Envelope",
    "LogLine",
    "Position",
    "append_event",
    "decode_line",
    "ingest",
    "is_locked",
    "is_supervised",
    "mark_lost",
    "position",
    "supervising",
]

#: How much of the log's end a writer reads at a time to find where it stands.
_TAIL_BLOCK = 64 << 10


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """How far the log holds one container's output."""

    #: The number of the next line to write.
    next_line: int = 0
    #: ``end`` and ``k`` of the last line written, when it came from the engine's log.
    end: str | None = None
    k: int = 0
    #: Its exit (or its loss) is in the log: nothing more will come, unless the
    #: container was started again since (a restart: see ``exited_life``).
    done: bool = False
    #: When the life whose exit is logged began (the container's StartedAt).
    exited_life: str | None = None
    #: It was removed before its output was read: nothing more can come.
    lost: bool = False

    def ended(self, life: str | None) -> bool:
        """Whether nothing more will come from the container's life that began at
        ``life`` (its StartedAt; None when unknown)."""
        if self.lost or not self.done:
            return self.lost
        return life is None or self.exited_life is None or self.exited_life == life


def _short(container_id: str) -> str:
    return container_id[:12]


def _scan(log: Any, size: int, cid: str | None) -> tuple[int, Position]:
    """The last seq in the log, and where it stands for container ``cid``: its last
    line of output, and its life's end folded from the events that follow it."""
    seq: int | None = None
    after: list[Envelope] = []  # cid's events after its last line, last first
    pieces: list[bytes] = []  # the start of a line longer than a block, last read first
    pos = size
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        log.seek(start)
        block = log.read(pos - start)
        pos = start
        if start > 0 and b"\n" not in block:
            pieces.append(block)  # joined once the line's start is found: no quadratic copying
            continue
        lines = (block + b"".join(reversed(pieces))).split(b"\n")
        pieces = [lines.pop(0)] if start > 0 else []
        for line in reversed(lines):
            envelope = decode_line(line)
            if envelope is None:
                continue  # blank, or a partial line a killed writer left
            if seq is None:
                seq = envelope.seq
            if cid is None:
                return seq, Position()
            if envelope.cid != cid:
                continue
            if isinstance(envelope, ClaudeLine) and envelope.n is not None:
                return seq, _position(cid, envelope.n + 1, envelope, after)
            if begins_life(envelope):
                return seq, _position(cid, 0, None, after)
            after.append(envelope)
    return seq or 0, _position(cid or "", 0, None, after)


def _position(cid: str, next_line: int, last: ClaudeLine | None, after: list[Envelope]) -> Position:
    life = Life(cid=cid)
    for envelope in reversed(after):
        life.feed(envelope)
    return Position(
        next_line=next_line,
        end=last.end if last else None,
        k=(last.k or 0) if last else 0,
        done=life.output_ended,
        exited_life=life.exit.life if life.exit else None,
        lost=life.lost is not None,
    )


T = TypeVar("T")


def _locked_append(
    paths: RunPaths, cid: str | None, fill: Callable[[PendingEnvelopes, Position], T]
) -> T:
    """Under the run's lock: find where the log stands, let ``fill`` add envelopes
    to a batch, append them in one write and sync it. Returns what fill did."""
    with open(paths.lock, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(paths.events, "a+b") as log:
                size = log.seek(0, os.SEEK_END)
                if size:
                    log.seek(size - 1)
                    if log.read(1) != b"\n":
                        log.write(b"\n")  # close a partial line so the next stands alone
                        size += 1
                seq, where = _scan(log, size, cid)
                batch = PendingEnvelopes(seq)
                result = fill(batch, where)
                if batch.parts:
                    log.write(b"".join(batch.parts))
                    log.flush()
                    os.fsync(log.fileno())
                return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _append_and_keep(
    paths: RunPaths, cid: str | None, fill: Callable[[PendingEnvelopes, Position], T]
) -> T:
    """:func:`_locked_append` of a container's end, then the run's summary brought up
    to the log's end: nothing more comes, so the next look at the run reads no log."""
    appended = _locked_append(paths, cid, fill)
    keep_summary(paths)
    return appended


@asynccontextmanager
async def supervising(paths: RunPaths) -> AsyncIterator[None]:
    """Mark the run as written live by this process for the block's duration (a lock
    the kernel drops if the process dies): catch-ups leave such a run to its writer."""
    fd = await anyio.to_thread.run_sync(os.open, paths.supervised, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_supervised(paths: RunPaths) -> bool:
    """Whether a live process supervises the run right now."""
    return is_locked(paths.supervised)


def is_locked(path: Path) -> bool:
    """Whether a live process holds a lock on ``path`` (tried for an instant, not waited)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock, if it was taken
    return False


async def append_event(paths: RunPaths, event: ScadEvent) -> None:
    """Append a scad event (its ``cid``, a container's id, is kept to its first 12
    characters; its ``ts``, when empty, is now)."""
    cid = _short(event.cid) if event.cid else None

    def fill(batch: PendingEnvelopes, _: Position) -> None:
        batch.event(event, cid)

    await anyio.to_thread.run_sync(_locked_append, paths, None, fill)


async def position(paths: RunPaths, container_id: str) -> Position:
    """How far the log holds the container's output (a hint: :func:`ingest` checks again)."""

    def scan() -> Position:
        try:
            with open(paths.events, "rb") as log:
                return _scan(log, log.seek(0, os.SEEK_END), _short(container_id))[1]
        except FileNotFoundError:
            return Position()

    return await anyio.to_thread.run_sync(scan)


async def ingest(
    paths: RunPaths,
    container_id: str,
    first: int,
    lines: Sequence[LogLine],
    *,
    exit: Exited | None = None,
    life: str | None = None,
) -> int:
    """Append the container's stdout lines numbered ``first, first+1, ...`` that the
    log does not hold yet; with ``exit``, then its ``exited`` event, once.

    Both the live supervisor and the catch-up from the engine write through
    here. ``life`` is when the container's current life began (its StartedAt,
    when known): lines of a restarted container are taken after an exit logged
    for an earlier life. The exit is written only when every line before it is
    in the log. Returns how many lines were appended.
    """
    cid = _short(container_id)
    claude_head = b'"src":"claude","cid":"%s",' % cid.encode()
    life = life or (exit.life if exit else None)

    def fill(batch: PendingEnvelopes, where: Position) -> int:
        if where.ended(life):
            return 0
        expected = where.next_line
        # Those the log holds already are skipped; after a gap, none are taken (the
        # lines between are another writer's to bring).
        new = lines[expected - first :] if expected >= first else []
        batch.claude_lines(claude_head, expected, new)
        expected += len(new)
        appended = len(batch.parts)
        if exit is not None and expected >= first + len(lines):
            batch.event(exit, cid)
        return appended

    append = _locked_append if exit is None else _append_and_keep
    return await anyio.to_thread.run_sync(append, paths, cid, fill)


async def mark_lost(paths: RunPaths, container_id: str, detail: str) -> None:
    """Record, once, that the container is gone before all its output was read."""
    cid = _short(container_id)

    def fill(batch: PendingEnvelopes, where: Position) -> None:
        if not where.lost:
            batch.event(Lost(detail=detail), cid)

    await anyio.to_thread.run_sync(_append_and_keep, paths, cid, fill)
