"""Reading the usage out of a Messages API stream as it passes. Pure and incremental.

The stream is Server-Sent Events: ``event: NAME`` and ``data: JSON`` lines, a blank
line ending each event. :class:`StreamMeter` is fed the bytes exactly as they
arrive (any split, even inside a line or a UTF-8 character) and keeps what the
gateway measures: the model, ``message_start``'s usage and the LAST
``message_delta``'s (cumulative: it replaces, never adds), whether the message
stopped, and an ``error`` event's type. It never holds more than one line of an
event it wants, and none of the events it skips.
"""

from __future__ import annotations

import msgspec

__all__ = ["MAX_LINE", "StreamMeter", "StreamUsage", "message_usage"]

#: The longest line of a wanted event kept; usage events are a few hundred bytes.
MAX_LINE = 1 << 20
#: A line of an unwanted event is held only this far: enough for a blank or ``event:``
#: line split across chunks, never for the data it skips.
_SHORT_LINE = 64
_WANTED = frozenset({b"message_start", b"message_delta", b"message_stop", b"error"})
#: The name an event gets when its data grew past the bound: then it is skipped.
_OVERSIZED = b"\x00oversized"


class StreamUsage(msgspec.Struct, kw_only=True):
    """What one answer used, as far as the stream has told."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    stopped: bool = False
    error: str | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Message(msgspec.Struct):
    model: str | None = None
    usage: _Usage | None = None


class _Error(msgspec.Struct):
    type: str | None = None


class _Data(msgspec.Struct):
    type: str | None = None
    message: _Message | None = None
    usage: _Usage | None = None
    error: _Error | None = None


_decode_data = msgspec.json.Decoder(_Data).decode


class StreamMeter:
    """Feed it a stream's bytes in order; :attr:`usage` is what they said so far."""

    def __init__(self) -> None:
        self.usage = StreamUsage()
        self._pending = bytearray()
        self._skipping_line = False  # the rest of an over-long line is dropped
        self._event: bytes | None = None
        self._data: list[bytes] = []
        self._data_size = 0

    def feed(self, chunk: bytes) -> None:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._hold(chunk[start:])
                return
            if self._pending or self._skipping_line:
                self._hold(chunk[start:end])
                line = bytes(self._pending)
                skipped = self._skipping_line
                self._pending.clear()
                self._skipping_line = False
                if not skipped:
                    self._line(line)
            else:
                self._line(chunk[start:end])
            start = end + 1

    def _hold(self, part: bytes) -> None:
        if self._skipping_line or not part:
            return
        bound = MAX_LINE if self._wants_more() else _SHORT_LINE
        if len(self._pending) + len(part) > bound:
            self._pending.clear()
            self._skipping_line = True
            return
        self._pending += part

    def _wants_more(self) -> bool:
        """Whether the line being read may matter: a field of an unwanted event never does."""
        return self._event is None or self._event in _WANTED

    def _line(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            self._dispatch()
        elif line.startswith(b"event:"):
            self._event = line[6:].strip()
        elif line.startswith(b"data:") and self._wants_more():
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
            self._data_size += len(value)
            if self._data_size > MAX_LINE:
                self._event, self._data = _OVERSIZED, []
        # Comments (":"), ids and retries say nothing about usage.

    def _dispatch(self) -> None:
        event, data = self._event, self._data
        self._event, self._data, self._data_size = None, [], 0
        if not data or (event is not None and event not in _WANTED):
            return
        try:
            decoded = _decode_data(b"\n".join(data))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return
        self._apply(decoded)

    def _apply(self, data: _Data) -> None:
        usage = self.usage
        if data.type == "message_start" and data.message is not None:
            usage.model = data.message.model or usage.model
            _take(usage, data.message.usage)
        elif data.type == "message_delta":
            _take(usage, data.usage)
        elif data.type == "message_stop":
            usage.stopped = True
        elif data.type == "error":
            usage.error = (data.error.type if data.error else None) or "error"


def _take(usage: StreamUsage, reported: _Usage | None) -> None:
    """Each figure reported replaces the one held: usage in a stream is cumulative."""
    if reported is None:
        return
    if reported.input_tokens is not None:
        usage.input_tokens = max(0, reported.input_tokens)
    if reported.output_tokens is not None:
        usage.output_tokens = max(0, reported.output_tokens)
    if reported.cache_read_input_tokens is not None:
        usage.cache_read_tokens = max(0, reported.cache_read_input_tokens)
    if reported.cache_creation_input_tokens is not None:
        usage.cache_creation_tokens = max(0, reported.cache_creation_input_tokens)


_decode_message = msgspec.json.Decoder(_Message).decode


def message_usage(body: bytes) -> StreamUsage | None:
    """The usage of a whole (not streamed) Messages answer; None when it is not one."""
    try:
        message = _decode_message(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    usage = StreamUsage(model=message.model, stopped=True)
    _take(usage, message.usage)
    return usage
