"""The scheduler with checks: an attempt Claude finished is judged before its item
ends, holding its slot and within its time limit; an item whose checks failed gets
fix attempts, told what failed, counted apart from retries. The checks are acted out
by a fake; time moves only when a test moves it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

import anyio
import pytest

from scad.batch.attempt import ItemRun
from scad.batch.events import (
    AttemptChecked,
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    CheckFailure,
    Fetched,
    LimitMoved,
)
from scad.batch.fixes import fix_prompt
from scad.batch.policy import backoff
from scad.batch.scheduler import Scheduler
from scad.batch.state import ItemState, batch_state
from scad.batch.store import BatchPaths, load_manifest, save_manifest
from scad.checks.report import CheckReport
from scad.home import Home
from scad.runs.envelopes import Checked
from scad.runs.gate import StartGate
from scad.runs.outcomes import Outcome, Status
from scad.runs.records import RunRecord
from tests.fakes import FakeClock
from tests.unit.test_dispatch import make_batch
from tests.unit.test_scheduler import MONITOR, Spend

pytestmark = pytest.mark.anyio

#: What the checks say of an attempt: all pass, one fails, it committed nothing, the
#: step raises, or it waits until the test lets it go (then passes or fails).
Verdict = Literal["pass", "fail", "nothing", "raise", "wait-pass", "wait-fail"]

FAILING_OUTPUT = "FAILED test_sum - assert 3 == 4\n1 failed, 2 passed"


@dataclass
class Attempts:
    """Attempts acted out: each starts, ends as its plan says, and (when it
    succeeded) its checks say what ``verdicts`` says, attempt by attempt."""

    plans: dict[int, list[Status]]
    verdicts: dict[int, list[Verdict]]
    clock: FakeClock
    #: Fake seconds each attempt's container takes.
    runs_for: float = 0.0
    checking: bool = True
    prompts: dict[int, list[str]] = field(default_factory=dict)
    time_limits: list[float | None] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    #: What each fetch was told the checks judged (None: bring everything).
    judged: list[dict[str, str] | None] = field(default_factory=list)
    waiting: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)
    cancelled: bool = False

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
        self.prompts.setdefault(index, []).append(run.prompt)
        self.clock.advance(self.runs_for)
        return Outcome(run_id=run.record_id, outcome=self.plans[index][attempt - 1])

    async def check(self, record: RunRecord, *, time_limit: float | None) -> CheckReport | None:
        self.time_limits.append(time_limit)
        index = int(record.run_id.split("-")[1])
        verdict = self.verdicts[index].pop(0)
        if verdict == "nothing":
            return None
        if verdict == "raise":
            raise RuntimeError("the check's image is gone")
        if verdict.startswith("wait"):
            self.waiting.set()
            try:
                await self.release.wait()
            except anyio.get_cancelled_exc_class():
                self.cancelled = True
                raise
        commits = {"code": f"commit-{index}"}
        lint = Checked(name="lint", exit_code=0, commits=commits)
        if verdict.endswith("pass"):
            return CheckReport(checks=[Checked(name="tests", exit_code=0, commits=commits), lint])
        failed = Checked(name="tests", exit_code=1, output=FAILING_OUTPUT, commits=commits)
        return CheckReport(checks=[failed, lint])

    async def fetch(self, record: RunRecord, judged: dict[str, str] | None = None) -> str:
        self.fetched.append(record.run_id)
        self.judged.append(judged)
        return "fetched"


def _scheduler(home: Home, batch_id: str, attempts: Attempts, log: list[BatchEvent],
               spend: Spend | None = None) -> Scheduler:  # fmt: skip
    async def write(event: BatchEvent) -> None:
        log.append(event)

    return Scheduler(load_manifest(home, batch_id), attempts, spend or Spend(), write,
                     clock=attempts.clock, monitor_period=MONITOR, rng=random.Random(7))  # fmt: skip


async def _run(home: Home, batch_id: str, attempts: Attempts, log: list[BatchEvent],
               items: list[ItemState] | None = None) -> None:  # fmt: skip
    pending = items if items is not None else batch_state(load_manifest(home, batch_id), []).items
    with anyio.fail_after(10):
        await _scheduler(home, batch_id, attempts, log).run(pending, {}, [])


def _ends(log: list[BatchEvent]) -> list[tuple[int, int, str, bool]]:
    return [(e.item, e.attempt, e.status, e.final) for e in log if isinstance(e, AttemptEnded)]


def _details(log: list[BatchEvent]) -> list[str | None]:
    return [e.detail for e in log if isinstance(e, AttemptEnded)]


async def test_an_attempt_whose_checks_pass_succeeds_and_only_then_is_fetched(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fetch=True)
    attempts = Attempts({1: ["succeeded"]}, {1: ["pass"]}, FakeClock())
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    kinds = [type(e).__name__ for e in log if not isinstance(e, LimitMoved)]
    assert kinds == ["AttemptStarted", "AttemptChecked", "AttemptEnded", "Fetched"]
    checked = next(e for e in log if isinstance(e, AttemptChecked))
    assert (checked.passed, checked.failed) == (["tests", "lint"], [])
    assert _ends(log) == [(1, 1, "succeeded", True)]
    assert attempts.fetched == ["run-1"]
    assert attempts.judged == [{"code": "commit-1"}]  # what was judged, and nothing else


async def test_an_attempt_whose_checks_fail_ends_checks_failed_naming_them(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fetch=True)
    attempts = Attempts({1: ["succeeded"]}, {1: ["fail"]}, FakeClock())
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert _ends(log) == [(1, 1, "checks-failed", True)]
    assert _details(log) == [
        "checks failed: tests (exit 1)\nFAILED test_sum - assert 3 == 4\n1 failed, 2 passed"
    ]
    checked = next(e for e in log if isinstance(e, AttemptChecked))
    assert checked.passed == ["lint"]
    assert checked.failed == [CheckFailure(name="tests", exit_code=1, output=FAILING_OUTPUT)]
    assert attempts.fetched == [] and not any(isinstance(e, Fetched) for e in log)
    state = batch_state(load_manifest(home, batch_id), log)
    assert (state.items[0].status, state.items[0].fixes) == ("checks-failed", 0)


async def test_a_run_that_committed_nothing_is_not_checked_and_says_so(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fix_attempts=2, fetch=True)
    attempts = Attempts({1: ["succeeded"]}, {1: ["nothing"]}, FakeClock())
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert _ends(log) == [(1, 1, "succeeded", True)]
    assert _details(log) == ["committed nothing: no checks ran"]
    assert not any(isinstance(e, AttemptChecked) for e in log)
    # Work on branches the checks did not judge does not come home unjudged.
    assert attempts.judged == [{}]


async def test_without_checks_nothing_is_judged(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fix_attempts=2, fetch=True)
    attempts = Attempts({1: ["succeeded"]}, {1: []}, FakeClock(), checking=False)
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert _ends(log) == [(1, 1, "succeeded", True)] and _details(log) == [None]
    assert attempts.time_limits == []
    assert attempts.judged == [None]  # every branch comes home


async def test_a_fix_attempt_told_what_failed_turns_the_item_into_a_success(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["add the numbers"], fix_attempts=1, fetch=True)
    attempts = Attempts({1: ["succeeded", "succeeded"]}, {1: ["fail", "pass"]}, FakeClock())
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert _ends(log) == [(1, 1, "checks-failed", False), (1, 2, "succeeded", True)]
    assert _details(log)[0] == (
        "checks failed: tests (exit 1); fix attempt 1 of 1 follows\n" + FAILING_OUTPUT
    )
    first, second = attempts.prompts[1]
    assert first == "add the numbers"
    assert second.startswith("add the numbers\n") and FAILING_OUTPUT in second
    assert [s for s in attempts.clock.asked if s != MONITOR] == []  # no backoff
    assert attempts.fetched == ["run-1"]
    state = batch_state(load_manifest(home, batch_id), log)
    assert (state.items[0].status, state.items[0].fixes, state.items[0].tries) == (
        "succeeded",
        1,
        2,
    )


async def test_fix_attempts_end_when_they_are_used_up(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fix_attempts=1, retries=3)
    attempts = Attempts({1: ["succeeded", "succeeded"]}, {1: ["fail", "fail"]}, FakeClock())
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert _ends(log) == [(1, 1, "checks-failed", False), (1, 2, "checks-failed", True)]
    assert (_details(log)[1] or "").startswith(
        "checks failed: tests (exit 1); no fix attempts left (1 made)\n"
    )


async def test_fix_attempts_and_retries_are_counted_apart(tmp_path: object) -> None:
    """A fix attempt that crashes is retried on its own allowance, with the fix's prompt."""
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fix_attempts=1, retries=1)
    _set_options(home, batch_id, backoff=5.0)
    plans: dict[int, list[Status]] = {1: ["succeeded", "crashed", "succeeded"]}
    attempts = Attempts(plans, {1: ["fail", "pass"]}, FakeClock())
    wait = backoff(1, 5.0, random.Random(7))  # the first retry's, not the fix attempt's
    log: list[BatchEvent] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_run, home, batch_id, attempts, log)
        with anyio.fail_after(10):
            await attempts.clock.sleeping(wait)
            attempts.clock.advance(wait)
    assert _ends(log) == [
        (1, 1, "checks-failed", False),
        (1, 2, "crashed", False),
        (1, 3, "succeeded", True),
    ]
    assert attempts.prompts[1][1] == attempts.prompts[1][2] != attempts.prompts[1][0]


