"""A batch's supervisor: each prompt of a batch as a supervised headless run.

One task group carries the whole batch. Each item waits for a slot (a
:class:`~anyio.CapacityLimiter` whose size follows :class:`~scad.batch.policy.Concurrency`),
starts no sooner than ``stagger`` after the previous start, and is supervised
to its end by :func:`scad.runs.supervisor.supervise`; a run that was rate-limited,
hung or crashed is tried again after a backoff, in the same run (its clones,
its log), as long as retries remain. A monitor polls the fleet's signals: rate
limits lower the concurrency, and a spent budget stops what runs and what waits.

Everything the supervisor decides goes to the batch's event log, so it can be
killed at any point and picked up again (:func:`run_batch` on the same batch):
runs still going are adopted, queued prompts start, and nothing runs twice.
"""

from __future__ import annotations

import os
import random
import signal
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..code.fetch import fetch_run
from ..config.schema import Config
from ..errors import EngineUnavailable, ScadError
from ..home import Home
from ..runs.catchup import catch_up
from ..runs.envelopes import Retried
from ..runs.events import append_event, each_event
from ..runs.lives import RunLives
from ..runs.records import RunPaths, RunRecord, list_runs, parse_iso
from ..runs.supervisor import (
    CLEANUP_SECONDS,
    Outcome,
    Status,
    adopt,
    remove_containers,
    stop_run,
    supervise,
)
from ..sessions.start import acontainer_spec, discard_run, prepare_session, renew_claude_state
from ..taskgroups import open_task_group
from .events import (
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    Ended,
    Fetched,
    LimitMoved,
    Stopping,
    SupervisorTook,
)
from .policy import Budget, Concurrency, LimitChange, backoff
from .signals import LogSignals, SignalSource
from .store import (
    BatchItem,
    BatchManifest,
    BatchPaths,
    BatchState,
    ItemState,
    SupervisorLock,
    aload_manifest,
    append_batch_event,
    aread_batch_events,
    batch_state,
    close_unfinished,
)

if TYPE_CHECKING:
    from ..engine._types import Engine

__all__ = ["RETRYABLE", "run_batch"]

#: Outcomes worth another attempt: the next may well go through.
RETRYABLE: frozenset[Status] = frozenset({"rate-limited", "hung", "crashed"})
#: How often the monitor reads the fleet's signals.
MONITOR_SECONDS = 1.0


async def run_batch(
    engine: Engine,
    home: Home,
    config: Config,
    batch_id: str,
    *,
    signals: SignalSource | None = None,
    stop_on_signals: bool = True,
    rng: random.Random | None = None,
) -> BatchState:
    """Supervise batch ``batch_id`` until every item has ended: started afresh, or
    picked up where a supervisor that died left it. SIGTERM and SIGINT stop it
    (runs stopped and kept as ``cancelled``). Returns where the batch ended."""
    paths = BatchPaths(home, batch_id)
    manifest = await aload_manifest(home, batch_id)
    async with SupervisorLock(paths):
        batch = _Batch(engine, home, config, manifest, signals or LogSignals(home), rng)
        await batch.run(stop_on_signals=stop_on_signals)
    return batch_state(manifest, await aread_batch_events(paths))


