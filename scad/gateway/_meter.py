"""Measuring an answer while its bytes pass on untouched.

The client gets the upstream's bytes as they come, encoding and all; the meter reads
a copy: a stream through :class:`~._sse.StreamMeter` (inflated first when the answer
is gzip or deflate), a whole Messages answer parsed at its end (bounded), anything
else not at all.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from ._sse import StreamMeter, StreamUsage, message_usage

__all__ = ["Meter", "meter_for"]

#: A whole (not streamed) answer is parsed for its usage only up to this size.
_BODY_LIMIT = 16 << 20
#: Inflated bytes a compressed chunk may give the meter (a zip bomb stays small).
_INFLATE_LIMIT = 4 << 20


class Meter(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def usage(self) -> StreamUsage | None:
        """What the answer used so far; None when it cannot be told."""
        ...


class _Unmetered:
    def feed(self, chunk: bytes) -> None:
        pass

    def usage(self) -> StreamUsage | None:
        return None


class _StreamMeter:
    def __init__(self, inflater: zlib._Decompress | None) -> None:
        self._meter = StreamMeter()
        self._inflater = inflater
        self._broken = False

    def feed(self, chunk: bytes) -> None:
        if self._broken:
            return
        if self._inflater is not None:
            try:
                chunk = self._inflater.decompress(chunk, _INFLATE_LIMIT)
            except zlib.error:
                self._broken = True
                return
            if self._inflater.unconsumed_tail:
                self._broken = True  # inflates past any answer the API sends
                return
        self._meter.feed(chunk)

    def usage(self) -> StreamUsage | None:
        return None if self._broken else self._meter.usage


class _BodyMeter:
    def __init__(self) -> None:
        self._body = bytearray()
        self._over = False

    def feed(self, chunk: bytes) -> None:
        if not self._over:
            self._body += chunk
            if len(self._body) > _BODY_LIMIT:
                self._over, self._body = True, bytearray()

    def usage(self) -> StreamUsage | None:
        return None if self._over else message_usage(bytes(self._body))


def meter_for(path: str, content_type: str, content_encoding: str) -> Meter:
    """The meter for an answer to ``path`` with these headers."""
    encoding = content_encoding.strip().lower()
    if content_type.startswith("text/event-stream"):
        if encoding in ("", "identity"):
            return _StreamMeter(None)
        if encoding in ("gzip", "x-gzip"):
            return _StreamMeter(zlib.decompressobj(wbits=31))
        if encoding == "deflate":
            return _StreamMeter(zlib.decompressobj())
        return _Unmetered()
    if path == "/v1/messages" and content_type.startswith("application/json") and not encoding:
        return _BodyMeter()
    return _Unmetered()
