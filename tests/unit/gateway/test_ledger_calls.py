"""Model calls hold their ceiling against a budget while they run."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from scad.gateway._ledger import MAX_CALLS, Ledger
from scad.gateway._registry import register_run
from scad.home import Home

pytestmark = pytest.mark.anyio


async def test_a_call_whose_ceiling_does_not_fit_waits_for_the_one_in_flight(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path / "home")
    home.run_dir("run-a").mkdir(parents=True)
    run = register_run(home, "run-a", max_usd=1.0)
    ledger = Ledger(home)
    second_in = anyio.Event()

    async def second() -> None:
        async with ledger.call(run, 0.8) as over:
            assert over is None
            second_in.set()

    async with ledger.call(run, 0.8) as over, anyio.create_task_group() as tg:
        assert over is None
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert not second_in.is_set()
        tg.cancel_scope.cancel()
    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
    assert second_in.is_set()


async def test_a_run_has_a_bounded_number_of_calls_in_flight(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.run_dir("run-a").mkdir(parents=True)
    run = register_run(home, "run-a")
    ledger = Ledger(home)
    inside = 0
    most = 0
    leave = anyio.Event()

    async def call() -> None:
        nonlocal inside, most
        async with ledger.call(run, 0.0):
            inside += 1
            most = max(most, inside)
            await leave.wait()
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(MAX_CALLS * 3):
            tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        assert inside == MAX_CALLS
        leave.set()
    assert most == MAX_CALLS
