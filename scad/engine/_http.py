"""An HTTP/1.1 answer read off a socket: its head, and a chunked body decoded as it
arrives. Pure: bytes in, bytes out, every buffer bounded.

The engine sends a log as a chunked body (one chunk per entry or so); reading it
here, in large reads, costs a fraction of a general client's per-chunk work. What
the engine sends is trusted no further than its size: a head or a chunk-size line
past its bound is an error, never a buffer that grows.
"""

from __future__ import annotations

import msgspec

__all__ = ["MAX_HEAD", "ChunkedBody", "Head", "HttpError", "head_of"]

#: The longest head taken (the engine's are a few hundred bytes).
MAX_HEAD = 64 << 10
#: The longest chunk-size line (with extensions) or trailer line taken.
MAX_SIZE_LINE = 4 << 10
#: The largest chunk taken: 16 hex digits is already beyond any body.
_MAX_SIZE_DIGITS = 15

_HEX = frozenset(b"0123456789abcdefABCDEF")


class HttpError(ValueError):
    """Raised when what came is not the HTTP/1.1 answer it claims to be."""


class Head(msgspec.Struct, frozen=True, kw_only=True):
    """An answer's status line and the headers that say how its body is framed."""

    status: int
    reason: str
    chunked: bool
    #: The body's length, when it is given (and the body is not chunked).
    length: int | None = None


def head_of(data: bytes) -> Head:
    """The head of an answer (``data`` up to, not with, its blank line)."""
    status_line, *lines = data.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP answer: {status_line[:80]!r}")
    chunked, length = False, None
    for line in lines:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"transfer-encoding":
            chunked = value.split(b",")[-1].strip() == b"chunked"
        elif name == b"content-length":
            if not value.isdigit() or len(value) > _MAX_SIZE_DIGITS:
                raise HttpError(f"a content length that is no length: {value[:40]!r}")
            length = int(value)
    reason = parts[2].decode("ascii", "replace") if len(parts) > 2 else ""
    return Head(status=int(parts[1]), reason=reason, chunked=chunked, length=length)


_SIZE, _DATA_END, _TRAILER, _DONE = range(4)


class ChunkedBody:
    """Feed a chunked body's bytes as they come; get back its content. Holds no more
    than one chunk-size line between feeds, whatever the chunks weigh."""

    def __init__(self) -> None:
        self._state = _SIZE
        #: Bytes of the current chunk's data still to come.
        self._left = 0
        #: A size line, a trailer line or a chunk's CRLF cut by the end of a feed.
        self._partial = b""

    @property
    def done(self) -> bool:
        """Whether the last chunk and the trailer have come: the body is whole."""
        return self._state == _DONE

    def feed(self, data: bytes) -> bytes:
        """The content in ``data``; raises :class:`HttpError` on a malformed body."""
        if self._partial:
            data, self._partial = self._partial + data, b""
        out: list[bytes] = []
        # The state is kept in locals while the feed lasts: a log is tens of thousands
        # of small chunks, and each is a few steps of this loop.
        state, left = self._state, self._left
        pos, end = 0, len(data)
        try:
            while pos < end:
                if left:
                    take = min(left, end - pos)
                    out.append(data[pos : pos + take])
                    pos += take
                    left -= take
                    continue
                if state == _DONE:
                    raise HttpError("bytes after the end of a chunked body")
                if state == _DATA_END:
                    if end - pos < 2:
                        break
                    if data[pos : pos + 2] != b"\r\n":
                        raise HttpError("a chunk that does not end where its size says")
                    pos += 2
                    state = _SIZE
                    continue
                newline = data.find(b"\r\n", pos, pos + MAX_SIZE_LINE)
                if newline < 0:
                    if end - pos >= MAX_SIZE_LINE:
                        raise HttpError(f"a chunk-size line longer than {MAX_SIZE_LINE} bytes")
                    break
                line, pos = data[pos:newline], newline + 2
                if state == _TRAILER:
                    if not line:
                        state = _DONE
                    continue
                left = _chunk_size(line)
                state = _DATA_END if left else _TRAILER
                after = pos + left
                if left and data[after : after + 2] == b"\r\n":
                    # The whole chunk and its end are here (the engine's usual): taken at once.
                    out.append(data[pos:after])
                    pos, left, state = after + 2, 0, _SIZE
        finally:  # where it stopped, an error included, is where it stands
            self._state, self._left = state, left
            self._partial = data[pos:]
        return b"".join(out)


def _chunk_size(line: bytes) -> int:
    """The size a chunk-size line gives (its extensions skipped)."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > _MAX_SIZE_DIGITS or not _HEX.issuperset(digits):
        raise HttpError(f"a chunk size that is no size: {line[:40]!r}")
    return int(digits, 16)
