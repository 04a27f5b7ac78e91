"""The socket engine: a container's life, the listings and an image's lookup asked on
the engine's unix socket, everything else through the client. A small HTTP server on a unix socket stands in for the engine here; the real
engine answers the same requests in the integration tests."""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from anyio.abc import SocketStream

from scad.engine import _logs as enginelogs
from scad.engine import _rawhttp as rawhttp
from scad.engine import _socket as enginesocket
from scad.engine._client import DockerEngine
from scad.engine._endpoint import Endpoint
from scad.engine._socket import SocketEngine, open_socket_engine
from scad.engine._types import ContainerFile, ContainerSpec, Engine
from scad.errors import EngineError, EngineUnavailable
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

ROW = {
    "Id": "c" * 64, "Names": ["/scad-r"], "Image": "scad-p:latest", "ImageID": "sha256:i",
    "State": "exited", "Labels": {"scad.run": "r", "scad.home": "/h"},
}  # fmt: skip


@asynccontextmanager
async def engine_at(
    tmp_path: Path, answers: dict[str, tuple[str, bytes]]
) -> AsyncIterator[tuple[Path, list[str]]]:
    """A unix socket answering ``GET path`` (without its query) with a status and body."""
    socket, asked = tmp_path / "docker.sock", []

    async def serve(stream: SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            target = request.split(b" ")[1].decode()
            asked.append(target)
            status, body = answers.get(urlsplit(target).path, ("404 Not Found", b"{}"))
            await stream.send(f"HTTP/1.0 {status}\r\n\r\n".encode() + body)

    listener = await anyio.create_unix_listener(socket)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield socket, asked
        tg.cancel_scope.cancel()


async def test_containers_come_from_the_socket_without_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {
        "/_ping": ("200 OK", b"OK"),
        "/containers/json": ("200 OK", json.dumps([ROW]).encode()),
    }
    async with engine_at(tmp_path, answers) as (socket, asked):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine() as engine:
            (found,) = await engine.containers({"scad.run": None, "scad.home": "/h"})
    assert (found.id, found.name, found.status, found.running) == (
        "c" * 64,
        "scad-r",
        "exited",
        False,
    )
    assert found.labels == ROW["Labels"]
    query = parse_qs(urlsplit(asked[1]).query)
    assert query["all"] == ["1"]
    assert json.loads(query["filters"][0]) == {"label": ["scad.run", "scad.home=/h"]}


STATUS_PROBE = """
import sys
from scad.cli import cli
cli(["session", "status", "--all"], prog_name="scad", standalone_mode=False, _anyio_backend="asyncio")
print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in ("aiodocker", "aiohttp")))
"""


async def test_session_status_asks_the_socket_and_never_imports_the_client(
    tmp_path: Path, scad_home: Path
) -> None:
    answers = {
        "/_ping": ("200 OK", b"OK"),
        "/containers/json": ("200 OK", json.dumps([ROW]).encode()),
    }
    async with engine_at(tmp_path, answers) as (socket, asked):
        env = {**os.environ, "DOCKER_HOST": f"unix://{socket}", "SCAD_HOME": str(scad_home)}
        result = await anyio.run_process([sys.executable, "-c", STATUS_PROBE], env=env)
    assert result.stdout.decode().splitlines()[-1] == "LOADED []"
    assert [urlsplit(target).path for target in asked] == ["/_ping", "/containers/json"]


async def test_anything_else_opens_the_client_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FakeEngine()
    opened: list[int] = []

    @asynccontextmanager
    async def open_engine() -> AsyncIterator[FakeEngine]:
        opened.append(1)
        yield client

    async with engine_at(tmp_path, {"/_ping": ("200 OK", b"OK")}) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine(open_engine) as engine:
            made = await client.create_container(
                ContainerSpec(image="i", name="n", labels={"scad.run": "r"})
            )
            await client.start(made)
            assert await engine.exec(made, ["true"]) == await client.exec(made, ["true"])
            assert await engine.network("n") == await client.network("n")
    assert opened == [1]


async def test_an_engine_that_does_not_answer_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(
        EngineUnavailable,
        match=rf"^cannot reach the Docker engine at unix://{tmp_path}/none\.sock; start dockerd",
    ):
        async with open_socket_engine():
            pass


async def test_a_socket_that_answers_but_not_as_an_engine_is_no_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine_at(tmp_path, {"/_ping": ("403 Forbidden", b'{"message":"no"}')}) as (
        socket,
        _,
    ):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        with pytest.raises(
            EngineUnavailable,
            match=rf"^the Docker engine at unix://{socket} \(DOCKER_HOST\) refused scad: ping: no$",
        ):
            async with open_socket_engine():
                pass


async def test_an_engine_that_refuses_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {
        "/_ping": ("200 OK", b"OK"),
        "/containers/json": ("500 Internal Server Error", b"{}"),
    }
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine() as engine:
            with pytest.raises(
                EngineError,
                match=r"^list containers: the engine answered 500 Internal Server Error$",
            ):
                await engine.containers({"scad.run": None})


async def test_an_answer_past_the_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rawhttp, "ANSWER_LIMIT", 1000)
    answers = {
        "/_ping": ("200 OK", b"OK"),
        "/containers/json": ("200 OK", b"[" + b" " * 5000 + b"]"),
    }
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine() as engine:
            with pytest.raises(EngineError, match="the engine's answer is too long"):
                await engine.containers({"scad.run": None})


