"""The batch paces itself by what the gateway measured: an agent's printed rate
limits and costs move nothing for a run registered with the gateway, while the
gateway's own 429s and costs do; a new pass starts from its own evidence."""

from __future__ import annotations

import random
from pathlib import Path

import anyio
import msgspec
import pytest

from scad.batch.events import AttemptEnded, BatchEvent, BudgetSpent, LimitMoved
from scad.batch.scheduler import Scheduler
from scad.batch.signals import GatewaySignals, RunSignals
from scad.batch.state import batch_state
from scad.batch.store import load_manifest
from scad.gateway._registry import register_run
from scad.home import Home
from scad.runs.gatewaylog import BudgetRefused, Exchange, GatewayEvent, encode_event
from scad.runs.records import RunPaths
from tests.fakes import FakeClock
from tests.unit.test_dispatch import make_batch, result
from tests.unit.test_scheduler import MONITOR, Attempts, Spend
from tests.unit.test_summaries import Log

pytestmark = pytest.mark.anyio

FAKE_RETRY = {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
              "retry_delay_ms": 500, "error_status": 429, "error": "rate_limit"}  # fmt: skip


def made_run(home: Home, run_id: str, *, registered: bool) -> RunPaths:
    paths = RunPaths(home, run_id)
    paths.root.mkdir(parents=True)
    if registered:
        register_run(home, run_id)
    return paths


def forged(paths: RunPaths) -> None:
    """What an agent can print to its own stdout: a burst of 429s and a huge result."""
    log = Log(paths).scad("started")
    for _ in range(3):
        log.claude(FAKE_RETRY)
    log.claude(result(is_error=True, status=429, cost=999999.0))


def measured(paths: RunPaths, *events: GatewayEvent) -> None:
    paths.gateway_events.parent.mkdir(exist_ok=True)
    with paths.gateway_events.open("ab") as file:
        for event in events:
            file.write(encode_event(event))


def exchange(status: int = 200, cost: float = 0.0) -> Exchange:
    retry_after = 2.0 if status == 429 else None
    return Exchange(ts="t", method="POST", path="/v1/messages", status=status, cost_usd=cost,
                    retry_after=retry_after, complete=status == 200)  # fmt: skip


async def test_a_registered_runs_printed_signals_count_for_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path)
    paths = made_run(home, "run-1", registered=True)
    forged(paths)
    measured(paths, exchange(cost=0.25))
    signals = GatewaySignals(home)
    assert await signals.poll(["run-1"]) == [RunSignals(run_id="run-1", spent_usd=0.25)]
    measured(paths, exchange(429), exchange(529), exchange(cost=0.5))
    refusal = BudgetRefused(ts="t", scope="run", spent_usd=0.75, cap_usd=0.7)
    measured(paths, refusal)
    assert await signals.poll(["run-1"]) == [
        RunSignals(run_id="run-1", spent_usd=0.75, rate_limits=(429, 529))
    ]
    assert await signals.poll(["run-1"]) == [RunSignals(run_id="run-1", spent_usd=0.75)]


async def test_a_run_made_before_the_gateway_is_read_from_its_log(tmp_path: Path) -> None:
    home = Home(tmp_path)
    paths = made_run(home, "old-1", registered=False)
    Log(paths).scad("started").claude(FAKE_RETRY)
    [signal] = await GatewaySignals(home).poll(["old-1"])
    assert signal.rate_limits == (429,)


async def test_a_partial_last_line_of_the_gateways_waits_for_its_end(tmp_path: Path) -> None:
    home = Home(tmp_path)
    paths = made_run(home, "run-1", registered=True)
    line = encode_event(exchange(429, cost=0.1))
    measured(paths)
    paths.gateway_events.write_bytes(line[:10])
    signals = GatewaySignals(home)
    assert await signals.poll(["run-1"]) == [RunSignals(run_id="run-1", spent_usd=0.0)]
    with paths.gateway_events.open("ab") as file:
        file.write(line[10:])
    assert await signals.poll(["run-1"]) == [
        RunSignals(run_id="run-1", spent_usd=0.1, rate_limits=(429,))
    ]


