"""The batch's scheduler on an injected clock: starts spaced out, backoff between
attempts, the budget and rate limits read by the monitor. Time moves only when a
test moves it; order comes from the fake engine's events and the attempts' gates."""

from __future__ import annotations

import random
from collections.abc import Collection

import anyio
import pytest

from scad.batch.attempt import ItemRun
from scad.batch.events import AttemptEnded, AttemptStarted, BatchEvent, BudgetSpent, LimitMoved
from scad.batch.policy import backoff
from scad.batch.run import run_batch
from scad.batch.scheduler import Scheduler
from scad.batch.signals import RunSignals
from scad.batch.state import batch_state
from scad.batch.store import BatchPaths, load_manifest, read_batch_events
from scad.config.schema import Config
from scad.home import Home
from scad.runs.gate import StartGate
from scad.runs.outcomes import Outcome, Status
from scad.runs.records import RunRecord
from tests.fakes import FakeClock, Script
from tests.unit.test_dispatch import INIT, Scripted, make_batch, out, project, result

__all__ = ["project"]

pytestmark = pytest.mark.anyio

MONITOR = 60.0


async def test_containers_start_a_stagger_apart_on_the_clock(project: tuple[Home, Config]) -> None:
    """The second container is made at once, and starts when the clock says its turn came."""
    home, config = project
    done = Script(out(INIT, result()))
    batch_id = make_batch(home, ["a", "b"], parallel=2)
    _set_options(home, batch_id, stagger=30.0, burst=1)
    engine = Scripted({"01": [done], "02": [done]})
    clock = FakeClock()
    finished: list[object] = []
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]

        async def batch() -> None:
            finished.append(await run_batch(engine, home, config, batch_id, stop_on_signals=False,
                                            clock=clock, monitor_period=MONITOR))  # fmt: skip

        tg.start_soon(batch)
        with anyio.fail_after(10):
            await clock.sleeping(30.0)  # the second waits its turn, its container made
            # Both made; one started, the other waits at its gate.
            statuses = [c.status for c in engine.made.values()]
            assert len(statuses) == 2 and statuses.count("created") == 1
            clock.advance(30.0)
    events = read_batch_events(BatchPaths(home, batch_id))
    assert sorted(e.item for e in events if isinstance(e, AttemptStarted)) == [1, 2]
    state = batch_state(load_manifest(home, batch_id), events)
    assert [i.status for i in state.items] == ["succeeded", "succeeded"]


class Attempts:
    """Attempts acted out: each passes its gate, starts, and ends as its plan says
    (None: it runs until stopped)."""

    checking = False

    def __init__(self, plans: dict[int, list[Status | None]]) -> None:
        self.plans = plans
        self.started: list[int] = []
        self.running = anyio.Event()

    async def left_running(self, record: RunRecord) -> bool:
        return False

    async def adopt(self, run: ItemRun) -> Outcome:
        raise AssertionError("nothing to adopt")

    async def stop(self, run: ItemRun) -> Outcome:
        raise AssertionError("nothing to stop")

    async def start(self, run: ItemRun, attempt: int, gate: StartGate) -> Outcome:
        index = run.item.index
        if run.record is None:
            run.record = RunRecord(run_id=f"run-{index}", config="p", tag=run.item.tag,
                                   mode="headless", image="i", branch="b", created="c", repos={})  # fmt: skip
        await gate.passed()
        gate.started.set()
        self.started.append(index)
        status = self.plans[index][attempt - 1]
        if status is None:
            self.running.set()
            await anyio.sleep_forever()
        return Outcome(run_id=run.record_id, outcome=status, detail=status)

    async def check(self, record: RunRecord, *, time_limit: float | None) -> None:
        raise AssertionError("no checks")

    async def fetch(self, record: RunRecord, judged: dict[str, str] | None = None) -> str:
        return "fetched"


class Spend:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.rate_limits: dict[str, tuple[int, ...]] = {}
        self.polled: list[list[str]] = []

    async def poll(self, run_ids: Collection[str]) -> list[RunSignals]:
        self.polled.append(list(run_ids))
        return [RunSignals(run_id=r, spent_usd=self.spent.get(r, 0.0),
                           rate_limits=self.rate_limits.pop(r, ())) for r in run_ids]  # fmt: skip


def scheduler(home: Home, batch_id: str, attempts: Attempts, spend: Spend, clock: FakeClock,
              log: list[BatchEvent]) -> Scheduler:  # fmt: skip
    async def write(event: BatchEvent) -> None:
        log.append(event)

    manifest = load_manifest(home, batch_id)
    return Scheduler(manifest, attempts, spend, write, clock=clock, monitor_period=MONITOR,
                     rng=random.Random(7))  # fmt: skip


def _set_options(home: Home, batch_id: str, **options: object) -> None:
    import msgspec

    from scad.batch.store import save_manifest

    manifest = load_manifest(home, batch_id)
    changed = msgspec.structs.replace(manifest.options, **options)
    save_manifest(BatchPaths(home, batch_id), msgspec.structs.replace(manifest, options=changed))


