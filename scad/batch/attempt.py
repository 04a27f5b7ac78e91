"""One attempt of a batch's item: its run made (the first time) or made ready to
start again, started past the scheduler's gate and supervised to its end, or a
run a dead supervisor left going adopted. An attempt that cannot start ends
``failed`` (``crashed`` when the engine was away), never raises."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..checks.report import CheckReport
from ..checks.run import check_run
from ..code.fetch import fetch_run
from ..config.schema import Config
from ..errors import EngineUnavailable, ScadError
from ..gateway import limit_run
from ..home import Home
from ..runs.envelopes import Retried
from ..runs.events import append_event
from ..runs.gate import StartGate, StartRefused
from ..runs.lives import RunLives
from ..runs.logread import each_event
from ..runs.records import RunPaths, RunRecord
from ..runs.supervisor import CLEANUP_SECONDS, Outcome, Status, adopt, stop_run, supervise
from ..sessions.remote import swarm_manager
from ..sessions.restart import prepare_restart
from ..sessions.start import Prepared, discard_run, prepare_session
from ..swarm import supervise_on_swarm
from .store import BatchItem, BatchManifest
from .verdict import BUDGET_NOT_STARTED, BUDGET_STOPPED

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["Attempts", "ItemRun"]


class ItemRun:
    """An item and its run, once it has one."""

    def __init__(self, item: BatchItem, record: RunRecord | None) -> None:
        self.item = item
        self.record = record
        #: The prompt of its next attempt: the item's, or a fix attempt's.
        self.prompt = item.prompt
        #: Why its next attempt follows the last (a retry, a fix attempt), for its log.
        self.again: str | None = None
        #: When its attempt going now began, on the scheduler's clock.
        self.began: float | None = None

    @property
    def record_id(self) -> str:
        return self.record.run_id if self.record else ""

    def ended_early(self, status: Status, why: str) -> Outcome:
        """The outcome of an attempt that did not run to its own end."""
        return Outcome(run_id=self.record_id, outcome=status, detail=why)


class Attempts:
    """The attempts of one batch's items, against one engine and home."""

    def __init__(
        self,
        engine: Engine,
        home: Home,
        config: Config,
        manifest: BatchManifest,
        named_at: datetime,
    ) -> None:
        self.engine = engine
        self.home = home
        self.config = config
        self.manifest = manifest
        self.options = manifest.options
        #: The local time the batch's run ids carry: when it was made.
        self.named_at = named_at
        self.fetching = anyio.Lock()
        self.checking = bool(config.checks)

    async def left_running(self, record: RunRecord) -> bool:
        """Whether a supervisor that died left this run's last container going: its
        log has no end for it (an exit, a loss, a cancel)."""
        lives = RunLives()
        async for envelope in each_event(RunPaths(self.home, record.run_id)):
            lives.feed(envelope)
        life = lives.last
        return life is not None and not life.over and record.container_id is not None

    async def stop(self, run: ItemRun) -> Outcome:
        """Stop a run a dead supervisor left going, once the budget is spent."""
        assert run.record is not None
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
            await stop_run(self.engine, self.home, run.record, run.record.container_id)
        return run.ended_early("cancelled", BUDGET_STOPPED)

    async def adopt(self, run: ItemRun) -> Outcome:
        """Follow a run a dead supervisor left going to its end."""
        assert run.record is not None
        try:
            return await adopt(
                self.engine, self.home, run.record, idle_timeout=self.options.idle_timeout,
                deadline=self._deadline(),
            )  # fmt: skip
        except ScadError as exc:
            return _could_not_start(run, run.record_id, exc)
        except Exception as exc:  # a bug, or the host failing it (a full disk)
            return run.ended_early("failed", f"{run.record_id}: {_described(exc)}")

    async def start(self, run: ItemRun, attempt: int, gate: StartGate) -> Outcome:
        """Attempt ``attempt``: the run made or made ready again, held at ``gate``
        between its container's creation and its start, and supervised to its end."""
        fresh = run.record is None
        try:
            prepared = await self._prepare(run)  # a run it makes is rolled back if it fails
        except ScadError as exc:
            return _could_not_start(run, run.record_id, exc)
        except Exception as exc:  # a bug, or the host failing it (a full disk)
            return run.ended_early("failed", f"{run.record_id or run.item.tag}: {_described(exc)}")
        run_id = prepared.record.run_id
        try:
            await self._limit(run_id)  # before its container starts: no request goes unlimited
            if prepared.swarm is not None:
                return await supervise_on_swarm(
                    swarm_manager(self.engine, self.config), self.home, prepared.record,
                    prepared.swarm.service, prepared.swarm.token,
                    idle_timeout=self.options.idle_timeout, time_limit=self.options.timeout,
                    gate=gate,
                )  # fmt: skip
            return await supervise(
                self.engine, self.home, prepared.record, prepared.spec, event=prepared.event,
                idle_timeout=self.options.idle_timeout, time_limit=self.options.timeout,
                gate=gate,
            )  # fmt: skip
        except anyio.get_cancelled_exc_class():
            if fresh and not gate.started.is_set():  # stopped before it started
                await self._discard(run)
            raise
        except ScadError as exc:
            if fresh:
                await self._discard(run)  # it never started: nothing to keep
            if isinstance(exc, StartRefused):
                return run.ended_early("cancelled", BUDGET_NOT_STARTED)
            return _could_not_start(run, run_id, exc)
        except Exception as exc:  # a bug, or the host failing it: this item's end
            if fresh and not gate.started.is_set():
                await self._discard(run)
            return run.ended_early("failed", f"{run_id}: {_described(exc)}")

    async def _prepare(self, run: ItemRun) -> Prepared:
        """The run made, the first time; else made ready to start again."""
        config = _item_config(self.config, run.item)
        if run.record is not None:
            prepared = await prepare_restart(
                self.engine, self.home, config, run.record, prompt=run.prompt, resume=False
            )
            if run.again:  # after what its last container printed, before it starts again
                await append_event(
                    RunPaths(self.home, run.record.run_id), Retried(detail=run.again)
                )
            return prepared
        prepared = await prepare_session(
            self.engine, self.home, config, tag=run.item.tag, prompt=run.prompt,
            headless=True, image=self.manifest.image,
            batch=(self.manifest.batch_id, run.item.index), named_at=self.named_at,
        )  # fmt: skip
        run.record = prepared.record
        return prepared

    async def _limit(self, run_id: str) -> None:
        """The run's budget and its batch's, where the gateway enforces them."""
        await anyio.to_thread.run_sync(
            partial(
                limit_run, self.home, run_id, max_usd=self.options.max_usd_per_run,
                batch=self.manifest.batch_id, batch_max_usd=self.options.budget_usd,
            )
        )  # fmt: skip

    async def _discard(self, run: ItemRun) -> None:
        await discard_run(self.home, run.record_id)
        run.record = None

    async def check(self, record: RunRecord, *, time_limit: float | None) -> CheckReport | None:
        """The config's checks, run on what the run committed, in ``time_limit`` (each
        check's verdict goes to its log); None: it committed nothing."""
        return await check_run(self.engine, self.home, self.config, record, time_limit=time_limit)

    async def fetch(self, record: RunRecord, judged: dict[str, str] | None = None) -> str:
        """Bring a run that succeeded home (one fetch at a time, as they share host
        repos), only what its checks judged when they did; says what became of it."""
        async with self.fetching:
            try:
                return (await fetch_run(self.home, record, judged=judged)).note
            except ScadError as exc:
                return str(exc)

    def _deadline(self) -> float | None:
        """An adopted run's time limit counts from now: when it began is the dead
        supervisor's clock."""
        timeout = self.options.timeout
        return None if timeout is None else anyio.current_time() + timeout


def _could_not_start(run: ItemRun, run_id: str, exc: ScadError) -> Outcome:
    # An engine away (restarting, say) is no fault of the prompt: worth a retry.
    away = isinstance(exc, EngineUnavailable)
    why = f"{run_id} could not start: {exc}" if run_id else str(exc)
    return run.ended_early("crashed" if away else "failed", why)


def _described(exc: BaseException) -> str:
    """An error scad did not expect, in one line: its kind and message (the first of
    a group's)."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


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
