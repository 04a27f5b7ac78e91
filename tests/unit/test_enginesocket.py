"""The status commands' engine: listings from the socket, everything else through the
client. A small HTTP server on a unix socket stands in for the engine here; the real
engine answers the same requests in the integration tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from anyio.abc import SocketStream

from scad.engine import _socket as enginesocket
from scad.engine._socket import open_status_engine
from scad.engine._types import ContainerSpec
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


async def test_anything_else_opens_the_client_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FakeEngine()
    opened: list[int] = []

    @asynccontextmanager
    async def open_engine() -> AsyncIterator[FakeEngine]:
        opened.append(1)
        yield client

    monkeypatch.setattr("scad.engine._client.open_engine", open_engine)
    async with engine_at(tmp_path, {"/_ping": ("200 OK", b"OK")}) as (socket, _):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        async with open_status_engine() as engine:
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

    monkeypatch.setattr("scad.engine._client.open_engine", open_engine)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    async with open_status_engine() as engine:
        assert engine is client