async def test_attempts_back_off_on_the_clock_until_one_goes_through(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], retries=2)
    _set_options(home, batch_id, backoff=10.0)
    attempts = Attempts({1: ["crashed", "hung", "succeeded"]})
    clock, log = FakeClock(), []
    planned = random.Random(7)
    waits = [backoff(1, 10.0, planned), backoff(2, 10.0, planned)]
    manifest = load_manifest(home, batch_id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler(home, batch_id, attempts, Spend(), clock, log).run,
                      batch_state(manifest, []).items, {}, [])  # fmt: skip
        with anyio.fail_after(10):
            for wait in waits:
                await clock.sleeping(wait)
                clock.advance(wait)
    ends = [(e.attempt, e.status, e.final) for e in log if isinstance(e, AttemptEnded)]
    assert ends == [(1, "crashed", False), (2, "hung", False), (3, "succeeded", True)]
    assert [s for s in clock.asked if s != MONITOR] == waits
    # Each backoff is in the log, with the attempt it follows: a timeline draws it.
    assert [e.backoff_s for e in log if isinstance(e, AttemptEnded)] == [*waits, None]


async def test_the_monitor_stops_what_runs_and_what_waits_once_the_budget_is_spent(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a", "b"], parallel=1, budget_usd=1.0)
    attempts = Attempts({1: [None], 2: ["succeeded"]})
    spend, clock, log = Spend(), FakeClock(), []
    manifest = load_manifest(home, batch_id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler(home, batch_id, attempts, spend, clock, log).run,
                      batch_state(manifest, []).items, {}, [])  # fmt: skip
        with anyio.fail_after(10):
            await attempts.running.wait()
            spend.spent["run-1"] = 2.0
            await clock.sleeping(MONITOR)
            clock.advance(MONITOR)  # the monitor reads the spend
    ends = sorted((e.item, e.status, e.detail) for e in log if isinstance(e, AttemptEnded))
    assert ends == [
        (1, "cancelled", "stopped: the budget is spent"),
        (2, "cancelled", "not started: the budget is spent"),
    ]
    assert attempts.started == [1]
    assert [e.cost_usd for e in log if isinstance(e, BudgetSpent)] == [2.0]


async def test_a_run_refused_for_the_budget_keeps_the_next_from_starting_in_its_slot(
    tmp_path: object,
) -> None:
    """The gateway refused a run's call for a spent budget: the batch reads the spend
    before the run's slot goes to the next prompt, not a monitor period later."""
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a", "b"], parallel=1, budget_usd=1.0)
    attempts = Attempts({1: ["budget"], 2: ["succeeded"]})
    spend, clock, log = Spend(), FakeClock(), []
    spend.spent["run-1"] = 2.0  # what the gateway counted when it refused it
    manifest = load_manifest(home, batch_id)
    with anyio.fail_after(10):
        await scheduler(home, batch_id, attempts, spend, clock, log).run(
            batch_state(manifest, []).items, {}, []
        )
    assert attempts.started == [1]
    ends = sorted((e.item, e.status) for e in log if isinstance(e, AttemptEnded))
    assert ends == [(1, "budget"), (2, "cancelled")]


async def test_under_a_budget_an_attempt_s_end_reads_its_own_run_s_spend_only(
    tmp_path: object,
) -> None:
    """With a budget, each attempt's spend is read as it ends, before its slot goes to
    the next prompt: its own run's, not every run the batch made so far (which would
    make a batch of N read N times N logs)."""
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, list("abcdef"), parallel=2, budget_usd=100.0)
    attempts = Attempts({n: ["succeeded"] for n in range(1, 7)})
    spend, clock, log = Spend(), FakeClock(), []
    for n in range(1, 7):
        spend.spent[f"run-{n}"] = 1.0
    manifest = load_manifest(home, batch_id)
    with anyio.fail_after(10):
        await scheduler(home, batch_id, attempts, spend, clock, log).run(
            batch_state(manifest, []).items, {}, []
        )
    at_ends = spend.polled[1:]  # the first: what earlier passes spent, before any start
    assert sorted(at_ends) == [[f"run-{n}"] for n in range(1, 7)]
    assert [e.status for e in log if isinstance(e, AttemptEnded)] == ["succeeded"] * 6
    assert not [e for e in log if isinstance(e, BudgetSpent)]


async def test_a_rate_limit_halves_the_concurrency_once_per_cooldown_on_the_clock(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], parallel=4)
    attempts = Attempts({1: [None]})
    spend, clock, log = Spend(), FakeClock(), []
    manifest = load_manifest(home, batch_id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler(home, batch_id, attempts, spend, clock, log).run,
                      batch_state(manifest, []).items, {}, [])  # fmt: skip
        with anyio.fail_after(10):
            await attempts.running.wait()
            await clock.sleeping(MONITOR)
            for _ in range(2):  # a burst cuts once; the next, a cool-down later, again
                spend.rate_limits["run-1"] = (429, 429, 529)
                clock.advance(MONITOR)
                await clock.sleeping(MONITOR)  # the monitor read them, and waits again
        tg.cancel_scope.cancel()
    moves = [(e.limit, e.cause, e.status) for e in log if isinstance(e, LimitMoved)]
    assert moves == [(4, "ceiling", None), (2, "rate-limited", 429), (1, "rate-limited", 429)]
