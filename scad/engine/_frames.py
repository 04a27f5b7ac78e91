"""The engine's multiplexed streams (a log, an attached container's output): frames,
and entries decoded in order. Pure.

The engine sends a container's output as frames (an 8-byte header: stream, three
zero bytes, the payload's length; then the payload), each one log entry, which
starts with its timestamp when asked for. A frame of the third stream is the
engine's own word, not the container's: it could not read the log.
"""

from __future__ import annotations

import codecs
import struct
from typing import NamedTuple

__all__ = ["SYSTEM_ERROR", "Frames", "LogTexts", "Outputs", "frames", "outputs"]

#: The stream of the engine's own errors (1 is stdout, 2 stderr).
SYSTEM_ERROR = 3


class LogTexts:
    """Decodes untimestamped log entries to text, in order. An entry's text is decoded
    across entries, so a character cut where the engine split a long line is
    completed at the start of the next entry's; bytes that are not UTF-8 are
    replaced, never dropped."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, entries: list[bytes]) -> list[str]:
        return [self._decoder.decode(entry) for entry in entries]

    def finish(self) -> str:
        """What a character cut by the log's end leaves (U+FFFD), else nothing."""
        return self._decoder.decode(b"", final=True)


class Frames(NamedTuple):
    """The whole frames at the start of a multiplexed stream."""

    #: Their payloads, in order, up to the engine's own word (when one came).
    payloads: list[bytes]
    #: The engine's own word: a frame of :data:`SYSTEM_ERROR`, after which nothing counts.
    said: bytes | None
    #: The bytes they took; the rest is a frame cut by the read, left for the next.
    used: int


def frames(body: bytes) -> Frames:
    """The whole frames of a multiplexed stream: 8-byte headers (stream, 0, 0, 0,
    length), then the payload. scad's containers have no TTY, so their output is
    always multiplexed. A frame cut at the end is left for the next read."""
    found: list[bytes] = []
    position, end = 0, len(body)
    while position + 8 <= end:
        stream, length = _HEADER.unpack_from(body, position)
        stop = position + 8 + length
        if stop > end:
            break
        if stream == SYSTEM_ERROR:
            return Frames(found, body[position + 8 : stop], stop)
        found.append(body[position + 8 : stop])
        position = stop
    return Frames(found, None, position)


class Outputs(NamedTuple):
    """The whole frames at the start of an attached container's stream."""

    #: Each frame's stream (1 stdout, 2 stderr) and payload, in order.
    chunks: list[tuple[int, bytes]]
    #: The bytes they took; the rest is a frame cut by the read, left for the next.
    used: int


def outputs(body: bytes) -> Outputs:
    """The whole frames at the start of an attached container's stream (a frame cut
    at the end is left for the next read)."""
    found: list[tuple[int, bytes]] = []
    position, end = 0, len(body)
    while position + 8 <= end:
        stream, length = _HEADER.unpack_from(body, position)
        stop = position + 8 + length
        if stop > end:
            break
        found.append((stream, body[position + 8 : stop]))
        position = stop
    return Outputs(found, position)


_HEADER = struct.Struct(">BxxxI")
