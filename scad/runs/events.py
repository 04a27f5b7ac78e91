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

Readers tolerate a partial last line and event types they do not know.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import anyio
import msgspec

from ._jsondepth import MAX_NESTING, nests_within
from .envelopes import (
    LINE_ERRORS,
    ClaudeLine,
    Envelope,
    Exited,
    Lost,
    ScadEvent,
    decode_line,
    encode_event,
)
from .lives import Life, begins_life
from .records import RunPaths, now_iso
from .summaries import keep_summary

__all__ = [
    "Envelope",
    "LogLine",
    "Position",
    "append_event",
    "decode_line",
    "each_event",
    "envelopes_in",
    "ingest",
    "is_locked",
    "is_supervised",
    "mark_lost",
    "position",
    "read_all_events",
    "read_events",
    "read_events_blocking",
    "supervising",
]

#: How much of the log's end a writer reads at a time to find where it stands.
_TAIL_BLOCK = 64 << 10
#: How much a reader takes in one call: memory stays flat whatever the log's size.
READ_CHUNK = 4 << 20


class LogLine(NamedTuple):
    """One line of a container's stdout, as a writer hands it to :func:`ingest`."""

    #: When the line began (the event log's millisecond format).
    ts: str
    #: The bytes printed, without the newline: UTF-8 or not, checked when written.
    data: bytes
    #: The engine's exact timestamp of its last piece and the count of entries with
    #: that timestamp up to it; None for lines streamed live (they carry no stamps).
    end: str | None = None
    k: int | None = None


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


_decode_claude = msgspec.json.Decoder(ClaudeLine).decode


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


class _PendingEnvelopes:
    """Envelopes gathered under the lock, written with one ``write``."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.parts: list[bytes] = []

    def _line(self, fields: bytes, ts: str | None) -> bytes:
        head = b'{"seq":%d,"ts":"%s",' % (self.seq + 1, (ts or now_iso()).encode())
        return head + fields + b"}"

    def _add(self, line: bytes) -> None:
        self.seq += 1
        self.parts.append(line + b"\n")

    def raw(self, fields: bytes, ts: str | None = None) -> None:
        self._add(self._line(fields, ts))

    def event(self, event: ScadEvent, cid: str | None) -> None:
        """A scad event about container ``cid``, stamped with the event's ``ts`` or now."""
        event = msgspec.structs.replace(event, cid=cid)
        self._add(encode_event(event, self.seq + 1, event.ts or now_iso()))

    def claude(self, head: bytes, data: bytes, ts: str) -> None:
        """One line of Claude's output, after the fields in ``head``: its JSON as
        ``data`` when every reader reads the line back with that JSON as its ``data`` and
        nothing else, else as ``text``. The check
        builds no objects: a line of megabytes costs its bytes, not their decoding."""
        raw = _utf8(data)
        value = raw.strip()
        if value and nests_within(value, MAX_NESTING):
            line = self._line(head + b'"data":' + value, ts)
            try:
                stored = _decode_claude(line)  # the very line, as the log's readers read it
            except LINE_ERRORS:  # an agent can print anything
                pass
            else:
                # One JSON value and nothing after it: `{...},"src":"scad",...` would
                # otherwise add (or override) the envelope's own fields.
                if bytes(stored.data) == value:
                    self._add(line)
                    return
        self.raw(head + _text_field(raw.decode()), ts)

    def claude_lines(self, head: bytes, first: int, lines: Sequence[LogLine]) -> None:
        """Lines ``first, first+1, ...`` of Claude's output after the fields in
        ``head``, each kept as :meth:`claude` keeps it. Claude's lines are all JSON:
        they are checked together, with one decoding of the batch in C, and a batch
        that fails the check (or a single line) is gone over a line at a time."""
        values = [line.data.strip() for line in lines]
        if len(lines) < 2 or not _each_one_value(values):
            for index, line in enumerate(lines, start=first):
                self.claude(head + _place(index, line), line.data, line.ts)
            return
        seq, now = self.seq + 1, now_iso().encode()
        if all(line.end is not None for line in lines):  # from the engine's log: one format
            self.parts += [
                b'{"seq":%d,"ts":"%s",%s"n":%d,"end":"%s","k":%d,"data":%s}\n'
                % (
                    seq + i,
                    ts.encode() or now,
                    head,
                    first + i,
                    (end or "").encode(),
                    k or 0,
                    value,
                )
                for i, ((ts, _, end, k), value) in enumerate(zip(lines, values, strict=True))
            ]
        else:
            self.parts += [
                b'{"seq":%d,"ts":"%s",%s%s"data":%s}\n'
                % (seq + i, line.ts.encode() or now, head, _place(first + i, line), value)
                for i, (line, value) in enumerate(zip(lines, values, strict=True))
            ]
        self.seq += len(lines)


_decode_values = msgspec.json.Decoder(list[msgspec.Raw]).decode


