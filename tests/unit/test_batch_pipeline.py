"""Runs made ahead of a free slot, against the engine fake: at most ``--parallel`` of
them wait, made (clones, Claude state, a created container); they start in the
order they began to be made; a spent budget or a stopped batch removes them and
records their prompts as not started; one whose preparation fails gives its place
to the next."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from scad.batch.events import AttemptEnded, AttemptStarted
from scad.batch.process import requeue
from scad.batch.run import run_batch
from scad.batch.state import batch_state
from scad.batch.store import BatchPaths, load_manifest, read_batch_events
from scad.code.clones import create_clone
from scad.config.schema import Config
from scad.errors import GitError
from scad.home import Home
from scad.runs.records import list_runs
from tests.fakes import FakeContainer, Script
from tests.unit.test_dispatch import INIT, OK, Scripted, Signals, make_batch, out, project, run

__all__ = ["project"]

pytestmark = [pytest.mark.anyio, pytest.mark.loop_watch]

HANG = Script(out(INIT), hang=True)


def container_of(engine: Scripted, item: int) -> FakeContainer | None:
    """The item's latest container, if it has one."""
    found = [c for c in engine.made.values() if f"-b-{item:02d}-" in c.spec.labels["scad.run"]]
    return found[-1] if found else None


def status_of(engine: Scripted, item: int) -> str | None:
    container = container_of(engine, item)
    return container.status if container else None


async def until(holds: Callable[[], bool]) -> None:
    while not holds():
        await anyio.sleep(0.01)


def runs_kept(home: Home) -> list[int]:
    return sorted(r.item or 0 for r in list_runs(home))


async def test_a_spent_budget_removes_the_runs_made_ahead_and_starts_none(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a", "b", "c", "d"], parallel=1, budget_usd=1.0)
    engine = Scripted({"01": [HANG], "02": [OK], "03": [OK], "04": [OK]})
    signals = Signals()

    async def spend() -> None:
        # The first runs; the second is made ahead of the slot, and waits for it.
        await until(lambda: status_of(engine, 1) == "running" and status_of(engine, 2) == "created")
        container = container_of(engine, 1)
        assert container is not None
        signals.spent[container.spec.labels["scad.run"]] = 2.0

    async with anyio.create_task_group() as tg:
        tg.start_soon(spend)
        state = await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    assert [(i.status, i.detail) for i in state.items] == [
        ("cancelled", "stopped: the budget is spent"),
        *[("cancelled", "not started: the budget is spent")] * 3,
    ]
    assert [i.run_id is not None for i in state.items] == [True, False, False, False]
    assert engine.attempts == {"01": 1, "02": 1}  # one made ahead (--parallel 1), no more
    assert engine.made == {}  # what was made ahead is removed with the stopped run
    assert runs_kept(home) == [1]  # and leaves no run behind


async def test_a_stopped_batch_removes_the_runs_made_ahead_and_a_retry_starts_them(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a", "b", "c"], parallel=1)
    engine = Scripted({"01": [HANG, OK], "02": [OK], "03": [OK]})
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        tg.start_soon(lambda: run_batch(engine, home, config, batch_id, stop_on_signals=False))
        with anyio.fail_after(30):
            await until(
                lambda: status_of(engine, 1) == "running" and status_of(engine, 2) == "created"
            )
        tg.cancel_scope.cancel()  # as Ctrl-C in the foreground, or `batch stop`, does
    state = batch_state(
        load_manifest(home, batch_id), read_batch_events(BatchPaths(home, batch_id))
    )
    assert state.ended
    assert [(i.status, i.detail) for i in state.items] == [
        ("cancelled", "the batch was stopped"),
        *[("cancelled", "not started: the batch was stopped")] * 2,
    ]
    assert [i.run_id is not None for i in state.items] == [True, False, False]
    assert engine.made == {}
    assert runs_kept(home) == [1]

    assert requeue(home, batch_id, failed_only=True) == [1, 2, 3]
    state = await run(engine, home, config, batch_id)
    assert [i.status for i in state.items] == ["succeeded"] * 3
    assert runs_kept(home) == [1, 2, 3]  # one run a prompt
    assert engine.attempts == {"01": 2, "02": 2, "03": 1}


async def test_a_run_whose_preparation_fails_ahead_gives_its_place_to_the_next(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def clone_fails(host_repo: Path, dest: Path, branch: str, **kw: Any) -> str:
        if "-b-02-" in str(dest):
            raise GitError("git clone failed: fatal: could not read from the host repository")
        return await create_clone(host_repo, dest, branch, **kw)

    monkeypatch.setattr("scad.sessions.start.create_clone", clone_fails)
    home, config = project
    batch_id = make_batch(home, ["a", "b", "c"], parallel=1)
    engine = Scripted({"01": [HANG], "03": [OK]})
    paths = BatchPaths(home, batch_id)

    def second_failed() -> bool:
        return any(isinstance(e, AttemptEnded) and e.item == 2 for e in read_batch_events(paths))

    async def end_the_first() -> None:
        # The second failed while the first ran, and the third was made in its place.
        await until(lambda: second_failed() and status_of(engine, 3) == "created")
        assert status_of(engine, 1) == "running"
        container = container_of(engine, 1)
        assert container is not None
        await engine.stop(container.id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(end_the_first)
        state = await run(engine, home, config, batch_id)
    assert [i.status for i in state.items][1:] == ["failed", "succeeded"]
    assert "could not read from the host repository" in (state.items[1].detail or "")
    assert runs_kept(home) == [1, 3]  # the failed preparation left nothing
    assert engine.attempts == {"01": 1, "03": 1}


async def test_slots_go_to_runs_in_the_order_they_began_to_be_made(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third is slow to prepare, the fourth made ahead: the first slot that frees
    waits for the third, and the fourth waits for the next."""
    from scad.batch import attempt

    real_prepare = attempt.prepare_session
    third_may_go = anyio.Event()

    async def slow_third(*args: Any, **kwargs: Any) -> Any:
        if kwargs["tag"] == "b-03":
            await third_may_go.wait()
        return await real_prepare(*args, **kwargs)

    monkeypatch.setattr("scad.batch.attempt.prepare_session", slow_third)
    home, config = project
    batch_id = make_batch(home, ["a", "b", "c", "d"], parallel=2)
    engine = Scripted({"01": [HANG], "02": [HANG], "03": [OK], "04": [OK]})
    paths = BatchPaths(home, batch_id)

    def ended(item: int) -> bool:
        return any(isinstance(e, AttemptEnded) and e.item == item for e in read_batch_events(paths))

    def started() -> list[int]:
        return [e.item for e in read_batch_events(paths) if isinstance(e, AttemptStarted)]

    async def steer() -> None:
        await until(
            lambda: [status_of(engine, n) for n in (1, 2, 4)] == ["running", "running", "created"]
        )
        first = container_of(engine, 1)
        assert first is not None
        await engine.stop(first.id)
        await until(lambda: ended(1))  # its slot is free
        third_may_go.set()
        await until(lambda: 3 in started())
        assert status_of(engine, 4) == "created"  # the fourth still waits its turn
        second = container_of(engine, 2)
        assert second is not None
        await engine.stop(second.id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(steer)
        state = await run(engine, home, config, batch_id)
    assert started() == [1, 2, 3, 4] or started() == [2, 1, 3, 4]
    assert [i.status for i in state.items][2:] == ["succeeded", "succeeded"]