async def test_checks_are_given_what_is_left_of_the_time_limit(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a", "b"], timeout=100.0, parallel=1)
    attempts = Attempts({1: ["succeeded"], 2: ["succeeded"]}, {1: ["pass"], 2: ["pass"]},
                        FakeClock(), runs_for=30.0)  # fmt: skip
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert attempts.time_limits == [70.0, 70.0]


async def test_an_attempt_with_no_time_left_for_its_checks_timed_out(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], timeout=30.0, fix_attempts=1)
    attempts = Attempts({1: ["succeeded"]}, {1: ["pass"]}, FakeClock(), runs_for=30.0)
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert attempts.time_limits == []
    assert _ends(log) == [(1, 1, "timed-out", True)]
    assert _details(log) == ["its time limit ran out before its checks could run"]


async def test_a_spent_budget_lets_running_checks_end_and_starts_no_fix_attempt(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a", "b"], fix_attempts=3, budget_usd=1.0)
    plans: dict[int, list[Status]] = {1: ["succeeded"], 2: ["succeeded"]}
    attempts = Attempts(plans, {1: ["wait-fail"], 2: ["wait-pass"]}, FakeClock())
    spend, log = Spend(), []
    scheduler = _scheduler(home, batch_id, attempts, log, spend)
    pending = batch_state(load_manifest(home, batch_id), []).items
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run, pending, {}, [])
        with anyio.fail_after(10):
            await attempts.waiting.wait()
            spend.spent["run-1"] = 2.0
            await attempts.clock.sleeping(MONITOR)
            attempts.clock.advance(MONITOR)  # the monitor reads the spend
            await scheduler.budget_spent.wait()
            attempts.release.set()
    assert sorted(_ends(log)) == [(1, 1, "checks-failed", True), (2, 1, "succeeded", True)]
    failed = next(e for e in log if isinstance(e, AttemptEnded) and e.item == 1)
    assert (failed.detail or "").startswith(
        "checks failed: tests (exit 1); no fix attempt: the budget is spent\n"
    )
    assert len([e for e in log if isinstance(e, AttemptChecked)]) == 2
    assert [e.cost_usd for e in log if isinstance(e, BudgetSpent)] == [2.0]


