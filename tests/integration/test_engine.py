"""The engine path through aiodocker against a real engine."""

from __future__ import annotations

import aiodocker
import pytest

from scad.engine import ContainerSpec, Engine
from scad.engine._frames import Frames, frames
from scad.engine._internals import log_response
from scad.errors import EngineError

from .conftest import BASE_IMAGE

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


async def test_labelled_container_lifecycle(engine: Engine, test_label: str) -> None:
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sleep", "300"],
    )
    container_id = await engine.create_container(spec)
    try:
        await engine.start(container_id)
        state = await engine.inspect(container_id)
        assert state is not None and state.running and state.labels["scad.test"] == test_label

        listed = await engine.containers({"scad.test": test_label})
        assert [c.id for c in listed] == [container_id]

        result = await engine.exec(container_id, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert result.exit_code == 3
        assert sorted(result.output.split()) == ["err", "out"]

        await engine.stop(container_id, grace=1)
        state = await engine.inspect(container_id)
        assert state is not None and not state.running and state.status == "exited"
    finally:
        await engine.remove(container_id, force=True)
    assert await engine.inspect(container_id) is None
    assert await engine.containers({"scad.test": test_label}) == []


async def test_create_from_missing_image_is_clear(engine: Engine, test_label: str) -> None:
    spec = ContainerSpec(image="scad-no-such-image:nope", name=f"scad-{test_label}", labels={})
    with pytest.raises(
        EngineError,
        match=r"image scad-no-such-image:nope does not exist; build it with `scad build`",
    ):
        await engine.create_container(spec)


async def test_a_listed_container_reads_as_its_inspection(engine: Engine, test_label: str) -> None:
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sh", "-c", "exit 0"],
    )
    container_id = await engine.create_container(spec)
    try:
        (listed,) = await engine.containers({"scad.test": test_label})
        inspected = await engine.inspect(container_id)
        assert inspected is not None
        fields = ("id", "name", "image", "image_id", "status", "running", "labels")
        assert [getattr(listed, f) for f in fields] == [getattr(inspected, f) for f in fields]
        assert (listed.name, listed.status) == (f"scad-{test_label}", "created")
        assert listed.image_id.startswith("sha256:") and listed.created
    finally:
        await engine.remove(container_id, force=True)


async def test_the_log_response_is_the_engines_frames(engine: Engine, test_label: str) -> None:
    """aiodocker's internals that scad reads logs through still answer as they did."""
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sh", "-c", "echo one; echo two >&2; echo three"],
    )
    container_id = await engine.create_container(spec)
    try:
        await engine.start(container_id)
        assert (await engine.wait(container_id)).exit_code == 0
        async with aiodocker.Docker() as docker:
            out = await log_body(docker, container_id, {"stdout": True, "follow": False})
            err = await log_body(docker, container_id, {"stderr": True, "follow": False})
    finally:
        await engine.remove(container_id, force=True)
    assert frames(out) == Frames([b"one\n", b"three\n"], None, len(out))
    assert frames(err) == Frames([b"two\n"], None, len(err))
    # Each frame's header names its stream: stdout's two, then stderr's one.
    assert (out[0], out[8 + len(b"one\n")], err[0]) == (1, 1, 2)


async def log_body(docker: aiodocker.Docker, container_id: str, params: dict[str, bool]) -> bytes:
    async with log_response(docker, container_id, params) as response:
        assert response.status == 200
        return b"".join([chunk async for chunk in response.content.iter_any()])
