"""The batch's scheduler: when each attempt of each item may go, and what its end
means. No engine, no files: attempts run through :class:`Attempts`, the batch's
log is written through ``log``, and time is an injected :class:`Clock`.

Each item's run is made (clones, Claude state, its container) ahead of a free
slot, while the slots are busy: at most ``parallel`` runs wait made (a
:class:`~scad.batch.turns.Turn`), so that a spent budget or a stop throws little
away, and what they throw away is removed. Slots (a :class:`~anyio.CapacityLimiter`
whose size follows :class:`~scad.batch.policy.Concurrency`) go to the runs in the
order they began to be made; a run starts once it has one, and as its
:class:`~scad.batch.policy.StartPace` allows (``burst`` at once, then one per
``stagger``); an attempt that ended
rate-limited, hung or crashed is tried again after a backoff as long as retries
remain (:mod:`~scad.batch.verdict`). A monitor reads the fleet's signals every
``monitor_period``: rate limits lower the concurrency, and a spent budget stops
what runs and what waits. A pass (a batch's first, its retry, its resume) starts
from its own evidence: the rate limits its runs met before it began are an earlier
pass's, and read past without a cut; what they spent counts.

When the config has checks, an attempt Claude finished is judged by them before its
item ends, still holding its slot and within its time limit; checks cost no money,
so a spent budget lets them end (and starts no fix attempt). An item whose checks
failed gets up to ``fix_attempts`` more attempts, each told what failed.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol

import anyio
import msgspec

from ..checks.report import CheckReport
from ..errors import ScadError
from ..runs.gate import StartGate
from ..runs.outcomes import Outcome
from ..runs.records import RunRecord
from ..taskgroups import open_task_group
from .attempt import ItemRun
from .events import (
    AttemptChecked,
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    CheckFailure,
    Fetched,
    LimitMoved,
)
from .fixes import failure_of, fix_prompt
from .policy import Budget, Concurrency, LimitChange, StartPace, backoff
from .signals import SignalSource
from .state import ItemState
from .store import BatchManifest
from .turns import Turn
from .verdict import (
    BUDGET_NOT_STARTED,
    BUDGET_STOPPED,
    NO_TIME_FOR_CHECKS,
    AttemptEnd,
    attempt_end,
    checked_end,
    shorten,
)

__all__ = ["MONITOR_SECONDS", "AnyioClock", "Attempts", "Clock", "Scheduler"]

#: How often the monitor reads the fleet's signals, unless told otherwise.
MONITOR_SECONDS = 1.0


class Clock(Protocol):
    """The scheduler's time: now, and waiting."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class AnyioClock:
    """The event loop's clock."""

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class Attempts(Protocol):
    """How an item's attempts run (:class:`scad.batch.attempt.Attempts`)."""

    #: The config has checks: an attempt Claude finished is judged by them.
    checking: bool

    async def left_running(self, record: RunRecord) -> bool: ...

    async def adopt(self, run: ItemRun) -> Outcome: ...

    async def stop(self, run: ItemRun) -> Outcome: ...

    async def start(self, run: ItemRun, attempt: int, gate: StartGate) -> Outcome: ...

    async def check(self, record: RunRecord, *, time_limit: float | None) -> CheckReport | None:
        """The checks run on what the run committed (None: it committed nothing)."""
        ...

    async def fetch(self, record: RunRecord, judged: dict[str, str] | None = None) -> str:
        """Bring the run home: with ``judged`` (repo -> commit), only what checks judged."""
        ...


class Judged(msgspec.Struct, frozen=True, kw_only=True):
    """An attempt Claude finished, once its checks had their say."""

    end: AttemptEnd
    #: The checks that failed it.
    failing: list[CheckFailure] = []
    #: The commits they judged, by repo (none: it committed nothing).
    commits: dict[str, str] = {}