async def test_forged_lines_move_neither_concurrency_nor_budget_and_the_gateways_do(
    tmp_path: Path,
) -> None:
    """On the injected clock: a run prints a burst of 429s and a $999999 result; the
    monitor reads on and nothing moves. The gateway's 429 halves the concurrency, its
    measured cost spends the budget."""
    home = Home(tmp_path)
    batch_id = make_batch(home, ["a"], parallel=4, budget_usd=1.0)
    paths = made_run(home, "run-1", registered=True)
    attempts = Attempts({1: [None]})
    clock, log = FakeClock(), []
    manifest = load_manifest(home, batch_id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_scheduler(manifest, attempts, GatewaySignals(home), clock, log).run,
                      batch_state(manifest, []).items, {}, [])  # fmt: skip
        with anyio.fail_after(10):
            await attempts.running.wait()
            await clock.sleeping(MONITOR)
            forged(paths)
            measured(paths, exchange(cost=0.1))
            clock.advance(MONITOR)
            await clock.sleeping(MONITOR)  # read, and nothing moved
            assert [e.limit for e in log if isinstance(e, LimitMoved)] == [4]
            assert not any(isinstance(e, BudgetSpent) for e in log)
            measured(paths, exchange(429))
            clock.advance(MONITOR)
            await clock.sleeping(MONITOR)
            assert [e.limit for e in log if isinstance(e, LimitMoved)] == [4, 2]
            measured(paths, exchange(cost=0.9))
            clock.advance(MONITOR)  # the budget is spent: the run is stopped, the batch ends
    assert [e.cost_usd for e in log if isinstance(e, BudgetSpent)] == [pytest.approx(1.0)]


async def test_the_gateway_s_refusal_for_the_batch_s_budget_stops_the_batch_at_once(
    tmp_path: Path,
) -> None:
    """The gateway refused a run for the batch's budget, counting the spend of runs
    the batch has not read yet: the batch takes the gateway's word from that run's
    own events, before its slot goes to the next prompt. A refusal for the run's own
    budget spends only that run."""
    home = Home(tmp_path)
    batch_id = make_batch(home, ["a", "b", "c"], parallel=1, budget_usd=1.0)
    own = made_run(home, "run-1", registered=True)
    measured(
        own, exchange(cost=0.2), BudgetRefused(ts="t", scope="run", spent_usd=0.2, cap_usd=0.2)
    )
    batch = made_run(home, "run-2", registered=True)
    measured(
        batch, exchange(cost=0.1), BudgetRefused(ts="t", scope="batch", spent_usd=1.05, cap_usd=1.0)
    )
    attempts = Attempts({1: ["budget"], 2: ["budget"], 3: ["succeeded"]})
    clock, log = FakeClock(), []
    manifest = load_manifest(home, batch_id)
    with anyio.fail_after(10):
        await _scheduler(manifest, attempts, GatewaySignals(home), clock, log).run(
            batch_state(manifest, []).items, {}, []
        )
    assert attempts.started == [1, 2]
    ends = sorted((e.item, e.status) for e in log if isinstance(e, AttemptEnded))
    assert ends == [(1, "budget"), (2, "budget"), (3, "cancelled")]
    assert [e.cost_usd for e in log if isinstance(e, BudgetSpent)] == [1.05]


async def test_a_new_pass_does_not_halve_for_the_rate_limits_of_the_one_before(
    tmp_path: Path,
) -> None:
    """A retry or resume reads what earlier runs spent before anything starts, but the
    429s they met then are the earlier pass's: only what comes after counts."""
    home = Home(tmp_path)
    batch_id = make_batch(home, ["a"], parallel=4)
    attempts = Attempts({1: [None]})
    spend = Spend()
    spend.rate_limits["earlier-run"] = (429, 429)
    spend.spent["earlier-run"] = 0.5
    clock, log = FakeClock(), []
    manifest = load_manifest(home, batch_id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_scheduler(manifest, attempts, spend, clock, log).run,
                      batch_state(manifest, []).items, {}, ["earlier-run"])  # fmt: skip
        with anyio.fail_after(10):
            await attempts.running.wait()
            await clock.sleeping(MONITOR)
            assert [e.limit for e in log if isinstance(e, LimitMoved)] == [4]
            spend.rate_limits["run-1"] = (429,)  # this pass's own
            clock.advance(MONITOR)
            await clock.sleeping(MONITOR)
        tg.cancel_scope.cancel()
    assert [e.limit for e in log if isinstance(e, LimitMoved)] == [4, 2]


def _scheduler(manifest, attempts, signals, clock, log: list[BatchEvent]) -> Scheduler:  # type: ignore[no-untyped-def]
    async def write(event: BatchEvent) -> None:
        log.append(event)

    return Scheduler(manifest, attempts, signals, write, clock=clock, monitor_period=MONITOR,
                     rng=random.Random(7))  # fmt: skip


__all__ = ["msgspec"]
