"""A transcript's lines: whole ones cut from chunks read in order, within a bound on
a line's length, and the heads of those worth decoding (Claude's ``assistant`` and
``user`` lines), with their timestamps in the event log's form.
"""

from __future__ import annotations

import re
from datetime import UTC

import msgspec

from ... import agentfs
from .._jsondepth import MAX_NESTING, nests_within
from ..records import parse_iso

__all__ = ["MAX_LINE", "Head", "Lines", "log_time", "message_line"]

#: A longer line is skipped without being held (Claude's message lines are small;
#: what a tool read or wrote can be large, and is not counted anyway).
MAX_LINE = 4 << 20
#: Lines of these kinds are decoded, every other line is only counted: Claude writes
#: its keys without spaces, and a line that hides its kind counts nothing.
_MESSAGE_KINDS = (b'"type":"assistant"', b'"type":"user"')
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


class Lines:
    """A file's complete lines, from chunks read in order; a line over :data:`MAX_LINE`
    is dropped as it comes, never held whole."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        pieces = chunk.split(b"\n")
        lines: list[bytes] = []
        if len(pieces) > 1:
            first = b"".join([*self._pending, pieces[0]])
            if not self._skipping and len(first) <= MAX_LINE:
                lines.append(first)
            self._pending, self._pending_size, self._skipping = [], 0, False
            lines.extend(piece for piece in pieces[1:-1] if len(piece) <= MAX_LINE)
        tail = pieces[-1]
        if not self._skipping:
            self._pending.append(tail)
            self._pending_size += len(tail)
            if self._pending_size > MAX_LINE:
                self._pending, self._pending_size, self._skipping = [], 0, True
        return lines


class Head(msgspec.Struct, gc=False):
    type: str | None = None
    timestamp: str | None = None
    sessionId: str | None = None


_decode_head = msgspec.json.Decoder(Head).decode


def message_line(line: bytes) -> Head | None:
    """The head of an ``assistant`` or ``user`` line fit to decode; None for any other."""
    if not any(kind in line for kind in _MESSAGE_KINDS) or not nests_within(line, MAX_NESTING):
        return None
    try:
        head = _decode_head(line)
    except agentfs.JSON_ERRORS:
        return None
    return head if head.type in ("assistant", "user") else None


def log_time(value: str | None) -> str | None:
    """A transcript's timestamp in the event log's form, or None when it is not one."""
    if value is None or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = parse_iso(value).astimezone(UTC)
    except ValueError:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
