"""How a batch of envelopes is made ready for one write to a run's event log.

A line of Claude's is kept as ``data`` only when the log's readers read that very
line back with that JSON as its ``data`` and nothing else, and its JSON nests far
below the decoder's recursion limit; anything else an agent prints is kept as
``text`` (see :mod:`.events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from ._jsondepth import MAX_NESTING, nests_within
from .envelopes import LINE_ERRORS, ClaudeLine, ScadEvent, encode_event
from .records import now_iso

__all__ = ["MAX_TEXT", "LogLine", "PendingEnvelopes"]


class LogLine(NamedTuple):
    """One line of a container's stdout, as a writer hands it to :func:`.events.ingest`."""

    #: When the line began (the event log's millisecond format).
    ts: str
    #: The bytes printed, without the newline: UTF-8 or not, checked when written.
    data: bytes
    #: The engine's exact timestamp of its last piece and the count of entries with
    #: that timestamp up to it; None for lines streamed live (they carry no stamps).
    end: str | None = None
    k: int | None = None


_decode_claude = msgspec.json.Decoder(ClaudeLine).decode


class PendingEnvelopes:
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
    nesting within :data:`MAX_NESTING`: what :meth:`PendingEnvelopes.claude` keeps as
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
