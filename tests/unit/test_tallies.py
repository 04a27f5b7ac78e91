"""Runs' tallies read on from where they stopped: what one read of the whole log says."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.home import Home
from scad.runs import tallies
from scad.runs.accounting import summarise
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths
from scad.runs.tallies import LogTallies

from .test_summaries import ODD_LOGS, log_bytes

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("chunk", [1 << 20, 4096])  # in one read, or lines longer than one
async def test_a_log_read_on_piece_by_piece_tallies_as_one_read_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(tallies, "READ_CHUNK", chunk)
    home = Home(tmp_path)
    logs = LogTallies(home)
    for name, write in ODD_LOGS.items():
        whole = log_bytes(tmp_path / name, write)
        paths = RunPaths(home, name)
        paths.root.mkdir(parents=True)
        paths.events.write_bytes(b"")
        for line in whole.splitlines(keepends=True):
            for piece in (line[: len(line) // 2], line[len(line) // 2 :]):
                with paths.events.open("ab") as log:
                    log.write(piece)
                await logs.update([name])
        tally = (await logs.update([name]))[name]
        assert tally.summary() == summarise(await read_all_events(paths)), name
    await logs.update(["gone"])
    assert logs.missing == {"gone"}
