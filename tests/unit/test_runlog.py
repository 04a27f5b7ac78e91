"""Catching a run's log up from the engine."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from scad.engine._types import ContainerState
from scad.errors import EngineUnavailable
from scad.home import Home
from scad.runs.catchup import catch_up, exit_of
from scad.runs.envelopes import Exited
from scad.runs.events import LogLine, ingest
from scad.runs.lines import unix_time
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord

pytestmark = pytest.mark.anyio


class GoneEngine:
    """Answers that the container is gone, and fails any other call."""

    async def inspect(self, container_id: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was asked for {name}")


async def test_a_run_whose_exit_is_logged_asks_only_whether_it_lives_again(
    tmp_path: Path,
) -> None:
    """Its container removed since: nothing more is read, and nothing was lost."""
    home = Home(tmp_path)
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="scad-p:abc",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={},
        container_id="c1",
    )  # fmt: skip
    paths = RunPaths(home, record.run_id)
    paths.root.mkdir(parents=True)
    await ingest(paths, "c1", 0, [LogLine("t0", b'{"type":"result"}')], exit=Exited(exit_code=0))
    assert await catch_up(cast(Any, GoneEngine()), home, record) is False
    assert [e.kind for e in await read_all_events(paths)] == [None, "exited"]


def stamp(i: int) -> str:
    """The engine's stamp of entry ``i``: three entries share each instant."""
    return f"2026-11-27T10:{i // 3 // 60:02d}:{i // 3 % 60:02d}.5Z"


class LogEngine:
    """An engine that kept a finished container's output: stdout entries (long lines
    in pieces, several to a timestamp) handed out a read at a time, and stderr."""

    def __init__(self, stdout: list[str], stderr: list[str], *, break_after: int | None = None):
        self.entries = [f"{stamp(i)} {text}" for i, text in enumerate(stdout)]
        self.stderr = stderr
        self.break_after = break_after
        self.entries_read = 0
        self.whole_reads = 0
        self.tails: list[int] = []
        self.on_read: Any = None

    async def inspect(self, container_id: str) -> ContainerState:
        return ContainerState(
            id=container_id, name="n", image="i", image_id="i", status="exited", running=False,
            exit_code=3, labels={}, started_at="2026-11-27T10:00:00Z",
            finished_at="2026-11-27T11:00:00Z",
        )  # fmt: skip

    async def logs(self, container_id: str, *, stderr: bool = False, **asked: Any) -> list[str]:
        if "tail" not in asked:
            self.whole_reads += 1  # all of it, at once
            return self.stderr if stderr else self.entries
        self.tails.append(asked["tail"])
        return (self.stderr if stderr else self.entries)[-asked["tail"] :]

    @asynccontextmanager
    async def open_logs(
        self, container_id: str, *, since: str | None = None, follow: bool = True
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        assert not follow

        async def reads() -> AsyncIterator[list[bytes]]:
            for i, entry in enumerate(self.entries):
                if since is not None and unix_time(entry.split(" ")[0]) < since:
                    continue
                if self.break_after is not None and self.entries_read == self.break_after:
                    self.break_after = None
                    raise EngineUnavailable("the engine went away")
                self.entries_read += 1
                if self.on_read is not None:
                    self.on_read(i)
                yield [entry.encode()]

        yield reads()


def unwatched_run(home: Home) -> RunRecord:
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="scad-p:abc",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={},
        container_id="c" * 64,
    )  # fmt: skip
    RunPaths(home, record.run_id).root.mkdir(parents=True)
    return record


def output(count: int) -> list[str]:
    """``count`` lines of stdout as entries: every fifth line comes in three pieces."""
    entries = []
    for n in range(count):
        text = json.dumps({"type": "user", "n": n, "pad": "x" * 50})
        if n % 5 == 0:
            entries += [text[:10], text[10:20], text[20:] + "\n"]
        else:
            entries.append(text + "\n")
    return entries