class Scheduler:
    """One batch's items through their attempts, paced."""

    def __init__(
        self,
        manifest: BatchManifest,
        attempts: Attempts,
        signals: SignalSource,
        log: Callable[[BatchEvent], Awaitable[None]],
        *,
        clock: Clock,
        monitor_period: float = MONITOR_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.manifest = manifest
        self.options = manifest.options
        self.attempts = attempts
        self.signals = signals
        self.log = log
        self.clock = clock
        self.monitor_period = monitor_period
        self.rng = rng or random.Random()
        self.concurrency = Concurrency(self.options.parallel)
        self.limiter = anyio.CapacityLimiter(self.options.parallel)
        #: Places for runs made ahead of a free slot.
        self.ready = anyio.CapacityLimiter(self.options.parallel)
        self.budget = Budget(self.options.budget_usd)
        self.budget_spent = anyio.Event()
        #: Runs whose spend counts (every run of the batch, from earlier supervisors
        #: too), and the scopes of the attempts going now, by item.
        self.runs: set[str] = set()
        self.scopes: dict[int, anyio.CancelScope] = {}
        self.start_lock = anyio.Lock()
        self.pace = StartPace(self.options.stagger, self.options.burst)

    async def run(
        self, pending: list[ItemState], records: dict[int, RunRecord], known: Collection[str]
    ) -> None:
        """Every item of ``pending`` to its final end; ``records``: runs an earlier
        supervisor made for items, ``known``: every run of the batch so far."""
        await self.log(LimitMoved(limit=int(self.limiter.total_tokens), cause="ceiling"))
        self.runs.update(known)
        self.runs.update(r.run_id for r in records.values())
        # What earlier runs spent counts before anything starts; the rate limits they
        # met were the earlier pass's.
        await self.read_signals(rate_limits=False)
        async with open_task_group() as tg:
            tg.start_soon(self._monitor)
            async with open_task_group() as items:
                # Runs a dead supervisor left going take their slots first.
                for item in sorted(pending, key=lambda i: i.run_id is None):
                    items.start_soon(self._item, item, records.get(item.index))
            tg.cancel_scope.cancel()  # the monitor

    async def _monitor(self) -> None:
        while True:
            await self.clock.sleep(self.monitor_period)
            await self.read_signals()

    async def read_signals(
        self, run_ids: Collection[str] | None = None, *, rate_limits: bool = True
    ) -> None:
        """Spend and rate limits, as ``run_ids`` (else every run of the batch) report
        them (without ``rate_limits``, those reported since the last read are read past)."""
        for signal_ in await self.signals.poll(sorted(self.runs if run_ids is None else run_ids)):
            self.budget.spent_by(signal_.run_id, signal_.spent_usd)
            if signal_.batch_refused_at_usd is not None:
                self.budget.gateway_refused(signal_.batch_refused_at_usd)
            for status in signal_.rate_limits if rate_limits else ():
                await self._limit(self.concurrency.rate_limited(self.clock.now(), status))
        if self.budget.exhausted and not self.budget_spent.is_set():
            self.budget_spent.set()
            spent = self.budget.spent
            limit = self.budget.limit_usd
            detail = f"budget spent: ${spent:.4f} of ${limit:.2f}; stopping the runs"
            await self.log(BudgetSpent(cost_usd=spent, detail=detail))
            for scope in self.scopes.values():
                scope.cancel()

    async def _limit(self, change: LimitChange | None) -> None:
        if change is None:
            return
        self.limiter.total_tokens = change.new
        detail = f"concurrency {change.old} -> {change.new}: {change.reason}"
        await self.log(
            LimitMoved(limit=change.new, cause=change.cause, status=change.status, detail=detail)
        )

    async def _item(self, state: ItemState, record: RunRecord | None) -> None:
        """One prompt, through its attempts, to a final end."""
        run = ItemRun(self.manifest.items[state.index - 1], record)
        attempt, tries, fixes = state.attempts + 1, state.tries, state.fixes
        if fixes and state.failing:  # a fix attempt was due, or going, when the last pass ended
            run.prompt = fix_prompt(run.item.prompt, state.failing)
        adopting = record is not None and await self.attempts.left_running(record)
        while True:
            judged: Judged | None = None
            turn = Turn(self.limiter, self.ready)
            with anyio.CancelScope() as scope:
                self.scopes[state.index] = scope
                try:
                    outcome = await self._attempt(run, attempt, adopting, turn)
                    # Checks cost no money: a budget spent from here lets them end.
                    self.scopes.pop(state.index)
                    # What it spent, or the gateway's refusal for the batch's budget,
                    # is read before its slot goes to the next prompt, not a period
                    # later: runs made ahead wait on that slot. Its own run's alone:
                    # the monitor reads the others'.
                    if self.budget.limit_usd is not None and outcome.run_id:
                        await self.read_signals([outcome.run_id])
                    if outcome.outcome == "succeeded" and self.attempts.checking:
                        judged = await self._check(run, attempt, fixes)
                finally:
                    turn.leave()
            self.scopes.pop(state.index, None)
            if scope.cancelled_caught:  # the budget stopped it, or kept it from starting
                started = run.began is not None  # let go to start (or adopted)
                outcome = run.ended_early(
                    "cancelled", BUDGET_STOPPED if started else BUDGET_NOT_STARTED
                )
                judged = None
            tries += 1
            end = attempt_end(outcome, tries=tries - fixes, retries=self.options.retries)
            if end.status == "succeeded":
                await self._limit(self.concurrency.succeeded())
                end = judged.end if judged else end
            fixing = judged is not None and end.status == "checks-failed"
            wait = None  # drawn before the end is logged, so that the log says it
            if not (end.final or fixing):
                wait = backoff(tries - fixes, self.options.backoff, self.rng)
            await self.log(
                AttemptEnded(
                    item=state.index, run_id=outcome.run_id or None, attempt=attempt,
                    status=end.status, final=end.final, detail=end.detail,
                    cost_usd=outcome.cost_usd, backoff_s=wait,
                )
            )  # fmt: skip
            if end.status == "succeeded" and self.options.fetch and run.record is not None:
                # Only a run whose checks passed comes home: one that failed them is
                # what `scad review` is for, not the user's branches.
                judged_commits = None if judged is None else judged.commits
                detail = await self.attempts.fetch(run.record, judged_commits)
                await self.log(
                    Fetched(item=state.index, run_id=run.record.run_id, detail=shorten(detail))
                )
            if end.final:
                return
            if wait is None:  # its checks failed: a fix attempt follows at once
                assert judged is not None
                fixes += 1
                run.prompt = fix_prompt(run.item.prompt, judged.failing)
                run.again = f"fix attempt {fixes} of {self.options.fix_attempts}: " + _first_line(
                    end.detail
                )
            else:
                await self._back_off(wait)
                run.again = f"retry {tries - fixes} of {self.options.retries}: {end.status}"
            attempt, adopting = attempt + 1, False

    async def _check(self, run: ItemRun, attempt: int, fixes: int) -> Judged:
        """Judge what an attempt Claude finished committed, in the time it has left."""
        assert run.record is not None
        left = self._time_left(run)
        if left is not None and left <= 0:
            return Judged(end=AttemptEnd(status="timed-out", final=True, detail=NO_TIME_FOR_CHECKS))
        try:
            report = await self.attempts.check(run.record, time_limit=left)
        except Exception as exc:  # the item's end, not the batch's
            why = str(exc) if isinstance(exc, ScadError) else f"{type(exc).__name__}: {exc}"
            detail = shorten(f"its checks could not run: {why}")
            return Judged(end=AttemptEnd(status="failed", final=True, detail=detail))
        failing = None
        if report is not None:
            failing = [failure_of(c) for c in report.failing]
            await self.log(
                AttemptChecked(
                    item=run.item.index, run_id=run.record.run_id, attempt=attempt,
                    passed=[c.name for c in report.checks if c.passed], failed=failing,
                )
            )  # fmt: skip
        after = self._time_left(run)
        end = checked_end(
            failing, out_of_time=after is not None and after <= 0, fixes=fixes,
            fix_attempts=self.options.fix_attempts, budget_spent=self.budget_spent.is_set(),
        )  # fmt: skip
        commits = (
            {} if report is None else {r: c for k in report.checks for r, c in k.commits.items()}
        )
        return Judged(end=end, failing=failing or [], commits=commits)

    def _time_left(self, run: ItemRun) -> float | None:
        """What is left of the attempt's time limit (None: it has none)."""
        timeout = self.options.timeout
        if timeout is None:
            return None
        began = self.clock.now() if run.began is None else run.began
        return timeout - (self.clock.now() - began)

    async def _attempt(self, run: ItemRun, attempt: int, adopting: bool, turn: Turn) -> Outcome:
        """One attempt: its run made ahead of a slot, then started in one."""
        run.began = None
        if adopting:
            if not self.budget_spent.is_set():
                await turn.take_slot()
            run.began = self.clock.now()  # an adopted run's time limit counts from now
            if self.budget_spent.is_set():  # a resumed batch whose money is gone
                return await self.attempts.stop(run)
            return await self.attempts.adopt(run)
        if not self.budget_spent.is_set():
            await turn.get_ready()
        if self.budget_spent.is_set():
            return run.ended_early("cancelled", BUDGET_NOT_STARTED)
        gate = StartGate()
        async with open_task_group() as tg:
            tg.start_soon(self._pace, run, attempt, gate, turn)
            try:
                return await self.attempts.start(run, attempt, gate)
            finally:
                if not gate.started.is_set():  # it never started: nothing to log
                    tg.cancel_scope.cancel()

    async def _pace(self, run: ItemRun, attempt: int, gate: StartGate, turn: Turn) -> None:
        """Let an attempt's container start in its turn: once it has a slot (asked
        for as it begins to be made, so that runs start in the order they were
        made), and as the pace allows (their containers are made meanwhile); once
        it started, say so."""
        await turn.take_slot()
        await gate.created.wait()
        self.runs.add(run.record_id)
        if self.budget_spent.is_set():
            gate.refuse(BUDGET_NOT_STARTED)  # the budget ran out while it was made
            return
        async with self.start_lock:
            if (wait := self.pace.wait(self.clock.now())) > 0:
                await self.clock.sleep(wait)
            self.pace.take(self.clock.now())
        run.began = self.clock.now()  # its time limit counts from its start, about now
        gate.open()
        turn.let_go()
        if not gate.started.is_set():
            await gate.started.wait()
        with anyio.CancelScope(shield=True):
            await self.log(
                AttemptStarted(item=run.item.index, run_id=run.record_id, attempt=attempt)
            )

    async def _back_off(self, seconds: float) -> None:
        """Wait ``seconds`` before the next attempt; no point waiting out a spent budget."""
        async with open_task_group() as tg:

            async def spent() -> None:
                await self.budget_spent.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(spent)
            await self.clock.sleep(seconds)
            tg.cancel_scope.cancel()


def _first_line(text: str | None) -> str:
    return (text or "").partition("\n")[0]