class _Batch:
    def __init__(
        self,
        engine: Engine,
        home: Home,
        config: Config,
        manifest: BatchManifest,
        signals: SignalSource,
        rng: random.Random | None,
    ) -> None:
        self.engine = engine
        self.home = home
        self.config = config
        self.manifest = manifest
        self.options = manifest.options
        self.paths = BatchPaths(home, manifest.batch_id)
        self.signals = signals
        self.rng = rng or random.Random()
        self.concurrency = Concurrency(self.options.parallel)
        self.limiter = anyio.CapacityLimiter(self.options.parallel)
        self.budget = Budget(self.options.budget_usd)
        self.budget_spent = anyio.Event()
        self.fetching = anyio.Lock()
        #: Runs whose spend counts (every run of the batch, from earlier supervisors
        #: too), and the scopes of the attempts going now, by item.
        self.runs: set[str] = set()
        self.attempts: dict[int, anyio.CancelScope] = {}
        self.start_lock = anyio.Lock()
        self.last_start = -float("inf")
        self.unfinished = 0
        #: The local time the batch's run ids carry: when it was made.
        self.named_at = parse_iso(manifest.created).astimezone()
        self.finished = anyio.Event()

    async def _log(self, event: BatchEvent) -> None:
        await anyio.to_thread.run_sync(append_batch_event, self.paths, event)

    async def run(self, *, stop_on_signals: bool) -> None:
        events = await aread_batch_events(self.paths)
        state = batch_state(self.manifest, events)
        # A batch supervised before may have runs its log does not name yet (the
        # supervisor died between making a run and saying so): their records do.
        records = {}
        if any(isinstance(e, SupervisorTook) for e in events):
            records = {
                r.item: r
                for r in await anyio.to_thread.run_sync(list_runs, self.home)
                if r.batch == self.manifest.batch_id and r.item is not None
            }
        await self._log(SupervisorTook(pid=os.getpid()))
        await self._log(LimitMoved(limit=int(self.limiter.total_tokens)))
        pending = [item for item in state.items if not item.final]
        self.runs.update(state.run_ids)
        self.runs.update(r.run_id for r in records.values())
        await self._read_signals()  # what earlier runs spent counts before anything starts
        self.unfinished = len(pending)
        if not pending:
            self.finished.set()
        why = "the batch was stopped"
        everything = anyio.CancelScope()
        # The signal handler outlives the runs: a second SIGTERM during the clean-up
        # must not kill the supervisor halfway.
        async with open_task_group() as guard:
            if stop_on_signals:
                guard.start_soon(self._stop_on_signals, everything)
            try:
                with everything:
                    async with open_task_group() as tg:
                        tg.start_soon(self._monitor)
                        # Runs a dead supervisor left going take their slots first.
                        for item in sorted(pending, key=lambda i: i.run_id is None):
                            tg.start_soon(self._item, item, records.get(item.index))
                        await self.finished.wait()
                        tg.cancel_scope.cancel()  # the monitor
            except Exception as exc:
                why = f"the batch's supervisor failed: {exc}"
                raise
            finally:
                # Stopped (on a signal, by the caller, or by a bug): every run was
                # stopped and kept; the batch says so, and that it ended.
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                    await anyio.to_thread.run_sync(close_unfinished, self.paths, self.manifest, why)
                    await self._log(Ended())
            guard.cancel_scope.cancel()

    async def _stop_on_signals(self, everything: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
            async for _ in received:
                if not everything.cancel_called:
                    await self._log(Stopping(detail="stopped on request"))
                    everything.cancel()

    async def _monitor(self) -> None:
        while True:
            await anyio.sleep(MONITOR_SECONDS)
            await self._read_signals()

    async def _read_signals(self) -> None:
        for signal_ in await self.signals.poll(sorted(self.runs)):
            self.budget.spent_by(signal_.run_id, signal_.spent_usd)
            for status in signal_.rate_limits:
                await self._limit(self.concurrency.rate_limited(anyio.current_time(), status))
        if self.budget.exhausted and not self.budget_spent.is_set():
            self.budget_spent.set()
            spent = self.budget.spent
            limit = self.budget.limit_usd
            detail = f"budget spent: ${spent:.4f} of ${limit:.2f}; stopping the runs"
            await self._log(BudgetSpent(cost_usd=spent, detail=detail))
            for scope in self.attempts.values():
                scope.cancel()

    async def _limit(self, change: LimitChange | None) -> None:
        if change is None:
            return
        self.limiter.total_tokens = change.new
        detail = f"concurrency {change.old} -> {change.new}: {change.reason}"
        await self._log(LimitMoved(limit=change.new, detail=detail))

    async def _item(self, state: ItemState, record: RunRecord | None) -> None:
        """One prompt, through its attempts, to a final outcome."""
        run = _ItemRun(self.manifest.items[state.index - 1], record)
        try:
            attempt, tries = state.attempts + 1, state.tries
            adopting = record is not None and await self._left_running(record)
            while True:
                with anyio.CancelScope() as scope:
                    self.attempts[state.index] = scope
                    async with self.limiter:
                        outcome = await self._attempt(run, attempt, adopting)
                self.attempts.pop(state.index)
                if scope.cancelled_caught:  # the budget stopped it, or kept it from starting
                    done = "stopped" if run.record else "not started"
                    outcome = run.ended_early("cancelled", f"{done}: the budget is spent")
                tries += 1
                final = outcome.status not in RETRYABLE or tries > self.options.retries
                failed = outcome.status != "succeeded"
                ended = AttemptEnded(
                    item=state.index,
                    run_id=outcome.run_id or None,
                    attempt=attempt,
                    status=outcome.status,
                    final=final,
                    detail=_short(outcome.detail or (outcome.result if failed else None)),
                    cost_usd=outcome.cost_usd,
                )
                await self._log(ended)
                if not failed:
                    await self._limit(self.concurrency.succeeded())
                    if self.options.fetch and run.record is not None:
                        await self._fetch(state.index, run.record)
                if final:
                    return
                with anyio.move_on_after(backoff(tries, self.options.backoff, self.rng)):
                    await self.budget_spent.wait()  # no point waiting out a spent budget
                attempt, adopting = attempt + 1, False
        finally:
            self.unfinished -= 1
            if self.unfinished == 0:
                self.finished.set()

    async def _fetch(self, index: int, record: RunRecord) -> None:
        """Bring a run that succeeded home; one fetch at a time, as they share host repos."""
        async with self.fetching:
            try:
                detail = (await fetch_run(self.home, record)).note
            except ScadError as exc:
                detail = str(exc)
        await self._log(Fetched(item=index, run_id=record.run_id, detail=_short(detail)))

    async def _left_running(self, record: RunRecord) -> bool:
        """Whether a supervisor that died left this run's last container going: its
        log has no end for it (an exit, a loss, a cancel)."""
        lives = RunLives()
        async for envelope in each_event(RunPaths(self.home, record.run_id)):
            lives.feed(envelope)
        life = lives.last
        return life is not None and not life.over and record.container_id is not None

    async def _attempt(self, run: _ItemRun, attempt: int, adopting: bool) -> Outcome:
        """One attempt, holding a slot: prepared (the first time), started, supervised.
        An attempt that cannot start ends ``failed``, saying why (``crashed`` when the
        engine was away: worth another attempt)."""
        record, fresh, started = run.record, False, False
        try:
            if adopting and record is not None:
                if self.budget_spent.is_set():  # a resumed batch whose money is gone
                    with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                        await stop_run(self.engine, self.home, record, record.container_id)
                    return run.ended_early("cancelled", "stopped: the budget is spent")
                return await adopt(
                    self.engine, self.home, record, idle_timeout=self.options.idle_timeout,
                    deadline=self._deadline(),
                )  # fmt: skip
            if self.budget_spent.is_set():
                return run.ended_early("cancelled", "not started: the budget is spent")
            config = _item_config(self.config, run.item)
            if record is None:
                prepared = await prepare_session(
                    self.engine, self.home, config, tag=run.item.tag, prompt=run.item.prompt,
                    headless=True, image=self.manifest.image,
                    batch=(self.manifest.batch_id, run.item.index), named_at=self.named_at,
                )  # fmt: skip
                record, spec, fresh = prepared.record, prepared.spec, True
                run.record = record
                self.runs.add(record.run_id)
            else:
                paths = RunPaths(self.home, record.run_id)
                spec = await acontainer_spec(config, record, paths, resume=False)
                # The last attempt's container goes, once its log holds all it printed;
                # the next one gets fresh credentials and settings, as a resume does.
                await catch_up(self.engine, self.home, record)
                await remove_containers(self.engine, self.home, record)
                await renew_claude_state(config, paths)
                if attempt > 1:
                    await append_event(paths, Retried(detail=f"attempt {attempt}"))

            async def on_started(record: RunRecord) -> None:
                nonlocal started
                started = True
                await self._log(
                    AttemptStarted(item=run.item.index, run_id=record.run_id, attempt=attempt)
                )

            try:
                return await supervise(
                    self.engine, self.home, record, spec, idle_timeout=self.options.idle_timeout,
                    time_limit=self.options.timeout, gate=self._stagger, on_started=on_started,
                )  # fmt: skip
            except anyio.get_cancelled_exc_class():
                if fresh and not started:  # stopped before it started: nothing to keep
                    await discard_run(self.home, run.record_id)
                    run.record = None
                raise
        except ScadError as exc:
            if fresh:
                await discard_run(self.home, run.record_id)  # it never started: nothing to keep
                run.record = None
            if isinstance(exc, _BudgetSpent):
                return run.ended_early("cancelled", "not started: the budget is spent")
            # An engine away (restarting, say) is no fault of the prompt: worth a retry.
            away = isinstance(exc, EngineUnavailable)
            why = f"{record.run_id} could not start: {exc}" if record is not None else str(exc)
            return run.ended_early("crashed" if away else "failed", why)
        except Exception as exc:  # a bug, or the host failing it (a full disk): this item's end
            if fresh and not started:
                await discard_run(self.home, run.record_id)
                run.record = None
            where = record.run_id if record is not None else run.item.tag
            return run.ended_early("failed", f"{where}: {_described(exc)}")

    def _deadline(self) -> float | None:
        """An adopted run's time limit counts from now: when it began is the dead
        supervisor's clock."""
        timeout = self.options.timeout
        return None if timeout is None else anyio.current_time() + timeout

    async def _stagger(self) -> None:
        """Starts come no closer than ``stagger`` apart, so fifty agents do not hit
        the API in the same second (their containers are made meanwhile)."""
        if self.budget_spent.is_set():
            raise _BudgetSpent  # the budget ran out while it waited its turn
        async with self.start_lock:
            wait = self.last_start + self.options.stagger - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            self.last_start = anyio.current_time()


class _BudgetSpent(ScadError):
    """The budget ran out while an attempt waited to start (its container is removed,
    as for any run that could not start)."""


class _ItemRun:
    """An item and its run, once it has one."""

    def __init__(self, item: BatchItem, record: RunRecord | None) -> None:
        self.item = item
        self.record = record

    @property
    def record_id(self) -> str:
        return self.record.run_id if self.record else ""

    def ended_early(self, status: Status, why: str) -> Outcome:
        """The outcome of an attempt that did not run to its own end."""
        return Outcome(run_id=self.record_id, status=status, detail=why)


#: How much of what went wrong the batch's log keeps (an agent's result can be huge).
DETAIL_LIMIT = 2000


def _described(exc: BaseException) -> str:
    """An error scad did not expect, in one line: its kind and message (the first of
    a group's)."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _short(text: str | None) -> str | None:
    return text if text is None or len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"


def _item_config(config: Config, item: BatchItem) -> Config:
    """The config as one item runs it: its own model and turn limit, when it has them."""
    if item.model is None and item.max_turns is None:
        return config
    claude = msgspec.structs.replace(
        config.claude,
        model=item.model or config.claude.model,
        max_turns=item.max_turns or config.claude.max_turns,
    )
    return msgspec.structs.replace(config, claude=claude)
