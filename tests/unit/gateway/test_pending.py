"""Connections yet to say what they want: the oldest is cut when one too many waits."""

from __future__ import annotations

import anyio
import pytest

from scad.gateway._pending import Pending

pytestmark = pytest.mark.anyio


async def test_one_too_many_cuts_the_oldest_and_only_it() -> None:
    pending = Pending(2)
    cut: list[int] = []
    entered = [anyio.Event() for _ in range(4)]
    done = anyio.Event()

    async def wait(index: int) -> None:
        with pending.waiting() as scope:
            entered[index].set()
            await done.wait()
        if scope.cancelled_caught:
            cut.append(index)

    async with anyio.create_task_group() as tg:
        for index in range(4):
            tg.start_soon(wait, index)
            await entered[index].wait()
        await anyio.wait_all_tasks_blocked()
        assert cut == [0, 1]
        done.set()
    assert cut == [0, 1]


async def test_one_that_said_its_piece_leaves_room() -> None:
    pending = Pending(1)
    with pending.waiting() as first:
        pass
    with pending.waiting() as second:
        pass
    assert not first.cancelled_caught and not second.cancelled_caught