async def test_a_catch_up_writes_lines_as_it_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays flat in the log's size: what is read is written in batches, and
    no more than a batch is held."""
    monkeypatch.setattr("scad.runs.catchup.BATCH_CHARS", 1000, raising=False)
    home = Home(tmp_path)
    record = unwatched_run(home)
    paths = RunPaths(home, record.run_id)
    engine = LogEngine(output(300), [])
    written_while_reading: list[int] = []

    def on_read(i: int) -> None:
        if i % 50 == 49:
            written_while_reading.append(paths.events.read_bytes().count(b"\n"))

    engine.on_read = on_read
    assert await catch_up(cast(Any, engine), home, record) is False
    assert engine.whole_reads == 0
    # Each time 50 more entries were read (of 420), more lines had been written.
    assert len(written_while_reading) == 8 and written_while_reading[0] > 0
    assert all(b - a > 5 for a, b in itertools.pairwise(written_while_reading))
    envelopes = await read_all_events(paths)
    assert [e.payload()["n"] for e in envelopes[:-1]] == list(range(300))
    assert (envelopes[-1].kind, envelopes[-1].exit_code) == ("exited", 3)


async def test_a_catch_up_cut_short_resumes_where_its_last_batch_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.runs.catchup.BATCH_CHARS", 500, raising=False)
    home = Home(tmp_path)
    record = unwatched_run(home)
    engine = LogEngine(output(100), [], break_after=61)
    with pytest.raises(EngineUnavailable):
        await catch_up(cast(Any, engine), home, record)
    paths = RunPaths(home, record.run_id)
    held = [e.n for e in await read_all_events(paths)]
    assert 0 < len(held) < 100
    assert await catch_up(cast(Any, engine), home, record) is False
    envelopes = await read_all_events(paths)
    assert [e.n for e in envelopes[:-1]] == list(range(100))
    assert [e.payload()["n"] for e in envelopes[:-1]] == list(range(100))
    assert envelopes[-1].kind == "exited"
    # The second catch-up asked only for what follows the log's last line.
    assert engine.entries_read - 61 < 140 - len(held)  # 140 entries in all


async def test_a_failed_exit_reads_only_the_end_of_stderr(tmp_path: Path) -> None:
    home = Home(tmp_path)
    record = unwatched_run(home)
    stderr = [f"noise {i}\n" for i in range(100_000)] + ["last words\n", "\n", "  \n"]
    engine = LogEngine([], stderr)
    await catch_up(cast(Any, engine), home, record)
    (exited,) = await read_all_events(RunPaths(home, record.run_id))
    assert exited.stderr == "noise 99996\nnoise 99997\nnoise 99998\nnoise 99999\nlast words"
    assert engine.whole_reads == 0 and engine.tails and max(engine.tails) <= 64


async def test_a_restart_whose_stop_was_seen_is_read_after_all(tmp_path: Path) -> None:
    """A reader saw the container stopped between the two lives of a restart, and
    logged that exit; the new life ran while nobody looked. The next catch-up, asked
    for this run alone, finds the new life and reads it."""
    home = Home(tmp_path)
    record = unwatched_run(home)
    paths = RunPaths(home, record.run_id)
    first = output(4)
    engine = LogEngine(first, [])
    first_life = "2026-11-27T09:00:00Z"
    await ingest(
        paths, record.container_id or "", 0,
        [LogLine(f"t{n}", json.dumps({"type": "user", "n": n, "pad": "x" * 50}).encode(),
                 end=engine.entries[-1].split(" ")[0], k=3) for n in range(4)],
        exit=Exited(exit_code=137, life=first_life),
    )  # fmt: skip
    engine.entries += [f"{stamp(100 + i)} {text}" for i, text in enumerate(output(3))]
    assert await catch_up(cast(Any, engine), home, record) is False
    envelopes = await read_all_events(paths)
    claude = [e for e in envelopes if e.src == "claude"]
    assert [e.n for e in claude] == list(range(7))
    assert [e.kind for e in envelopes if e.src == "scad"] == ["exited", "exited"]


class BothStreams:
    """An engine's log of both streams in the order printed: a tail counts both, as
    the engine's does, and the stream asked for is taken from it."""

    def __init__(self, printed: list[tuple[int, str]]) -> None:
        self.printed = printed
        self.tails: list[int] = []

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        self.tails.append(tail)
        return [text for stream, text in self.printed[-tail:] if stream == (2 if stderr else 1)]


FAILED = ContainerState(
    id="c", name="n", image="i", image_id="i", status="exited", running=False, exit_code=1,
    labels={}, started_at="2026-11-27T10:00:00Z", finished_at="2026-11-27T11:00:00Z",
)  # fmt: skip


@pytest.mark.parametrize(
    ("printed", "said", "tails"),
    [
        pytest.param(
            [(2, "the failure\n")] + [(1, f"{n}\n") for n in range(1000)],
            "the failure", [64, 1024], id="stderr-before-much-stdout",
        ),
        pytest.param(
            [(1, "out\n")] * 5000 + [(2, f"err {n}\n") for n in range(6)],
            "err 1\nerr 2\nerr 3\nerr 4\nerr 5", [64], id="stderr-last",
        ),
        pytest.param(
            [(2, "too early\n")] + [(1, "out\n")] * 5000, None, [64, 1024], id="stderr-long-before",
        ),
        pytest.param([(1, "out\n")] * 10, None, [64, 1024], id="no-stderr"),
        pytest.param(
            [(2, "x" * 16384)] * 2000 + [(2, "\n")], "x" * 2000, [64, 1024], id="endless-line",
        ),
    ],
)  # fmt: skip
async def test_a_failure_s_stderr_is_found_among_stdout_within_a_bounded_read(
    printed: list[tuple[int, str]], said: str | None, tails: list[int]
) -> None:
    """The engine counts a tail over both streams: a failure's stderr followed by much
    stdout is found by asking for more, up to a bound; stderr at the end, at once."""
    engine = BothStreams(printed)
    exited = await exit_of(cast(Any, engine), FAILED)
    assert (exited.stderr, engine.tails) == (said, tails)


async def test_a_failed_second_read_of_stderr_keeps_what_the_first_found() -> None:
    engine = BothStreams([(2, "first words\n")] + [(1, "out\n")] * 10)

    async def logs(container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        if tail > 64:
            raise EngineUnavailable("the engine went away")
        return await BothStreams.logs(engine, container_id, stderr=stderr, tail=tail)

    engine.logs = logs  # type: ignore[method-assign]
    exited = await exit_of(cast(Any, engine), FAILED)
    assert exited.stderr == "first words"
