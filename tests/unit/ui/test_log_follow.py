"""Following runs' logs for their pages: a log that does not grow costs a look at its
size, not a read; what lands is handed on, once; and however many streams follow,
a tick costs one look per log and at most one worker-thread call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from scad.home import Home
from scad.runs.records import RunPaths
from scad.ui import _follow
from scad.ui._follow import LogFollowers, follow_log
from scad.ui._log import LogChunk
from tests.unit.test_summaries import Log
from tests.unit.ui.conftest import said

pytestmark = pytest.mark.anyio


class Counted:
    """The follower's looks at sizes, its worker-thread calls and its reads of logs,
    counted; ``looked`` is set after ``looks_wanted`` looks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, looks_wanted: int) -> None:
        self.looks = self.calls = self.reads = 0
        self.looked_at: list[Path] = []
        self.looks_wanted = looks_wanted
        self.looked = anyio.Event()
        real_size, real_read_all, real_read = (
            _follow.log_size,
            _follow.read_all,
            _follow.read_events_blocking,
        )

        def log_size(path: Path) -> int:
            self.looks += 1
            self.looked_at.append(path)
            if self.looks >= self.looks_wanted:
                self.looked.set()
            return real_size(path)

        def read_all(wanted: list[tuple[RunPaths, int]]) -> dict[tuple[Path, int], LogChunk]:
            self.calls += 1
            return real_read_all(wanted)

        def read(log: Path, offset: int, *, limit: int) -> object:
            self.reads += 1
            return real_read(log, offset, limit=limit)

        monkeypatch.setattr(_follow, "log_size", log_size)
        monkeypatch.setattr(_follow, "read_all", read_all)
        monkeypatch.setattr(_follow, "read_events_blocking", read)
        monkeypatch.setattr(_follow, "POLL_SECONDS", 0.001)


async def test_an_idle_log_is_looked_at_not_read_until_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty pages following fifty quiet runs must not read fifty files five times
    a second: while the log's size stays where the stream is, nothing is read."""
    paths = RunPaths(Home(tmp_path), "p-t-Nov27-1000")
    log = Log(paths)
    log.claude(said("before"))
    start = Path(paths.events).stat().st_size
    counted = Counted(monkeypatch, looks_wanted=20)
    closing = anyio.Event()
    sent: list[LogChunk] = []

    async def send(chunk: LogChunk) -> None:
        sent.append(chunk)
        closing.set()

    async def grow_once_looked_at() -> None:
        await counted.looked.wait()
        assert counted.calls == 0  # twenty looks at an idle log, and not one read
        log.claude(said("after"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(grow_once_looked_at)
            await follow_log(LogFollowers(closing), paths, start, send)
    assert counted.calls == counted.reads == 1
    assert len(sent) == 1 and sent[0].end == Path(paths.events).stat().st_size


async def test_many_streams_cost_a_look_per_log_and_one_thread_call_a_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten logs, each followed by two streams: idle, each tick looks once at each log
    and reads none; when all ten grow, one worker-thread call reads each log once,
    and every stream gets its lines, once."""
    logs, streams_per_log = 10, 2
    home = Home(tmp_path)
    runs = [RunPaths(home, f"p-t{n}-Nov27-1000") for n in range(logs)]
    writers = [Log(paths) for paths in runs]
    for writer in writers:
        writer.claude(said("before"))
    counted = Counted(monkeypatch, looks_wanted=logs * 20)
    closing = anyio.Event()
    sent: dict[tuple[int, int], list[LogChunk]] = {}
    all_sent = anyio.Event()

    def sender(key: tuple[int, int]) -> Callable[[LogChunk], Awaitable[None]]:
        async def send(chunk: LogChunk) -> None:
            sent.setdefault(key, []).append(chunk)
            if len(sent) == logs * streams_per_log:
                all_sent.set()

        return send

    followers = LogFollowers(closing)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for n, paths in enumerate(runs):
                for s in range(streams_per_log):
                    start = Path(paths.events).stat().st_size
                    tg.start_soon(follow_log, followers, paths, start, sender((n, s)))
            await counted.looked.wait()
            assert counted.calls == counted.reads == 0
            ticks = [counted.looked_at[i : i + logs] for i in range(0, counted.looks, logs)]
            assert all(len(set(tick)) == logs for tick in ticks)  # each log once, not per stream
            for writer in writers:  # all at once: the next tick finds every log grown
                writer.claude(said("after"))
            await all_sent.wait()
            closing.set()
    assert counted.calls == 1
    assert counted.reads == logs
    for n, paths in enumerate(runs):
        for s in range(streams_per_log):
            [chunk] = sent[n, s]
            assert chunk.end == Path(paths.events).stat().st_size
            assert [line[9:] for line in chunk.lines] == ["after"]


async def test_a_stream_that_goes_away_hands_the_clock_to_one_still_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first stream drives the ticks; when its page closes, the next one waiting
    drives them, and still gets what lands."""
    paths = RunPaths(Home(tmp_path), "p-t-Nov27-1000")
    log = Log(paths)
    log.claude(said("before"))
    start = Path(paths.events).stat().st_size
    counted = Counted(monkeypatch, looks_wanted=0)
    closing = anyio.Event()
    followers = LogFollowers(closing)
    sent: list[LogChunk] = []

    async def send(chunk: LogChunk) -> None:
        sent.append(chunk)
        closing.set()

    async def never(chunk: LogChunk) -> None:
        raise AssertionError("the stream that went away was sent lines")

    async def more_looks(count: int) -> None:
        counted.looked = anyio.Event()
        counted.looks_wanted = counted.looks + count
        await counted.looked.wait()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as first:
                first.start_soon(follow_log, followers, paths, start, never)
                await more_looks(5)  # the first stream drives
                tg.start_soon(follow_log, followers, paths, start, send)
                await more_looks(5)  # the second waits beside it
                first.cancel_scope.cancel()
            await more_looks(5)  # the one left waiting drives the ticks now
            log.claude(said("after"))
    assert [chunk.end for chunk in sent] == [Path(paths.events).stat().st_size]
