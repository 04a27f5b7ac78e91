"""Following a run's log for a page: a log that does not grow costs a look at its
size, not a read; what lands is handed on, once."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from scad.home import Home
from scad.runs.records import RunPaths
from scad.ui import _log
from scad.ui._log import LogChunk, follow_log
from tests.unit.test_summaries import Log
from tests.unit.ui.conftest import said

pytestmark = pytest.mark.anyio


async def test_an_idle_log_is_looked_at_not_read_until_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty pages following fifty quiet runs must not read fifty files five times
    a second: while the log's size stays where the stream is, nothing is read."""
    paths = RunPaths(Home(tmp_path), "p-t-Nov27-1000")
    log = Log(paths)
    log.claude(said("before"))
    start = Path(paths.events).stat().st_size
    reads = 0
    looked = anyio.Event()
    real_read, real_size = _log.read_events, _log._size

    async def counted_read(*args: object, **kwargs: object) -> object:
        nonlocal reads
        reads += 1
        return await real_read(*args, **kwargs)  # type: ignore[arg-type]

    looks = 0

    def counted_size(path: object) -> int:
        nonlocal looks
        looks += 1
        if looks == 20:
            looked.set()
        return real_size(path)  # type: ignore[arg-type]

    monkeypatch.setattr(_log, "read_events", counted_read)
    monkeypatch.setattr(_log, "_size", counted_size)
    monkeypatch.setattr(_log, "POLL_SECONDS", 0.001)
    closing = anyio.Event()
    sent: list[LogChunk] = []

    async def send(chunk: LogChunk) -> None:
        sent.append(chunk)
        closing.set()

    async def grow_once_looked_at() -> None:
        await looked.wait()
        assert reads == 0  # twenty looks at an idle log, and not one read
        log.claude(said("after"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(grow_once_looked_at)
            await follow_log(paths, start, send, closing)
    assert reads == 1
    assert len(sent) == 1 and sent[0].end == Path(paths.events).stat().st_size
