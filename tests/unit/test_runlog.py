"""Catching a run's log up from the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from scad.events import Exit, LogLine, ingest, read_all_events
from scad.home import Home
from scad.runlog import catch_up
from scad.runs import RunPaths, RunRecord

pytestmark = pytest.mark.anyio


class UnreachableEngine:
    """Fails any call: the code under test must not need the engine."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was asked for {name}")


async def test_a_run_whose_exit_is_logged_needs_no_engine(tmp_path: Path) -> None:
    home = Home(tmp_path)
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="scad-p:abc",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={},
        container_id="c1",
    )  # fmt: skip
    paths = RunPaths(home, record.run_id)
    paths.root.mkdir(parents=True)
    await ingest(paths, "c1", 0, [LogLine("t0", '{"type":"result"}')], exit=Exit(exit_code=0))
    assert await catch_up(cast(Any, UnreachableEngine()), home, record) is False
    assert [e.event for e in await read_all_events(paths)] == [None, "exited"]
