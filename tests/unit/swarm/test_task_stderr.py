"""A failed swarm task's stderr, read from its manager: more read when the first
read holds too few lines, what the first found kept when the second fails, and
nothing when the manager cannot say."""

from __future__ import annotations

from typing import Any, cast

import pytest

from scad.errors import EngineUnavailable, LogUnavailable
from scad.swarm.run import _stderr

pytestmark = pytest.mark.anyio


class Manager:
    """A manager whose task printed ``stderr`` and then much stdout: its tail counts
    both streams, so only a longer tail reaches the stderr."""

    def __init__(self, *, failing: dict[int, Exception] | None = None) -> None:
        self.failing = failing or {}
        self.tails: list[int] = []

    async def task_stderr(self, task_id: str, *, tail: int) -> list[str]:
        self.tails.append(tail)
        if tail in self.failing:
            raise self.failing[tail]
        return ["early\n"] + (["late\n"] if tail > 64 else [])


async def test_a_short_first_read_is_followed_by_a_longer_one() -> None:
    manager = Manager()
    assert await _stderr(cast(Any, manager), "t") == "early\nlate"
    assert manager.tails == [64, 1024]


async def test_a_failed_second_read_keeps_what_the_first_found() -> None:
    manager = Manager(failing={1024: EngineUnavailable("the manager went away")})
    assert await _stderr(cast(Any, manager), "t") == "early"


async def test_a_manager_that_cannot_say_gives_nothing_and_an_unreachable_node_is_said() -> None:
    assert await _stderr(cast(Any, Manager(failing={64: EngineUnavailable("no")})), "t") is None
    unreachable = Manager(failing={64: LogUnavailable("its node is unreachable")})
    with pytest.raises(LogUnavailable):
        await _stderr(cast(Any, unreachable), "t")
