"""The status commands' engine: listings from the socket, everything else through the
client. A small HTTP server on a unix socket stands in for the engine here; the real
engine answers the same requests in the integration tests."""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from anyio.abc import SocketStream

from scad.engine import _socket as enginesocket
from scad.engine._client import DockerEngine
from scad.engine._endpoint import Endpoint
from scad.engine._socket import StatusEngine, open_status_engine
from scad.engine._types import ContainerSpec, Engine
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
        async with open_status_engine() as engine:
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
        async with open_status_engine(open_engine) as engine:
            made = await engine.create_container(
                ContainerSpec(image="i", name="n", labels={"scad.run": "r"})
            )
            assert (await engine.inspect(made)) == (await client.inspect(made))
            await engine.start(made)
            async with engine.attach(made) as output:
                assert output is not None
    assert opened == [1]


async def test_an_engine_that_does_not_answer_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(
        EngineUnavailable,
        match=rf"^cannot reach the Docker engine at unix://{tmp_path}/none\.sock; start dockerd",
    ):
        async with open_status_engine():
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
        async with open_status_engine() as engine:
            with pytest.raises(
                EngineError, match=r"answered 'HTTP/1\.0 500 Internal Server Error'$"
            ):
                await engine.containers({"scad.run": None})


async def test_an_answer_past_the_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enginesocket, "RESPONSE_LIMIT", 1000)
    answers = {
        "/_ping": ("200 OK", b"OK"),
        "/containers/json": ("200 OK", b"[" + b" " * 5000 + b"]"),
    }
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_status_engine() as engine:
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
    async with open_status_engine(open_engine) as engine:
        assert engine is client


#: What the status engine asks the socket itself.
FROM_THE_SOCKET = {"containers", "image", "tag_image"}

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
        async with open_status_engine(AsyncMock(side_effect=AssertionError)) as engine:
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
        (("500 Internal Server Error", b"oops"), r"^tag x:y: the engine answered 'HTTP/1\.0 500"),
    ],
)
async def test_a_tag_the_engine_refuses_is_one_line_in_its_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: tuple[str, bytes], message: str
) -> None:
    answers = {"/_ping": ("200 OK", b"OK"), "/images/x:y/tag": answer}
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_status_engine() as engine:
            with pytest.raises(EngineError, match=message) as raised:
                await engine.tag_image("x:y", "x", "latest")
    assert raised.value.status == int(answer[0].split()[0])


async def test_an_image_lookup_the_engine_refuses_is_an_error_not_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"/_ping": ("200 OK", b"OK"), "/images/x:y/json": ("500 Server Error", b"{}")}
    async with engine_at(tmp_path, answers) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_status_engine() as engine:
            with pytest.raises(EngineError, match=r"^inspect image x:y: "):
                await engine.image("x:y")


SPEC = ContainerSpec(image="i", name="n", labels={})
CALLS = [
    pytest.param("version", (), {}, id="version"),
    pytest.param("info", (), {}, id="info"),
    pytest.param("images", ("r",), {}, id="images"),
    pytest.param("labelled_images", ("l",), {}, id="labelled_images"),
    pytest.param("pull", ("i",), {}, id="pull"),
    pytest.param("remove_image", ("i",), {}, id="remove_image"),
    pytest.param("create_container", (SPEC,), {}, id="create_container"),
    pytest.param("start", ("c",), {}, id="start"),
    pytest.param("stop", ("c",), {"grace": 3}, id="stop"),
    pytest.param("remove", ("c",), {"force": True}, id="remove"),
    pytest.param("inspect", ("c",), {}, id="inspect"),
    pytest.param("logs", ("c",), {"stderr": True, "tail": 5}, id="logs"),
    pytest.param("wait", ("c",), {}, id="wait"),
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
    pytest.param("open_logs", ("c",), {"since": "1", "follow": False}, id="open_logs"),
    pytest.param("attach", ("c",), {}, id="attach"),
]
ENGINE_METHODS = sorted(
    name
    for name, member in vars(Engine).items()
    if not name.startswith("_") and not isinstance(member, property)
)


def test_the_status_engine_is_where_the_socket_is() -> None:
    endpoint = Endpoint(host="unix:///nowhere.sock", origin="DOCKER_HOST")
    engine = StatusEngine(AsyncExitStack(), endpoint, AsyncMock())
    assert engine.endpoint == endpoint and not engine.endpoint.remote


def test_the_status_engine_answers_every_method_of_an_engine_by_name() -> None:
    asked = {param.values[0] for param in [*CALLS, *STREAMS]} | FROM_THE_SOCKET
    assert sorted(asked) == ENGINE_METHODS
    for name in ENGINE_METHODS:
        defined = inspect.signature(vars(StatusEngine)[name]).parameters
        assert defined == inspect.signature(vars(Engine)[name]).parameters, name


async def status_engine(client: Any, stack: AsyncExitStack, opened: list[int]) -> StatusEngine:
    @asynccontextmanager
    async def open_client() -> AsyncIterator[Any]:
        opened.append(1)
        yield client

    return StatusEngine(stack, Endpoint(host="unix:///nowhere.sock"), open_client)


@pytest.mark.parametrize(("name", "args", "kwargs"), CALLS)
async def test_a_call_is_the_clients_with_its_arguments(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    client, opened = AsyncMock(spec=DockerEngine), []
    async with AsyncExitStack() as stack:
        engine = await status_engine(client, stack, opened)
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
        engine = await status_engine(client, stack, opened)
        async with getattr(engine, name)(*args, **kwargs) as stream:
            assert stream is opener.return_value.__aenter__.return_value
        assert opener.return_value.__aexit__.await_count == 1
    opener.assert_called_once_with(*args, **kwargs)
    assert opened == [1]
