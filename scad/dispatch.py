"""A batch's supervisor: each prompt of a batch as a supervised headless run.

One task group carries the whole batch. Each item waits for a slot (a
:class:`~anyio.CapacityLimiter` whose size follows :class:`~scad.fleet.Concurrency`),
starts no sooner than ``stagger`` after the previous start, and is supervised
to its end by :func:`scad.supervisor.supervise`; a run that was rate-limited,
hung or crashed is tried again after a backoff, in the same run (its clones,
its log), as long as retries remain. A monitor polls the fleet's signals: rate
limits lower the concurrency, and a spent budget stops what runs and what waits.

Everything the supervisor decides goes to the batch's event log, so it can be
killed at any point and picked up again (:func:`run_batch` on the same batch):
runs still going are adopted, queued prompts start, and nothing runs twice.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.abc import TaskStatus

from .batches import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    BatchState,
    append_batch_event,
    batch_state,
    claim_batch_dir,
    item_tags,
    load_manifest,
    read_batch_events,
    save_manifest,
    supervisor_pid,
)
from .build import BuildProgress, build_image
from .clones import check_repos
from .config import Config
from .errors import EngineUnavailable, ScadError, SessionError
from .events import append_event, read_all_events
from .fleet import Budget, Concurrency, LimitChange, backoff
from .home import Home
from .prompts import BatchPrompt
from .runlog import catch_up
from .runs import RunPaths, RunRecord, list_runs, now_iso
from .sessions.start import container_spec, discard_run, prepare_session, require_credentials
from .signals import LogSignals, SignalSource
from .specs import ContainerSpec
from .supervisor import Outcome, Status, adopt, remove_containers, supervise

if TYPE_CHECKING:
    from .specs import Engine

__all__ = ["RETRYABLE", "create_batch", "run_batch"]

#: Outcomes worth another attempt: the next may well go through.
RETRYABLE: frozenset[Status] = frozenset({"rate-limited", "hung", "crashed"})
#: How often the monitor reads the fleet's signals.
MONITOR_SECONDS = 1.0


async def create_batch(
    engine: Engine,
    home: Home,
    config: Config,
    prompts: list[BatchPrompt],
    *,
    tag: str,
    source: str,
    options: BatchOptions,
    build_progress: Callable[[BuildProgress], None] | None = None,
) -> BatchManifest:
    """Check what every run will need, build the image once, and write the manifest.
    Nothing runs yet; :func:`run_batch` runs it."""
    tags = item_tags(tag, prompts)
    await check_repos(config, f"{config.name}.yml")
    require_credentials()
    image = (await build_image(engine, config, progress=build_progress)).image
    batch_id = await anyio.to_thread.run_sync(
        claim_batch_dir, home, config.name, tag, datetime.now()
    )
    manifest = BatchManifest(
        batch_id=batch_id,
        config=config.name,
        tag=tag,
        created=now_iso(),
        image=image,
        source=source,
        options=options,
        items=[
            BatchItem(
                index=number,
                tag=item_tag,
                prompt=prompt.prompt,
                model=prompt.model,
                max_turns=prompt.max_turns,
            )
            for number, (prompt, item_tag) in enumerate(zip(prompts, tags, strict=True), start=1)
        ],
    )
    await anyio.to_thread.run_sync(save_manifest, BatchPaths(home, batch_id), manifest)
    return manifest


class _Lock:
    """The batch's supervisor lock, held for as long as this process supervises it."""

    def __init__(self, paths: BatchPaths) -> None:
        self.paths = paths
        self.fd = -1

    def __enter__(self) -> _Lock:
        self.fd = os.open(self.paths.supervisor, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            pid = supervisor_pid(self.paths)
            raise SessionError(
                f"batch {self.paths.root.name} is supervised already (pid {pid}); "
                f"watch it with `scad batch watch {self.paths.root.name}`"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)  # releases the lock


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
    manifest = load_manifest(home, batch_id)
    with _Lock(paths):
        batch = _Batch(engine, home, config, manifest, signals or LogSignals(home), rng)
        await batch.run(stop_on_signals=stop_on_signals)
    return batch_state(manifest, read_batch_events(paths))


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
        self.budget_spent = False
        #: Runs whose spend counts (every run of the batch) and those running now.
        self.runs: set[str] = set()
        self.running: dict[str, anyio.CancelScope] = {}
        self.start_lock = anyio.Lock()
        self.last_start = -float("inf")
        self.unfinished = 0
        #: The local time the batch's run ids carry: when it was made.
        self.named_at = datetime.fromisoformat(manifest.created.replace("Z", "+00:00")).astimezone()
        self.finished = anyio.Event()

    async def _event(self, event: str, **fields: object) -> None:
        await anyio.to_thread.run_sync(lambda: append_batch_event(self.paths, event, **fields))

    async def run(self, *, stop_on_signals: bool) -> None:
        events = read_batch_events(self.paths)
        state = batch_state(self.manifest, events)
        # A batch supervised before may have runs its log does not name yet (the
        # supervisor died between making a run and saying so): their records do.
        records = {}
        if any(e.event == "supervisor" for e in events):
            records = {
                r.item: r
                for r in await anyio.to_thread.run_sync(list_runs, self.home)
                if r.batch == self.manifest.batch_id and r.item is not None
            }
        await self._event("supervisor", pid=os.getpid())
        await self._event("concurrency", limit=self.limiter.total_tokens)
        pending = [item for item in state.items if not item.final]
        self.unfinished = len(pending)
        if not pending:
            self.finished.set()
        try:
            with anyio.CancelScope() as everything:
                async with anyio.create_task_group() as tg:
                    if stop_on_signals:
                        tg.start_soon(self._stop_on_signals, everything)
                    tg.start_soon(self._monitor)
                    # Runs a dead supervisor left going take their slots first.
                    for item in sorted(pending, key=lambda i: i.run_id is None):
                        record = records.get(item.index)
                        if record is not None:
                            self.runs.add(record.run_id)
                        tg.start_soon(
                            self._item, self.manifest.items[item.index - 1], record, item.attempts
                        )
                    await self.finished.wait()
                    tg.cancel_scope.cancel()  # the monitor and the signal handler
        finally:
            # Stopped (on a signal, or by the caller): every run was stopped and kept.
            with anyio.CancelScope(shield=True):
                await self._close_unfinished("the batch was stopped")
                await self._event("ended")

    async def _stop_on_signals(self, everything: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
            async for _ in received:
                await self._event("stopping", detail="stopped on request")
                everything.cancel()
                return

    async def _close_unfinished(self, why: str) -> None:
        state = batch_state(self.manifest, read_batch_events(self.paths))
        for item in state.items:
            if not item.final:
                await self._event(
                    "attempt",
                    item=item.index,
                    run_id=item.run_id,
                    attempt=item.attempts,
                    status="cancelled",
                    final=True,
                    detail=why,
                )

    async def _monitor(self) -> None:
        while True:
            await anyio.sleep(MONITOR_SECONDS)
            await self._read_signals()

    async def _read_signals(self) -> None:
        for signal_ in await self.signals.poll(sorted(self.runs)):
            self.budget.spent_by(signal_.run_id, signal_.spent_usd)
            for status in signal_.rate_limits:
                await self._limit(self.concurrency.rate_limited(anyio.current_time(), status))
        if self.budget.exhausted and not self.budget_spent:
            self.budget_spent = True
            spent = self.budget.spent
            await self._event(
                "budget",
                cost_usd=spent,
                detail=f"budget spent: ${spent:.4f} of ${self.budget.limit_usd:.2f}; stopping the runs",
            )
            for scope in self.running.values():
                scope.cancel()

    async def _limit(self, change: LimitChange | None) -> None:
        if change is None:
            return
        self.limiter.total_tokens = change.new
        await self._event(
            "concurrency",
            limit=change.new,
            detail=f"concurrency {change.old} -> {change.new}: {change.reason}",
        )

    async def _item(self, item: BatchItem, record: RunRecord | None, ended: int) -> None:
        """One prompt, through its attempts, to a final outcome."""
        run = _ItemRun(item, record)
        try:
            attempt = ended + 1
            adopting = record is not None and await self._left_running(record, ended)
            while True:
                with anyio.CancelScope() as scope:
                    async with self.limiter:
                        if self.budget_spent:
                            outcome = run.not_started(
                                "cancelled", "not started: the budget is spent"
                            )
                        else:
                            outcome = await self._attempt(run, attempt, adopting, scope)
                if scope.cancelled_caught:  # the budget stopped it
                    outcome = run.not_started("cancelled", "stopped: the budget is spent")
                final = outcome.status not in RETRYABLE or attempt > self.options.retries
                failed = outcome.status != "succeeded"
                await self._event(
                    "attempt",
                    item=item.index,
                    run_id=outcome.run_id or None,
                    attempt=attempt,
                    status=outcome.status,
                    final=final,
                    detail=outcome.detail or (outcome.result if failed else None),
                    cost_usd=outcome.cost_usd,
                )
                if not failed:
                    await self._limit(self.concurrency.succeeded())
                if final:
                    return
                await anyio.sleep(backoff(attempt, self.options.backoff, self.rng))
                attempt, adopting = attempt + 1, False
        finally:
            self.unfinished -= 1
            if self.unfinished == 0:
                self.finished.set()

    async def _left_running(self, record: RunRecord, ended: int) -> bool:
        """Whether a supervisor that died left this run's attempt going: its log
        has more starts than the batch has ends."""
        events = await read_all_events(RunPaths(self.home, record.run_id))
        starts = sum(1 for e in events if e.src == "scad" and e.event == "started")
        return starts > ended and record.container_id is not None

    async def _attempt(
        self, run: _ItemRun, attempt: int, adopting: bool, scope: anyio.CancelScope
    ) -> Outcome:
        """One attempt, holding a slot: prepared (the first time), started, supervised.
        An attempt that cannot start ends ``failed``, saying why."""
        record, fresh = run.record, False
        try:
            if adopting and record is not None:
                self.running[record.run_id] = scope
                return await adopt(
                    self.engine, self.home, record, idle_timeout=self.options.idle_timeout,
                    deadline=self._deadline(),
                )  # fmt: skip
            config = _item_config(self.config, run.item)
            if record is None:
                prepared = await prepare_session(
                    self.engine, self.home, config, tag=run.item.tag, prompt=run.item.prompt,
                    headless=True, image=self.manifest.image,
                    batch=(self.manifest.batch_id, run.item.index), named_at=self.named_at,
                )  # fmt: skip
                record, spec, fresh = prepared.record, prepared.spec, True
                run.record = record
            else:
                paths = RunPaths(self.home, record.run_id)
                spec = container_spec(config, record, paths, resume=False)
                # The last attempt's container goes, once its log holds all it printed.
                await catch_up(self.engine, self.home, record)
                await remove_containers(self.engine, record)
                if attempt > 1:
                    await append_event(paths, "retry", detail=f"attempt {attempt}")
            self.runs.add(record.run_id)
            self.running[record.run_id] = scope
            await self._stagger()  # after preparing, so that the starts themselves are spaced
            return await self._supervise(run.item, record, spec, attempt)
        except ScadError as exc:
            if fresh:
                await discard_run(self.home, run.record_id)  # it never started: nothing to keep
                run.record = None
            # An engine away (restarting, say) is no fault of the prompt: worth a retry.
            status: Status = "crashed" if isinstance(exc, EngineUnavailable) else "failed"
            return run.not_started(status, str(exc))
        finally:
            if record is not None:
                self.running.pop(record.run_id, None)

    async def _supervise(
        self, item: BatchItem, record: RunRecord, spec: ContainerSpec, attempt: int
    ) -> Outcome:
        batch = self

        class Started(TaskStatus[RunRecord]):
            def started(self, value: RunRecord | None = None) -> None:
                append_batch_event(
                    batch.paths, "started", item=item.index, run_id=record.run_id, attempt=attempt
                )

        return await supervise(
            self.engine, self.home, record, spec, idle_timeout=self.options.idle_timeout,
            time_limit=self.options.timeout, task_status=Started(),
        )  # fmt: skip

    def _deadline(self) -> float | None:
        """An adopted run's time limit counts from now: when it began is the dead
        supervisor's clock."""
        timeout = self.options.timeout
        return None if timeout is None else anyio.current_time() + timeout

    async def _stagger(self) -> None:
        """Starts come no closer than ``stagger`` apart, so fifty agents do not hit
        the API in the same second."""
        async with self.start_lock:
            wait = self.last_start + self.options.stagger - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            self.last_start = anyio.current_time()


class _ItemRun:
    """An item and its run, once it has one."""

    def __init__(self, item: BatchItem, record: RunRecord | None) -> None:
        self.item = item
        self.record = record

    @property
    def record_id(self) -> str:
        return self.record.run_id if self.record else ""

    def not_started(self, status: Status, why: str) -> Outcome:
        """The outcome of an attempt that did not run to its end."""
        return Outcome(run_id=self.record_id, status=status, detail=why)


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
