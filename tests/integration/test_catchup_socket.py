"""A catch-up read off the engine's socket holds what the container printed, line for
line, whatever it printed: lines the engine cuts into pieces, bytes that are not
UTF-8, a character cut between pieces, a last line without its newline; and the
client's path reads the same entries."""

from __future__ import annotations

from pathlib import Path

import aiodocker
import anyio
import pytest

from scad.engine import ContainerSpec, Engine
from scad.engine._client import DockerEngine
from scad.engine._internals import log_response
from scad.engine._logs import entries as log_entries
from scad.home import Home
from scad.runs.catchup import catch_up
from scad.runs.envelopes import ClaudeLine, Exited
from scad.runs.lines import LogLines
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord

from .conftest import BASE_IMAGE

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

#: Printed by the container: many short lines, then the odd ones.
PRINT = r"""
import sys
out = sys.stdout.buffer
for i in range(5000):
    out.write(b"line %d of the run\n" % i)
out.write(b"x" * 40000 + b"\n")  # cut by the engine into 16 KiB pieces
out.write(b"a" * 16383 + "\u00e9\u00e9".encode() + b"\n")  # a character cut between pieces
out.write(b"bad \xff\xfe bytes\n")
out.write(b'{"type": "system", "subtype": "init"}\n')
out.write(b"\n")
out.write(b"no newline at the end")
"""


async def test_a_catch_up_off_the_socket_holds_every_line(
    engine: Engine, test_label: str, tmp_path: Path
) -> None:
    assert isinstance(engine, DockerEngine) and engine.endpoint.host.startswith("unix://")
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["python3", "-c", PRINT],
    )
    container_id = await engine.create_container(spec)
    try:
        await engine.start(container_id)
        assert (await engine.wait(container_id)).exit_code == 0
        printed = (await anyio.run_process(["docker", "logs", container_id])).stdout
        home = Home(tmp_path / "home")
        RunPaths(home, "odd").root.mkdir(parents=True)
        record = RunRecord(run_id="odd", config="c", tag="t", mode="headless", image="i",
                           branch="b", created="", repos={}, container_id=container_id)  # fmt: skip
        assert await catch_up(engine, home, record) is False
        through_client = await client_lines(container_id)
    finally:
        await engine.remove(container_id, force=True)
    envelopes = await read_all_events(RunPaths(home, "odd"))
    lines = [e for e in envelopes if isinstance(e, ClaudeLine)]
    held = [bytes(e.data).decode() if e.text is None else e.text for e in lines]
    expected = [line.decode(errors="replace") for line in printed.split(b"\n")]
    assert held == expected
    assert [e.n for e in lines] == list(range(len(expected)))
    assert isinstance(envelopes[-1], Exited) and envelopes[-1].exit_code == 0
    assert through_client == expected


async def client_lines(container_id: str) -> list[str]:
    """The lines of the container's log read through the HTTP client, as a catch-up
    from a remote engine reads them."""
    parser = LogLines()
    lines = []
    params = {"stdout": True, "follow": False, "timestamps": True}
    async with aiodocker.Docker() as docker, log_response(docker, container_id, params) as answer:
        async for entries in log_entries(answer.content.iter_any()):
            lines += [line.data.decode(errors="replace") for line in parser.feed_all(entries)]
    return lines + [line.data.decode(errors="replace") for line in parser.finish()]
