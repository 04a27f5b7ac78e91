"""A container's log read off a unix socket: what a local engine answers, and what
it may answer instead (a refusal, an answer cut short, a malformed body), each
one of scad's errors."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.abc
import pytest

from scad.engine._client import DockerEngine
from scad.engine._endpoint import Endpoint
from scad.engine._rawhttp import ask, open_answer
from scad.errors import EngineError, EngineUnavailable, LogUnavailable

pytestmark = pytest.mark.anyio

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


def frame(payload: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@asynccontextmanager
async def engine_answering(tmp_path: Path, *sends: bytes) -> AsyncIterator[tuple[Any, list[bytes]]]:
    """A DockerEngine on a socket whose server answers each request with ``sends``
    (one write each), then closes; the requests it read come in the list."""
    path = tmp_path / "engine.sock"
    requests: list[bytes] = []
    listener = await anyio.create_unix_listener(path)

    async def serve(client: anyio.abc.SocketStream) -> None:
        async with client:
            requests.append(await client.receive())
            for data in sends:
                await client.send(data)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        engine = DockerEngine(cast(Any, None), Endpoint(host=f"unix://{path}"))
        yield engine, requests
        tg.cancel_scope.cancel()


async def entries(engine: DockerEngine, **options: Any) -> list[bytes]:
    found: list[bytes] = []
    async with engine.open_logs("c0ffee", follow=False, **options) as chunks:
        async for batch in chunks:
            found += batch
    return found


async def test_the_log_is_read_off_the_socket_in_any_cuts(tmp_path: Path) -> None:
    body = chunked(frame(b"2026-11-27T10:00:00.1Z one\n"), frame(b"2026-11-27T10:00:00.2Z tw"))
    sends = [CHUNKED + body[:5], body[5:17], body[17:]]
    async with engine_answering(tmp_path, *sends) as (engine, requests):
        found = await entries(engine, since="12.5")
    assert found == [b"2026-11-27T10:00:00.1Z one\n", b"2026-11-27T10:00:00.2Z tw"]
    line = requests[0].split(b"\r\n", 1)[0]
    assert line == b"GET /containers/c0ffee/logs?stdout=1&follow=0&timestamps=1&since=12.5 HTTP/1.1"


async def test_a_body_with_a_length_is_read_to_it(tmp_path: Path) -> None:
    body = frame(b"2026-11-27T10:00:00.1Z one\n")
    answer = HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    async with engine_answering(tmp_path, answer) as (engine, _):
        assert await entries(engine) == [b"2026-11-27T10:00:00.1Z one\n"]


async def test_the_engines_own_error_ends_the_log(tmp_path: Path) -> None:
    said = b"Error grabbing logs: log file is gone\n"
    body = chunked(frame(b"2026-11-27T10:00:00.1Z one\n"), frame(said, 3), frame(b"after\n"))
    found: list[bytes] = []
    async with engine_answering(tmp_path, CHUNKED + body) as (engine, _):
        with pytest.raises(LogUnavailable, match=r"log file is gone$"):
            async with engine.open_logs("c0ffee", follow=False) as chunks:
                async for batch in chunks:
                    found += batch
    assert found == [b"2026-11-27T10:00:00.1Z one\n"]


async def test_a_refusal_is_the_engines_message_and_status(tmp_path: Path) -> None:
    message = b'{"message":"No such container: c0ffee"}\n'
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(message) + message
    async with engine_answering(tmp_path, answer) as (engine, _):
        with pytest.raises(EngineError, match=r"No such container: c0ffee$") as raised:
            await entries(engine)
    assert raised.value.status == 404


async def test_an_answer_cut_short_is_the_engine_gone(tmp_path: Path) -> None:
    """A body that ends before its last chunk is not the end of the log."""
    body = chunked(frame(b"2026-11-27T10:00:00.1Z one\n"))
    async with engine_answering(tmp_path, CHUNKED + body[:-5]) as (engine, _):
        with pytest.raises(EngineUnavailable, match="ended early"):
            await entries(engine)


async def test_a_hostile_chunk_size_is_one_error(tmp_path: Path) -> None:
    """A size line that never ends is refused at its bound, not buffered."""
    sends = [CHUNKED, *[b"f" * 1024] * 64]
    async with engine_answering(tmp_path, *sends) as (engine, _):
        with pytest.raises(EngineError, match="chunk-size line longer than"):
            await entries(engine)


async def test_a_head_without_end_is_one_error(tmp_path: Path) -> None:
    async with engine_answering(tmp_path, HEAD, *[b"X-A: b\r\n" * 1024] * 16) as (engine, _):
        with pytest.raises(EngineError, match="head past"):
            await entries(engine)


async def test_no_engine_is_engine_unavailable(tmp_path: Path) -> None:
    engine = DockerEngine(cast(Any, None), Endpoint(host=f"unix://{tmp_path}/none.sock"))
    with pytest.raises(EngineUnavailable, match="did not answer"):
        await entries(engine)


async def test_a_read_cancelled_in_the_turn_its_bytes_come_ends_quietly(tmp_path: Path) -> None:
    """A Ctrl-C lands (a scope cancelled from a callback) in the same turn of the loop
    as the engine's next bytes: the read is cancelled, and the wake-up meant for it
    reaches no cancelled future (asyncio would print that as a traceback)."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    path = tmp_path / "engine.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    listener.setblocking(False)
    read_once = anyio.Event()

    async def read(*, task_status: anyio.abc.TaskStatus[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            async with open_answer(str(path), "GET", "/logs", "reading") as body:
                async for _ in body:
                    read_once.set()

    try:
        async with anyio.create_task_group() as tg:
            scope = await tg.start(read)
            await anyio.wait_all_tasks_blocked()
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")
                await read_once.wait()
                await anyio.wait_all_tasks_blocked()  # the reader waits for more
                connection.sendall(b"more")
                loop.call_soon(scope.cancel)
    finally:
        listener.close()
        loop.set_exception_handler(None)
    assert reported == []


async def test_a_request_waits_while_the_engine_s_queue_of_connections_is_full(
    tmp_path: Path,
) -> None:
    """A burst of connections filled the engine's queue: a request waits for room (as
    long as it may), then goes through on a connection that is made, not one that
    only looked made; with no room in time, the engine did not answer."""
    path = tmp_path / "engine.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(0)
    waiting = socket.socket(socket.AF_UNIX)
    waiting.connect(str(path))  # fills the queue
    try:
        with pytest.raises(EngineUnavailable, match="did not answer within 1 s"):
            await ask(str(path), "GET", "/_ping", "ping", within=1)

        def answer() -> None:  # in a thread: the request waits on the loop meanwhile
            time.sleep(0.2)
            listener.accept()[0].close()  # the one that filled the queue
            with listener.accept()[0] as connection:
                while not connection.recv(4096).endswith(b"\r\n\r\n"):
                    pass
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, answer)
            with anyio.fail_after(10):
                assert await ask(str(path), "GET", "/_ping", "ping") == b"OK"
    finally:
        waiting.close()
        listener.close()