async def test_a_check_step_that_raises_fails_its_item_only(tmp_path: object) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a", "b"], fix_attempts=1)
    plans: dict[int, list[Status]] = {1: ["succeeded"], 2: ["succeeded"]}
    attempts = Attempts(plans, {1: ["raise"], 2: ["pass"]}, FakeClock())
    log: list[BatchEvent] = []
    await _run(home, batch_id, attempts, log)
    assert sorted(_ends(log)) == [(1, 1, "failed", True), (2, 1, "succeeded", True)]
    failed = next(e for e in log if isinstance(e, AttemptEnded) and e.item == 1)
    assert failed.detail == "its checks could not run: RuntimeError: the check's image is gone"


async def test_a_batch_stopped_during_checks_stops_them_and_ends_nothing(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["a"], fix_attempts=1)
    attempts = Attempts({1: ["succeeded"]}, {1: ["wait-pass"]}, FakeClock())
    log: list[BatchEvent] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_run, home, batch_id, attempts, log)
        with anyio.fail_after(10):
            await attempts.waiting.wait()
        tg.cancel_scope.cancel()
    assert attempts.cancelled
    assert [
        type(e) for e in log if isinstance(e, AttemptStarted | AttemptEnded | AttemptChecked)
    ] == [AttemptStarted]


async def test_a_resumed_batch_goes_on_counting_its_fix_attempts(tmp_path: object) -> None:
    """A supervisor that died once a fix attempt was due: the next makes it, with
    the failure in its prompt, and no more than the batch allows."""
    home = Home(tmp_path)  # type: ignore[arg-type]
    batch_id = make_batch(home, ["add the numbers"], fix_attempts=1)
    failure = CheckFailure(name="tests", exit_code=1, output=FAILING_OUTPUT)
    earlier: list[BatchEvent] = [
        AttemptStarted(item=1, run_id="run-1", attempt=1),
        AttemptChecked(item=1, run_id="run-1", attempt=1, passed=["lint"], failed=[failure]),
        AttemptEnded(item=1, run_id="run-1", attempt=1, status="checks-failed", final=False),
    ]
    items = batch_state(load_manifest(home, batch_id), earlier).items
    assert (items[0].fixes, items[0].tries) == (1, 1)
    record = RunRecord(run_id="run-1", config="p", tag="b-01", mode="headless", image="i",
                       branch="b", created="c", repos={})  # fmt: skip
    attempts = Attempts({1: ["", "succeeded"]}, {1: ["fail"]}, FakeClock())  # type: ignore[list-item]
    log: list[BatchEvent] = []
    with anyio.fail_after(10):
        await _scheduler(home, batch_id, attempts, log).run(items, {1: record}, ["run-1"])
    assert attempts.prompts[1] == [fix_prompt("add the numbers", [failure])]
    assert _ends(log) == [(1, 2, "checks-failed", True)]
    assert "no fix attempts left (1 made)" in (_details(log)[0] or "")


def _set_options(home: Home, batch_id: str, **options: object) -> None:
    import msgspec

    manifest = load_manifest(home, batch_id)
    changed = msgspec.structs.replace(manifest.options, **options)
    save_manifest(BatchPaths(home, batch_id), msgspec.structs.replace(manifest, options=changed))
