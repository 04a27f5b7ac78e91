"""A container's life reads the same through the Docker client and straight off the
engine's socket (:mod:`scad.engine._socket`): each test runs on both, against a
real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from scad.engine import open_engine, open_socket_engine
from scad.engine._types import ContainerFile, ContainerSpec, Engine
from scad.errors import EngineError
from scad.runs.catchup import exit_of

from .conftest import BASE_IMAGE

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def _never_the_client() -> AbstractAsyncContextManager[Engine]:
    raise AssertionError("the socket engine opened the client for a container's life")


def _socket() -> AbstractAsyncContextManager[Engine]:
    return open_socket_engine(_never_the_client)


@pytest.fixture(params=[open_engine, _socket], ids=["client", "socket"])
async def either(
    request: pytest.FixtureRequest, engine: Engine
) -> AsyncIterator[Engine]:  # ``engine``: the base image is there, or CI fails
    opener: Callable[[], AbstractAsyncContextManager[Engine]] = request.param
    async with opener() as opened:
        yield opened


@asynccontextmanager
async def container(engine: Engine, spec: ContainerSpec) -> AsyncIterator[str]:
    container_id = await engine.create_container(spec)
    try:
        yield container_id
    finally:
        await engine.remove(container_id, force=True)


#: Its file, many lines on stdout (several reads' worth), a line on stderr, exit 3.
SCRIPT = "cat /etc/scad-note; seq 1 30000; echo to-err >&2; exit 3"
EXPECTED_OUT = b"a note\n" + b"".join(b"%d\n" % n for n in range(1, 30001))


async def test_a_container_is_made_watched_and_ended_alike(either: Engine, test_label: str) -> None:
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sh", "-c", SCRIPT],
        files=[ContainerFile(path="/etc/scad-note", data=b"a note\n", mode=0o444)],
    )
    async with container(either, spec) as container_id:
        out, err = bytearray(), bytearray()
        async with either.attach(container_id) as output:
            await either.start(container_id)
            while (chunk := await output.read()) is not None:
                (out if chunk.stream == 1 else err).extend(chunk.data)
        ended = await either.wait(container_id)
        assert (bytes(out), bytes(err)) == (EXPECTED_OUT, b"to-err\n")
        assert (ended.exit_code, ended.oom) == (3, False)
        assert ended.started_at and ended.finished_at

        state = await either.inspect(container_id)
        assert state is not None and state.status == "exited" and not state.running
        assert state.labels["scad.test"] == test_label
        # The engine counts a tail over both streams, in the order its copiers met them
        # (one a stream): the line on stderr, printed last, may still come before 30000.
        tailed = await either.logs(container_id, tail=2)
        assert tailed in (["29999\n", "30000\n"], ["30000\n"])
        assert await either.logs(container_id, stderr=True, tail=40000) == ["to-err\n"]

        logged = bytearray()
        async with either.open_logs(container_id, follow=False) as entries:
            async for some in entries:
                for entry in some:
                    stamp, _, data = entry.partition(b" ")
                    assert stamp[:2] == b"20" and stamp.endswith(b"Z")
                    logged += data
        assert bytes(logged) == EXPECTED_OUT

        await either.stop(container_id, grace=1)  # stopped already: no error
    assert await either.inspect(container_id) is None
    await either.remove(container_id, force=True)  # gone already: no error
    await either.stop(container_id)
    assert await either.containers({"scad.test": test_label}) == []


async def test_a_running_container_is_stopped_alike(either: Engine, test_label: str) -> None:
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sleep", "300"],
    )
    async with container(either, spec) as container_id:
        await either.start(container_id)
        await either.start(container_id)  # started already: no error
        assert (state := await either.inspect(container_id)) is not None and state.running
        await either.stop(container_id, grace=1)
        ended = await either.wait(container_id)
        assert ended.exit_code != 0  # ended by the signal
        state = await either.inspect(container_id)
        assert state is not None and state.status == "exited"


async def test_what_the_engine_refuses_is_the_same_line(either: Engine, test_label: str) -> None:
    missing = ContainerSpec(image="scad-no-such-image:nope", name=f"scad-{test_label}", labels={})
    with pytest.raises(
        EngineError, match=r"^image scad-no-such-image:nope does not exist; build it with"
    ):
        await either.create_container(missing)

    gone = "0" * 64
    with pytest.raises(
        EngineError, match=r"^start container 000000000000: No such container: "
    ) as start:
        await either.start(gone)
    assert start.value.status == 404
    with pytest.raises(EngineError, match=r"^wait for 000000000000: No such container: "):
        await either.wait(gone)
    with pytest.raises(EngineError, match=r"^logs of 000000000000: No such container: "):
        await either.logs(gone, tail=1)

    spec = ContainerSpec(image=BASE_IMAGE, name=f"scad-{test_label}", labels={}, command=["true"])
    async with container(either, spec):
        with pytest.raises(EngineError, match=rf"^create container scad-{test_label}: Conflict"):
            await either.create_container(spec)


async def test_a_file_that_cannot_go_in_leaves_no_container(
    either: Engine, test_label: str
) -> None:
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["true"],
        files=[ContainerFile(path="/no/such/folder/secret", data=b"s")],
    )
    with pytest.raises(EngineError, match=r"^write /no/such/folder/secret into container scad-"):
        await either.create_container(spec)
    assert await either.containers({"scad.test": test_label}) == []


async def test_a_failure_s_stderr_before_much_stdout_is_in_its_exit(
    either: Engine, test_label: str
) -> None:
    """The engine counts a log's tail over both streams: a failure's stderr that much
    stdout followed is still what its `exited` event says."""
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sh", "-c", "echo the failure >&2; sleep 0.2; seq 1 500; exit 1"],
    )
    async with container(either, spec) as container_id:
        await either.start(container_id)
        await either.wait(container_id)
        state = await either.inspect(container_id)
        assert state is not None
        exited = await exit_of(either, state)
        assert (exited.exit_code, exited.stderr) == (1, "the failure")
