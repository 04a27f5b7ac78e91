"""One request on the engine's unix socket, its answer read straight off the socket.

A long catch-up is a stream of tens of thousands of small chunks; a general HTTP
client handles each one on its own, which costs about as much as the engine
takes to send them, and importing one (aiohttp) costs about 0.2 s. Here each
request goes out over a socket of its own (closed after its answer, or taken over
by an attach) and the answer is read in large reads, a chunked body decoded by
:mod:`._http`. Only a local socket is asked so: TCP, TLS and the rest go through
the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing, suppress

import anyio
import msgspec

from ..errors import EngineError, EngineUnavailable
from ..text import printable
from ._http import MAX_HEAD, ChunkedBody, Head, HttpError, head_of
from ._unixsocket import UnixConnection, connect

__all__ = ["REQUEST_TIMEOUT", "ask", "open_answer"]

#: How much one read takes off the socket.
READ_SIZE = 256 << 10
#: The most of a refusal's body read for its message.
MAX_REFUSAL = 64 << 10
#: Time for the engine to answer a request with its head.
HEAD_TIMEOUT = 60.0
#: Time for a request whose answer does not stream.
REQUEST_TIMEOUT = 60.0
#: The longest answer :func:`ask` takes.
ANSWER_LIMIT = 64 << 20
#: The statuses of answers that have no body (No Content, Not Modified).
_NO_BODY = (204, 304)


@asynccontextmanager
async def open_answer(
    socket: str,
    method: str,
    target: str,
    what: str,
    *,
    body: bytes = b"",
    content_type: str = "application/json",
    upgrade: bool = False,
    head_bounded: bool = True,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """``method target`` with ``body`` on the unix socket at ``socket``: the block's
    value is the answer's body as it comes, with no time limit (the caller bounds
    each read). With ``upgrade``, the connection is taken over (as ``attach`` wants)
    and the body is what the engine sends until it closes it. The engine has
    :data:`HEAD_TIMEOUT` seconds to take the request and answer with its head (unless
    not ``head_bounded``: the caller bounds the request as a whole). Raises
    :class:`EngineUnavailable` when the engine does not answer or its answer ends
    early, :class:`EngineError` (with its status and in the engine's words) when it
    refuses. The connection closes when the block is left."""
    head_within = HEAD_TIMEOUT if head_bounded else None
    try:
        with anyio.fail_after(head_within):
            stream = await connect(socket)
    except (OSError, TimeoutError) as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_why(exc)})") from exc
    with closing(stream):
        connection = "Connection: Upgrade\r\nUpgrade: tcp" if upgrade else "Connection: close"
        request = (
            f"{method} {target} HTTP/1.1\r\nHost: docker\r\n{connection}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            with anyio.fail_after(head_within):
                head, rest = await _exchange(stream, request.encode("ascii") + body, what)
        except TimeoutError as exc:
            raise EngineUnavailable(
                f"{what}: the Docker engine did not answer within {head_within:.0f} s"
            ) from exc
        if head.status >= 400:
            said = await _refusal(stream, head, rest)
            raise EngineError(f"{what}: {_message(said, head)}", status=head.status)
        framing = head
        if upgrade:  # an upgraded connection's body is whatever comes until it closes
            framing = Head(status=head.status, reason=head.reason, chunked=False)
        elif head.status in _NO_BODY:  # whatever its head says, and kept open or not
            framing = Head(status=head.status, reason=head.reason, chunked=False, length=0)
        yield _Body(stream, framing, rest, what)


async def ask(
    socket: str,
    method: str,
    target: str,
    what: str,
    *,
    body: bytes = b"",
    content_type: str = "application/json",
    within: float | None = REQUEST_TIMEOUT,
) -> bytes:
    """The whole answer to ``method target`` (see :func:`open_answer`), within
    ``within`` seconds (None: no bound) and :data:`ANSWER_LIMIT` bytes."""
    answer = bytearray()
    try:
        with anyio.fail_after(within):
            # Bounded as a whole, the request is given all its time for the head too
            # (a stop answers once the container stopped); unbounded, the head at least.
            async with open_answer(
                socket, method, target, what, body=body, content_type=content_type,
                head_bounded=within is None,
            ) as chunks:  # fmt: skip
                async for chunk in chunks:
                    answer += chunk
                    if len(answer) > ANSWER_LIMIT:
                        raise EngineError(f"{what}: the engine's answer is too long")
    except TimeoutError as exc:
        raise EngineUnavailable(
            f"{what}: the Docker engine did not answer within {within:.0f} s"
        ) from exc
    return bytes(answer)


async def _exchange(stream: UnixConnection, request: bytes, what: str) -> tuple[Head, bytes]:
    """Send ``request``; the head of its answer, and the bytes of the body that came
    with it. The engine may refuse a request by its head and close the connection
    before taking its whole body: then the refusal, when it came, is the answer."""
    try:
        await _send(stream, request, what)
    except EngineUnavailable:
        with suppress(EngineUnavailable, EngineError):
            head, rest = await _read_head(stream, what)
            if head.status >= 400:
                return head, rest
        raise  # no refusal came: the engine did not take the request
    return await _read_head(stream, what)


async def _send(stream: UnixConnection, data: bytes, what: str) -> None:
    try:
        await stream.send(data)
    except OSError as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_why(exc)})") from exc


async def _receive(stream: UnixConnection, what: str) -> bytes:
    """The next bytes off the socket; b"" once the engine closed it."""
    try:
        return await stream.receive(READ_SIZE)
    except OSError as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_why(exc)})") from exc


def _why(exc: OSError) -> str:
    """What broke the connection."""
    return str(exc) or type(exc).__name__


async def _read_head(stream: UnixConnection, what: str) -> tuple[Head, bytes]:
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


async def _refusal(stream: UnixConnection, head: Head, first: bytes) -> bytes:
    """A refusal's body, as far as it goes (up to :data:`MAX_REFUSAL` bytes) or came
    within :data:`HEAD_TIMEOUT` (a refusal's connection may be reset: the engine did
    not read the body it refused)."""
    said = bytearray()
    with anyio.move_on_after(HEAD_TIMEOUT), suppress(EngineUnavailable, EngineError):
        async for content in _Body(stream, head, first, ""):
            said += content
            if len(said) >= MAX_REFUSAL:
                break
    return bytes(said[:MAX_REFUSAL])


def _message(body: bytes, head: Head) -> str:
    """The engine's message in a refusal (``{"message": ...}``), else its status."""
    try:
        said = msgspec.json.decode(body, type=_Refusal).message
    except msgspec.DecodeError:
        said = ""
    return printable(said.strip())[:300] or f"the engine answered {head.status} {head.reason}"


class _Refusal(msgspec.Struct):
    message: str = ""


class _Body:
    """The body's bytes, decoded from its chunks (or as they come, with a length). A
    read given up on (cancelled) loses nothing: the next one goes on where it was."""

    def __init__(self, stream: UnixConnection, head: Head, first: bytes, what: str) -> None:
        self._stream = stream
        self._chunks = ChunkedBody() if head.chunked else None
        #: The body's bytes still to come, when its length is given.
        self._left = head.length
        self._data = first
        self._what = what
        self._done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            data, self._data = self._data, b""
            if content := self._content(data):
                return content
            if self._done:
                break
            # The only wait: cancelled here, nothing read is lost.
            more = await _receive(self._stream, self._what)
            if not more:
                if self._chunks is not None or self._left is not None:
                    raise EngineUnavailable(f"{self._what}: the Docker engine's answer ended early")
                self._done = True  # neither length nor chunks: it ends as the connection does
            self._data = more
        raise StopAsyncIteration

    def _content(self, data: bytes) -> bytes:
        """The body's content in ``data``, the framing's state moved past it."""
        if self._chunks is not None:
            try:
                content = self._chunks.feed(data)
            except HttpError as exc:
                raise EngineError(f"{self._what}: {exc}") from exc
            self._done = self._chunks.done
            return content
        if self._left is None:
            return data
        content = data[: self._left]
        self._left -= len(content)
        self._done = not self._left
        return content