def _each_one_value(values: list[bytes]) -> bool:
    """Whether every one of ``values`` is one JSON value, nothing before or after it,
    nesting within :data:`MAX_NESTING`: what :meth:`_PendingEnvelopes.claude` keeps as
    ``data``. As the items of one array, each must be read back as itself: an item
    that is not one value shifts, splits or breaks the array; and all of them must be
    UTF-8 (a value's strings are not decoded, so not checked, by the array's)."""
    if not all(v.count(b"[") + v.count(b"{") <= MAX_NESTING for v in values):
        return False  # (the opener count is the depth check's own first step)
    joined = b"[" + b",".join(values) + b"]"
    if not _is_utf8(joined):
        return False
    try:
        items = _decode_values(joined)
    except LINE_ERRORS:
        return False
    return list(map(bytes, items)) == values


def _is_utf8(data: bytes) -> bool:
    if data.isascii():  # nearly always, and checked far faster than a decoding
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _utf8(data: bytes) -> bytes:
    """``data`` as UTF-8: bytes that are not are each replaced (U+FFFD), not dropped."""
    return data if _is_utf8(data) else data.decode(errors="replace").encode()


def _place(index: int, line: LogLine) -> bytes:
    """The fields that say which line of the container's output ``line`` is."""
    place = b'"n":%d,' % index
    if line.end is not None:
        place += b'"end":"%s","k":%d,' % (line.end.encode(), line.k or 0)
    return place


#: The most a line kept as text takes in the log: escaping can make a line of
#: control characters six times its size, and a reader holds a line whole.
MAX_TEXT = 16 << 20


def _text_field(text: str) -> bytes:
    """``"text":...`` for a line kept as text, cut to keep within :data:`MAX_TEXT`."""
    field = msgspec.json.encode({"text": text})[1:-1]
    while len(field) > MAX_TEXT:
        text = text[: len(text) * MAX_TEXT // len(field) - 1]  # escapes grow it evenly enough
        field = msgspec.json.encode({"text": text})[1:-1]
    return field


def _locked_append(
    paths: RunPaths, cid: str | None, fill: Callable[[_PendingEnvelopes, Position], T]
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
                batch = _PendingEnvelopes(seq)
                result = fill(batch, where)
                if batch.parts:
                    log.write(b"".join(batch.parts))
                    log.flush()
                    os.fsync(log.fileno())
                return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _append_and_keep(
    paths: RunPaths, cid: str | None, fill: Callable[[_PendingEnvelopes, Position], T]
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

    def fill(batch: _PendingEnvelopes, _: Position) -> None:
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

    def fill(batch: _PendingEnvelopes, where: Position) -> int:
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

    def fill(batch: _PendingEnvelopes, where: Position) -> None:
        if not where.lost:
            batch.event(Lost(detail=detail), cid)

    await anyio.to_thread.run_sync(_append_and_keep, paths, cid, fill)


def _read_chunk(path: Path | str, offset: int, limit: int) -> bytes | None:
    """The log's bytes from ``offset``: about ``limit`` of them, or on to the end of
    a line longer than that; None when there is no log."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read(limit)
            if len(data) == limit and b"\n" not in data:
                # One line longer than the limit: read on to its end (joined once).
                pieces = [data]
                while (more := log.read(limit)) and b"\n" not in more:
                    pieces.append(more)
                data = b"".join([*pieces, more])
            return data
    except FileNotFoundError:
        return None


async def read_events(
    paths: RunPaths, offset: int = 0, *, limit: int = READ_CHUNK
) -> tuple[list[Envelope], int]:
    """Envelopes from byte ``offset`` up to the last complete line within about
    ``limit`` bytes, and the offset after them; call again from there for more.

    The read is one worker-thread call: cancelled, it still ends and closes the
    log before the cancellation lands (a reader that streams to many clients,
    each of which may go away mid-read, leaks no file)."""
    data = await anyio.to_thread.run_sync(_read_chunk, paths.events, offset, limit)
    return envelopes_in(data, offset)


def read_events_blocking(
    log: Path | str, offset: int = 0, *, limit: int = READ_CHUNK
) -> tuple[list[Envelope], int]:
    """:func:`read_events` of the log at ``log``, in the calling thread (one that
    reads many logs in one worker-thread call)."""
    return envelopes_in(_read_chunk(log, offset, limit), offset)


def envelopes_in(data: bytes | None, offset: int) -> tuple[list[Envelope], int]:
    """The envelopes of the complete lines of ``data``, read at ``offset``, and the
    offset after them."""
    if data is None:
        return [], offset
    end = data.rfind(b"\n") + 1
    envelopes = []
    # Lines end at \n only: a \r inside Claude's JSON (whitespace there) must not
    # cut one envelope into pieces that read as envelopes of their own.
    for line in data[:end].split(b"\n"):
        if (envelope := decode_line(line)) is not None:
            envelopes.append(envelope)  # a damaged line is skipped, not fatal
    return envelopes, offset + end


async def each_event(paths: RunPaths) -> AsyncIterator[Envelope]:
    """Every envelope of the log, read a chunk at a time (for going over a whole run
    with memory flat in the log's size)."""
    offset = 0
    while True:
        batch, after = await read_events(paths, offset)
        if after == offset:
            return
        for envelope in batch:
            yield envelope
        offset = after


async def read_all_events(paths: RunPaths) -> list[Envelope]:
    """Every envelope of the log, in a list (a log known to be small)."""
    return [envelope async for envelope in each_event(paths)]
