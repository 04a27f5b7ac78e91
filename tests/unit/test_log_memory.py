"""Going over a whole run's event log takes memory flat in the log's size, however much
an agent printed."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from scad.home import Home
from scad.runs.envelopes import Exited, Started
from scad.runs.events import LogLine, append_event, ingest
from scad.runs.outcomes import Watch
from scad.runs.readback import logged_outcome
from scad.runs.records import RunPaths

pytestmark = pytest.mark.anyio

CID = "c" * 64


async def test_the_outcome_of_an_adopted_run_reads_its_log_a_chunk_at_a_time(
    tmp_path: Path,
) -> None:
    paths = RunPaths(Home(tmp_path), "r1")
    paths.root.mkdir(parents=True)
    await append_event(paths, Started(cid=CID))
    pad = "x" * 2000
    lines = [LogLine("t", json.dumps({"type": "user", "pad": pad}).encode()) for _ in range(30_000)]
    result = {"type": "result", "is_error": False, "num_turns": 7, "total_cost_usd": 1.5,
              "usage": {"output_tokens": 100_000}}  # fmt: skip
    lines.append(LogLine("t", json.dumps(result).encode()))
    await ingest(paths, CID, 0, lines, exit=Exited(exit_code=0))
    del lines
    assert paths.events.stat().st_size > 60 << 20
    tracemalloc.start()
    try:
        outcome = await logged_outcome(paths, "r1", CID, Watch())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (outcome.outcome, outcome.turns, outcome.cost_usd) == ("succeeded", 7, 1.5)
    assert peak < 24 << 20, f"{peak >> 20} MB"


async def test_writing_a_line_of_megabytes_costs_its_bytes_not_its_decoding(
    tmp_path: Path,
) -> None:
    """Megabytes of tiny JSON objects would be millions of Python objects, decoded."""
    paths = RunPaths(Home(tmp_path), "r1")
    paths.root.mkdir(parents=True)
    line = "[" + ",".join(["{}"] * (3 << 20)) + "]"  # 9 MB
    tracemalloc.start()
    try:
        await ingest(paths, CID, 0, [LogLine("t", line.encode())])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak >> 20} MB"
    assert paths.events.read_bytes().endswith(b',"data":' + line.encode() + b"}\n")
