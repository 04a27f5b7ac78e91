"""Commands that go on without the engine: when it cannot be reached, at the start or
midway (also from within a task group), the work is done again without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from scad.cli._engine import with_engine_if_up
from scad.errors import EngineUnavailable, SessionError
from scad.taskgroups import open_task_group

pytestmark = pytest.mark.anyio

DOWN = EngineUnavailable("cannot reach the Docker engine at unix:///x")


@asynccontextmanager
async def opens(engine: Any = "engine") -> AsyncIterator[Any]:
    yield engine


@asynccontextmanager
async def fails() -> AsyncIterator[Any]:
    raise DOWN
    yield  # pragma: no cover


class Work:
    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self.engines: list[object] = []

    async def __call__(self, engine: object) -> str:
        self.engines.append(engine)
        if engine is not None and self.failure is not None:
            async with open_task_group() as tg:  # as the library opens its groups
                tg.start_soon(self.fail)
        return f"done with {engine}"

    async def fail(self) -> None:
        assert self.failure is not None
        raise self.failure


async def test_an_engine_that_answers_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    work = Work()
    assert await with_engine_if_up(work, opens, lacking="states are unknown") == "done with engine"
    assert work.engines == ["engine"] and capsys.readouterr().err == ""


@pytest.mark.parametrize("where", ["at the start", "midway, in a task group"])
async def test_an_engine_away_means_the_work_again_without_it(
    capsys: pytest.CaptureFixture[str], where: str
) -> None:
    work = Work(DOWN)
    opener = fails if where == "at the start" else opens
    assert await with_engine_if_up(work, opener, lacking="states are unknown") == "done with None"
    assert work.engines[-1] is None
    assert capsys.readouterr().err == f"warning: {DOWN}; states are unknown\n"


async def test_no_warning_when_nothing_is_lacking(capsys: pytest.CaptureFixture[str]) -> None:
    assert await with_engine_if_up(Work(), fails, lacking=None) == "done with None"
    assert capsys.readouterr().err == ""


async def test_any_other_error_goes_on_up() -> None:
    work = Work(SessionError("the run is gone"))
    with pytest.raises(SessionError):
        await with_engine_if_up(work, opens, lacking="states are unknown")
    assert work.engines == ["engine"]  # not done again without the engine


async def test_a_plain_error_stays_plain() -> None:
    async def work(engine: object) -> str:
        raise SessionError("the run is gone")

    with pytest.raises(SessionError):  # one clear line, not a group, reaches the user
        await with_engine_if_up(work, opens, lacking=None)