async def test_an_engine_elsewhere_is_asked_through_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeEngine()

    @asynccontextmanager
    async def open_engine() -> AsyncIterator[FakeEngine]:
        yield client

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    async with open_socket_engine(open_engine) as engine:
        assert engine is client


#: What the socket engine asks the socket itself.
FROM_THE_SOCKET = {
    "containers", "image", "tag_image", "create_container", "start", "stop", "remove",
    "inspect", "logs", "wait", "open_logs", "attach",
}  # fmt: skip

IMAGE = {
    "Id": "sha256:" + "a" * 64, "RepoTags": ["scad-p-1234abcd:latest"],
    "Config": {"Labels": {"scad.config": "p"}}, "Created": "2026-12-06T10:00:00Z",
}  # fmt: skip


async def test_an_image_is_looked_up_and_tagged_on_the_socket_without_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What making a batch of a built image asks: its lookup, and its ``latest`` tag."""
    answers = {
        "/_ping": ("200 OK", b"OK"),
        "/images/scad-p-1234abcd:c0ffee/json": ("200 OK", json.dumps(IMAGE).encode()),
        "/images/scad-p-1234abcd:c0ffee/tag": ("201 Created", b""),
    }
    async with engine_at(tmp_path, answers) as (socket, asked):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine(AsyncMock(side_effect=AssertionError)) as engine:
            found = await engine.image("scad-p-1234abcd:c0ffee")
            assert await engine.image("scad-p-1234abcd:gone") is None
            await engine.tag_image("scad-p-1234abcd:c0ffee", "scad-p-1234abcd", "latest")
    assert found is not None
    assert (found.id, found.tags, found.labels) == (
        IMAGE["Id"],
        IMAGE["RepoTags"],
        {"scad.config": "p"},
    )
    tag = urlsplit(asked[-1])
    assert parse_qs(tag.query) == {"repo": ["scad-p-1234abcd"], "tag": ["latest"]}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (("404 Not Found", b'{"message":"No such image: x:y"}'), "^tag x:y: No such image: x:y$"),
        (("500 Internal Server Error", b"oops"), r"^tag x:y: the engine answered 500 Internal"),
    ],
)
async def test_a_tag_the_engine_refuses_is_one_line_in_its_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: tuple[str, bytes], message: str
) -> None:
    answers = {"/_ping": ("200 OK", b"OK"), "/images/x:y/tag": answer}
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine() as engine:
            with pytest.raises(EngineError, match=message) as raised:
                await engine.tag_image("x:y", "x", "latest")
    assert raised.value.status == int(answer[0].split()[0])


async def test_an_image_lookup_the_engine_refuses_is_an_error_not_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"/_ping": ("200 OK", b"OK"), "/images/x:y/json": ("500 Server Error", b"{}")}
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_socket_engine() as engine:
            with pytest.raises(EngineError, match=r"^inspect image x:y: "):
                await engine.image("x:y")


CALLS = [
    pytest.param("version", (), {}, id="version"),
    pytest.param("info", (), {}, id="info"),
    pytest.param("images", ("r",), {}, id="images"),
    pytest.param("labelled_images", ("l",), {}, id="labelled_images"),
    pytest.param("pull", ("i",), {}, id="pull"),
    pytest.param("remove_image", ("i",), {}, id="remove_image"),
    pytest.param("exec", ("c", ["true"]), {"user": "u"}, id="exec"),
    pytest.param("network", ("n",), {}, id="network"),
    pytest.param(
        "create_network", ("n",), {"labels": {"a": "b"}, "internal": True}, id="create_network"
    ),
    pytest.param("remove_network", ("n",), {}, id="remove_network"),
]
STREAMS = [
    pytest.param(
        "open_build", (b"tar",), {"tag": "t", "labels": {}, "use_cache": False}, id="open_build"
    ),
]
ENGINE_METHODS = sorted(
    name
    for name, member in vars(Engine).items()
    if not name.startswith("_") and not isinstance(member, property)
)


def test_the_socket_engine_is_where_the_socket_is() -> None:
    endpoint = Endpoint(host="unix:///nowhere.sock", origin="DOCKER_HOST")
    engine = SocketEngine(AsyncExitStack(), endpoint, AsyncMock())
    assert engine.endpoint == endpoint and not engine.endpoint.remote


def test_the_socket_engine_answers_every_method_of_an_engine_by_name() -> None:
    asked = {param.values[0] for param in [*CALLS, *STREAMS]} | FROM_THE_SOCKET
    assert sorted(asked) == ENGINE_METHODS
    for name in ENGINE_METHODS:
        defined = inspect.signature(vars(SocketEngine)[name]).parameters
        assert defined == inspect.signature(vars(Engine)[name]).parameters, name


async def socket_engine(client: Any, stack: AsyncExitStack, opened: list[int]) -> SocketEngine:
    @asynccontextmanager
    async def open_client() -> AsyncIterator[Any]:
        opened.append(1)
        yield client

    return SocketEngine(stack, Endpoint(host="unix:///nowhere.sock"), open_client)


@pytest.mark.parametrize(("name", "args", "kwargs"), CALLS)
async def test_a_call_is_the_clients_with_its_arguments(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    client, opened = AsyncMock(spec=DockerEngine), []
    async with AsyncExitStack() as stack:
        engine = await socket_engine(client, stack, opened)
        answer = await getattr(engine, name)(*args, **kwargs)
        await getattr(engine, name)(*args, **kwargs)
    returns_nothing = inspect.signature(vars(Engine)[name]).return_annotation == "None"
    assert answer is (None if returns_nothing else getattr(client, name).return_value)
    assert getattr(client, name).await_args_list == [((*args,), kwargs)] * 2
    assert opened == [1]


@pytest.mark.parametrize(("name", "args", "kwargs"), STREAMS)
async def test_a_stream_is_the_clients_with_its_arguments(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    client, opened = AsyncMock(spec=DockerEngine), []
    opener = getattr(client, name)
    async with AsyncExitStack() as stack:
        engine = await socket_engine(client, stack, opened)
        async with getattr(engine, name)(*args, **kwargs) as stream:
            assert stream is opener.return_value.__aenter__.return_value
        assert opener.return_value.__aexit__.await_count == 1
    opener.assert_called_once_with(*args, **kwargs)
    assert opened == [1]


@asynccontextmanager
async def raw_engine(
    tmp_path: Path, answer: Callable[[bytes], Sequence[bytes | float]]
) -> AsyncIterator[Path]:
    """A unix socket that answers each request's head with ``answer``'s pieces, sent
    one by one (an empty piece: hold the connection open, sending nothing more; a
    number: wait that many seconds first)."""
    socket = tmp_path / "raw.sock"

    async def serve(stream: SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            for piece in answer(request):
                if isinstance(piece, float):
                    await anyio.sleep(piece)
                    continue
                if not piece:
                    await anyio.sleep_forever()
                await stream.send(piece)

    listener = await anyio.create_unix_listener(socket)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield socket
        tg.cancel_scope.cancel()


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


async def test_attached_output_comes_whole_however_the_reads_cut_it(tmp_path: Path) -> None:
    """Frames cut anywhere by the reads (the head's read included) come whole, each on
    its stream; a frame cut by the end is no output."""
    stream = frame(1, b"out one\n") + frame(2, b"err\n") + frame(1, b"x" * 70000)
    head = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
    cut = frame(1, b"never whole")[:-3]
    pieces = [head + stream[:5], stream[5:13], stream[13:40], stream[40:], cut]

    asked: list[bytes] = []

    def answer(request: bytes) -> list[bytes]:
        asked.append(request)
        return pieces

    async with raw_engine(tmp_path, answer) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        async with engine.attach("c" * 64) as output:
            got = []
            while (chunk := await output.read()) is not None:
                got.append((chunk.stream, chunk.data))
    assert got == [(1, b"out one\n"), (2, b"err\n"), (1, b"x" * 70000)]
    request_line, *headers = asked[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert (
        request_line
        == b"POST /containers/" + b"c" * 64 + b"/attach?stream=1&stdout=1&stderr=1 HTTP/1.1"
    )
    assert b"Upgrade: tcp" in headers and b"Connection: Upgrade" in headers


async def test_a_log_not_followed_that_stalls_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enginelogs, "REQUEST_TIMEOUT", 0.2)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    entry = frame(1, b"2026-12-06T10:00:00Z one\n")
    chunk = b"%x\r\n" % len(entry) + entry + b"\r\n"
    async with raw_engine(tmp_path, lambda _: [head + chunk, b""]) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        with pytest.raises(
            EngineUnavailable, match=r"^logs of c{12}: the Docker engine did not answer within 0 s$"
        ):
            async with engine.open_logs("c" * 64, follow=False) as entries:
                async for some in entries:
                    assert some == [b"2026-12-06T10:00:00Z one\n"]


async def test_a_request_the_engine_never_answers_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enginesocket, "REQUEST_TIMEOUT", 0.2)
    async with raw_engine(tmp_path, lambda _: [b""]) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        with pytest.raises(
            EngineUnavailable,
            match=r"^inspect container c{12}: the Docker engine did not answer within 0 s$",
        ):
            await engine.inspect("c" * 64)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(
            b'HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{"Id":', EngineUnavailable, id="cut"
        ),
        pytest.param(b"HTTP/1.1 201 Created\r\n\r\n[]", EngineError, id="no-id"),
    ],
)
async def test_a_creation_answer_that_is_no_answer_is_an_error(
    tmp_path: Path, answer: bytes, error: type[Exception]
) -> None:
    async with raw_engine(tmp_path, lambda _: [answer]) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        with pytest.raises(error, match=r"^create container n: "):
            await engine.create_container(ContainerSpec(image="i", name="n", labels={}))


@asynccontextmanager
async def gated_engine(
    tmp_path: Path, pieces: list[bytes | anyio.Event]
) -> AsyncIterator[tuple[Path, list[bytes]]]:
    """A unix socket that answers each request with ``pieces`` in turn: bytes are sent,
    an event is waited for; then it closes the connection. The requests' bytes, as
    far as they were read, are listed."""
    socket, asked = tmp_path / "gated.sock", []

    async def serve(stream: SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            asked.append(request)
            for piece in pieces:
                if isinstance(piece, anyio.Event):
                    await piece.wait()
                else:
                    await stream.send(piece)

    listener = await anyio.create_unix_listener(socket)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield socket, asked
        tg.cancel_scope.cancel()


UPGRADED = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"


async def test_attached_output_goes_on_after_a_read_given_up_on(tmp_path: Path) -> None:
    """A read given up on (a run quiet past its idle time, then stopped) loses nothing:
    what the container prints while it stops still comes, and the output ends only
    when the engine ends it."""
    more = anyio.Event()
    pieces: list[bytes | anyio.Event] = [UPGRADED + frame(1, b"one\n"), more, frame(1, b"two\n")]
    async with gated_engine(tmp_path, pieces) as (socket, _):
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        async with engine.attach("c" * 64) as output:
            first = await output.read()
            with anyio.move_on_after(0.05) as waited:
                await output.read()
            assert waited.cancelled_caught
            more.set()
            rest = []
            while (chunk := await output.read()) is not None:
                rest.append(chunk.data)
    assert first is not None and first.data == b"one\n"
    assert rest == [b"two\n"]


async def test_a_file_the_engine_refuses_before_taking_it_all_is_its_refusal(
    tmp_path: Path,
) -> None:
    """The engine may refuse a file by its head and close without reading the rest:
    the refusal, in its words, is the error (not an engine that did not answer), and
    the container made for it is removed."""
    made = "d" * 64
    asked: list[bytes] = []

    def answer(request: bytes) -> list[bytes]:
        line = request.split(b"\r\n", 1)[0]
        asked.append(line)
        if line.startswith(b"POST /containers/create"):
            body = json.dumps({"Id": made}).encode()
            return [b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body) + body]
        if line.startswith(b"PUT "):
            refusal = b'{"message":"Could not find the file /nowhere in container n"}'
            return [b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n" + refusal]
        return [b"HTTP/1.1 204 No Content\r\n\r\n"]

    file = ContainerFile(path="/nowhere/secret", data=os.urandom(4 << 20))
    spec = ContainerSpec(image="i", name="n", labels={}, files=[file])
    async with raw_engine(tmp_path, answer) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        with pytest.raises(EngineError) as raised:
            await engine.create_container(spec)
    assert str(raised.value) == (
        "write /nowhere/secret into container n: Could not find the file /nowhere in container n"
    )
    assert raised.value.status == 404
    assert asked[-1] == b"DELETE /containers/" + made.encode() + b"?force=1 HTTP/1.1"


async def test_an_engine_that_drops_a_request_says_why(tmp_path: Path) -> None:
    """A connection the engine closes while the request is still being sent is one
    line that says what broke it."""
    async with raw_engine(tmp_path, lambda _: []) as socket:
        with pytest.raises(EngineUnavailable) as raised:
            await rawhttp.ask(str(socket), "PUT", "/x", "put x", body=bytes(8 << 20))
    assert re.fullmatch(r"put x: the Docker engine did not answer \(.*\w.*\)", str(raised.value))


async def test_a_made_containers_id_goes_into_its_file_requests_quoted(tmp_path: Path) -> None:
    """The id the engine gives a container is a path segment of the requests that
    write its files, whatever it holds: it never ends the request line."""
    made = "d1 /../x\r\nX-Injected: 1"
    asked: list[bytes] = []

    def answer(request: bytes) -> list[bytes]:
        asked.append(request.split(b"\r\n", 1)[0])
        if request.startswith(b"POST /containers/create"):
            body = json.dumps({"Id": made}).encode()
            return [b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body) + body]
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]

    spec = ContainerSpec(
        image="i", name="n", labels={}, files=[ContainerFile(path="/etc/f", data=b"x")]
    )
    async with raw_engine(tmp_path, answer) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        assert await engine.create_container(spec) == made
    assert (
        asked[1]
        == b"PUT /containers/d1%20%2F..%2Fx%0D%0AX-Injected%3A%201/archive?path=%2Fetc HTTP/1.1"
    )


async def test_a_stop_has_its_grace_on_top_of_the_requests_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine answers a stop only once the container stopped: the request's bound
    with the grace, not the bound of an answer's head, is what it is given."""
    monkeypatch.setattr(rawhttp, "HEAD_TIMEOUT", 0.05)
    stopped = [0.5, b"HTTP/1.1 204 No Content\r\n\r\n"]  # the head, well past HEAD_TIMEOUT
    async with raw_engine(tmp_path, lambda _: stopped) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        await engine.stop("c" * 64, grace=10)


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
async def test_an_answer_without_a_body_is_whole_at_its_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: bytes
) -> None:
    """A 204 or 304 has no body, whether the connection closes after it or not: a
    start is done when its head comes."""
    monkeypatch.setattr(enginesocket, "REQUEST_TIMEOUT", 0.5)
    async with raw_engine(tmp_path, lambda _: [b"HTTP/1.1 " + status + b"\r\n\r\n", b""]) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        await engine.start("c" * 64)
        await engine.stop("c" * 64)


REFUSAL = b'{"message":"cannot start: boom"}'


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"Content-Length: %d\r\n\r\n" % len(REFUSAL) + REFUSAL, id="length"),
        pytest.param(
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(REFUSAL), REFUSAL),
            id="chunked",
        ),
    ],
)
async def test_a_refusal_is_whole_at_the_end_of_its_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, framing: bytes
) -> None:
    """A refusal's message is read as far as its body goes, whether the connection
    closes after it or not: it is the error, never an engine that did not answer."""
    monkeypatch.setattr(enginesocket, "REQUEST_TIMEOUT", 0.5)
    head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    async with raw_engine(tmp_path, lambda _: [head + framing, b""]) as socket:
        engine = SocketEngine(AsyncExitStack(), Endpoint(host=f"unix://{socket}"), AsyncMock())
        with pytest.raises(EngineError) as raised:
            await engine.start("c" * 64)
    assert str(raised.value) == "start container cccccccccccc: cannot start: boom"
    assert raised.value.status == 500
