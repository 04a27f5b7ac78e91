"""A container's log read straight off the engine's unix socket.

A long catch-up is a stream of tens of thousands of small chunks; a general HTTP
client handles each one on its own, which costs about as much as the engine
takes to send them. Here one ``GET`` goes out over a socket of its own and the
answer is read in large reads, its chunked body decoded by :mod:`._http`. Only a
local socket is read so: TCP, TLS and the rest go through the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from urllib.parse import quote, urlencode

import anyio
import anyio.abc
import msgspec

from ..errors import EngineError, EngineUnavailable
from ..text import printable
from ._http import MAX_HEAD, ChunkedBody, Head, HttpError, head_of

__all__ = ["open_log_body"]

#: How much one read takes off the socket.
READ_SIZE = 256 << 10
#: The most of a refusal's body read for its message.
MAX_REFUSAL = 64 << 10
#: Time for the engine to answer the request with its head.
HEAD_TIMEOUT = 60.0


@asynccontextmanager
async def open_log_body(
    socket: str, container_id: str, params: Mapping[str, str | bool], what: str
) -> AsyncIterator[AsyncIterator[bytes]]:
    """``GET /containers/{id}/logs`` with ``params`` on the unix socket at ``socket``:
    the block's value is the body's bytes as they come (the engine's multiplexed
    frames), with no time limit (the caller bounds each read). Raises
    :class:`EngineUnavailable` when the engine does not answer or its answer ends
    early, :class:`EngineError` (with its status) when it refuses. The connection
    closes when the block is left."""
    query = urlencode({k: _param(v) for k, v in params.items()})
    target = f"/containers/{quote(container_id, safe='')}/logs?{query}"
    try:
        with anyio.fail_after(HEAD_TIMEOUT):
            stream = await anyio.connect_unix(socket)
    except (OSError, TimeoutError) as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({exc})") from exc
    async with stream:
        request = f"GET {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        try:
            with anyio.fail_after(HEAD_TIMEOUT):
                await stream.send(request.encode("ascii"))
                head, rest = await _read_head(stream, what)
        except TimeoutError as exc:
            raise EngineUnavailable(
                f"{what}: the Docker engine did not answer within {HEAD_TIMEOUT:.0f} s"
            ) from exc
        if head.status != 200:
            with anyio.move_on_after(HEAD_TIMEOUT):
                rest = await _read_some(stream, rest, MAX_REFUSAL)
            raise EngineError(f"{what}: {_message(rest, head)}", status=head.status)
        yield _body(stream, head, rest, what)


def _param(value: str | bool) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else value


async def _receive(stream: anyio.abc.ByteStream, what: str) -> bytes:
    """The next bytes off the socket; b"" once the engine closed it."""
    try:
        return await stream.receive(READ_SIZE)
    except anyio.EndOfStream:
        return b""
    except (OSError, anyio.BrokenResourceError) as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({exc})") from exc


async def _read_head(stream: anyio.abc.ByteStream, what: str) -> tuple[Head, bytes]:
    """The answer's head, and the bytes of the body that came with it."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_HEAD:
            raise EngineError(f"{what}: the engine's answer has a head past {MAX_HEAD} bytes")
        if not (more := await _receive(stream, what)):
            raise EngineUnavailable(f"{what}: the Docker engine closed the connection unanswered")
        data += more
    try:
        return head_of(data[:end]), data[end + 4 :]
    except HttpError as exc:
        raise EngineError(f"{what}: {exc}") from exc


async def _read_some(stream: anyio.abc.ByteStream, data: bytes, limit: int) -> bytes:
    """``data`` and what follows it on the socket, up to ``limit`` bytes."""
    while len(data) < limit and (more := await _receive(stream, "")):
        data += more
    return data[:limit]


def _message(body: bytes, head: Head) -> str:
    """The engine's message in a refusal (``{"message": ...}``), else its status."""
    if head.chunked:
        with suppress(HttpError):
            body = ChunkedBody().feed(body)
    try:
        said = msgspec.json.decode(body, type=_Refusal).message
    except msgspec.DecodeError:
        said = ""
    return printable(said.strip())[:300] or f"the engine answered {head.status} {head.reason}"


class _Refusal(msgspec.Struct):
    message: str = ""


async def _body(
    stream: anyio.abc.ByteStream, head: Head, first: bytes, what: str
) -> AsyncIterator[bytes]:
    """The body's bytes, decoded from its chunks (or as they come, with a length)."""
    chunks = ChunkedBody() if head.chunked else None
    left = head.length
    data = first
    while True:
        if chunks is not None:
            try:
                content = chunks.feed(data)
            except HttpError as exc:
                raise EngineError(f"{what}: {exc}") from exc
            if content:
                yield content
            if chunks.done:
                return
        else:
            content = data if left is None else data[:left]
            if content:
                yield content
            if left is not None:
                left -= len(content)
                if not left:
                    return
        data = await _receive(stream, what)
        if not data:
            if chunks is None and left is None:
                return  # a body with neither length nor chunks ends as the connection does
            raise EngineUnavailable(f"{what}: the Docker engine's answer ended early")
