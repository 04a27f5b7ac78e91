"""The engine path through aiodocker against a real engine."""

from __future__ import annotations

import pytest

from scad.engine._client import ContainerSpec, Engine
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
