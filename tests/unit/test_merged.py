"""Many runs' logs merged by time, read in chunks, followed as they grow."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from scad.cli.logs import parse_since
from scad.errors import UsageError
from scad.home import Home
from scad.runs import merged
from scad.runs.events import LogLine, ingest
from scad.runs.merged import RunEnvelope, follow_logs, merge_logs
from scad.runs.records import RunPaths
from tests.conftest import Cli

pytestmark = pytest.mark.anyio


def at(second: int) -> str:
    return f"2026-11-27T10:{second // 60:02d}:{second % 60:02d}.000Z"


async def write(home: Home, run_id: str, seconds: list[int], first: int = 0) -> None:
    paths = RunPaths(home, run_id)
    paths.root.mkdir(parents=True, exist_ok=True)
    lines = [
        LogLine(at(s), json.dumps({"type": "x", "s": s, "run": run_id}).encode()) for s in seconds
    ]
    await ingest(paths, "c", first, lines)


def seen(batches: list[list[RunEnvelope]]) -> list[tuple[str, int]]:
    return [(i.run_id, i.envelope.payload()["s"]) for batch in batches for i in batch]


async def test_runs_are_merged_by_time_whatever_the_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path)
    await write(home, "a", [1, 4, 5, 9])
    await write(home, "b", [2, 3, 6, 7, 8])
    await write(home, "c", [])
    monkeypatch.setattr(merged, "MERGE_CHUNK", 150)  # about one line a read
    batches: list[list[RunEnvelope]] = []
    offsets = await merge_logs(home, ["a", "b", "c"], batches.append, batch=3)
    assert seen(batches) == [("a", 1), ("b", 2), ("b", 3), ("a", 4), ("a", 5), ("b", 6),
                             ("b", 7), ("b", 8), ("a", 9)]  # fmt: skip
    assert [len(b) for b in batches] == [3, 3, 3]
    assert offsets["a"] == RunPaths(home, "a").events.stat().st_size and offsets["c"] == 0


async def test_since_keeps_only_later_lines(tmp_path: Path) -> None:
    home = Home(tmp_path)
    await write(home, "a", [1, 4, 5])
    await write(home, "b", [2, 6])
    batches: list[list[RunEnvelope]] = []
    await merge_logs(home, ["a", "b"], batches.append, since=at(4))
    assert seen(batches) == [("a", 4), ("a", 5), ("b", 6)]


async def test_following_hands_on_new_lines_and_new_runs_once(tmp_path: Path) -> None:
    home = Home(tmp_path)
    await write(home, "a", [1])
    batches: list[list[RunEnvelope]] = []
    offsets = await merge_logs(home, ["a"], batches.append)
    runs = ["a"]
    done = anyio.Event()

    async def grow() -> None:
        await write(home, "a", [3], first=1)
        runs.append("b")
        await write(home, "b", [2, 4])
        await anyio.sleep(0.5)
        await write(home, "a", [5], first=2)
        await anyio.sleep(0.5)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(grow)
        await follow_logs(home, offsets, batches.append, discover=lambda: runs, until=done.is_set)
    # Each line once; each run's in order (a poll orders what it found by time).
    lines = seen(batches)
    assert sorted(lines, key=lambda x: x[1]) == [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
    assert [s for r, s in lines if r == "a"] == [1, 3, 5]
    assert [s for r, s in lines if r == "b"] == [2, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30s", "2026-11-27T09:59:30.000Z", id="seconds"),
        pytest.param("10m", "2026-11-27T09:50:00.000Z", id="minutes"),
        pytest.param("2h", "2026-11-27T08:00:00.000Z", id="hours"),
        pytest.param("1d", "2026-11-26T10:00:00.000Z", id="days"),
        pytest.param("2026-11-27T09:00:00Z", "2026-11-27T09:00:00.000Z", id="iso"),
        pytest.param("2026-11-27T09:00:00+01:00", "2026-11-27T08:00:00.000Z", id="offset"),
    ],
)
def test_since(text: str, expected: str) -> None:
    assert parse_since(text, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)) == expected


@pytest.mark.parametrize("text", ["10", "ten minutes", "5w", "2026-13-01"])
def test_since_that_is_neither_a_duration_nor_a_time(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--since .*: give a duration \(30s, 10m, 2h, 1d\)"):
        parse_since(text, datetime(2026, 11, 27, 10, 0, tzinfo=UTC))


async def test_logs_without_an_engine_shows_the_logs_as_they_are(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scad.runs.records import RunRecord, save_run

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    home = Home(scad_home)
    for run_id, seconds in (("p-a-Nov27-1000", [1, 3]), ("p-b-Nov27-1000", [2])):
        record = RunRecord(run_id=run_id, config="p", tag="t", mode="headless", image="i",
                           branch="b", created=at(0), repos={})  # fmt: skip
        RunPaths(home, run_id).root.mkdir(parents=True)
        save_run(home, record)
        paths = RunPaths(home, run_id)
        text = [
            {"type": "assistant", "message": {"content": [{"type": "text", "text": f"t{s}"}]}}
            for s in seconds
        ]
        await ingest(
            paths,
            "c",
            0,
            [LogLine(at(s), json.dumps(t).encode()) for s, t in zip(seconds, text, strict=True)],
        )
    result = await run_cli("logs", "--json")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: cannot reach the Docker engine")
    assert [json.loads(line)["run_id"] for line in result.stdout.splitlines()] == [
        "p-a-Nov27-1000", "p-b-Nov27-1000", "p-a-Nov27-1000",
    ]  # fmt: skip
    plain = await run_cli("logs", "--config", "p")
    assert [line.split(" | ")[1][9:] for line in plain.stdout.splitlines()] == ["t1", "t2", "t3"]
    both = await run_cli("logs", "p-a-Nov27-1000", "--config", "p")
    assert (both.exit_code, both.stderr) == (
        2,
        "scad: error: name runs, or give --config or --batch (one of them)\n",
    )
    bad = await run_cli("logs", "--since", "yesterday")
    assert bad.exit_code == 2 and bad.stderr.startswith("scad: error: --since yesterday: give")
