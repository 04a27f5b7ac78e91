"""A batch's supervisor process at work: the batch taken (one supervisor at a time),
its items handed to the :class:`~scad.batch.scheduler.Scheduler`, and its end
logged however it ends.

Everything the supervisor decides goes to the batch's event log, so it can be
killed at any point and picked up again (:func:`run_batch` on the same batch):
runs still going are adopted, queued prompts start, and nothing runs twice.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from ..config.schema import Config
from ..config.swarm import placed
from ..home import Home
from ..interrupts import STOP_SIGNALS, open_signal_receiver
from ..notify.deliver import deliver as deliver_notice
from ..notify.notifier import Deliver, Notifier
from ..runs.envelopes import Created
from ..runs.logread import read_events
from ..runs.records import RunPaths, RunRecord, list_runs, parse_iso
from ..runs.supervisor import CLEANUP_SECONDS
from ..sessions.start import discard_run
from ..taskgroups import open_task_group
from .attempt import Attempts
from .events import AttemptEnded, BatchEvent, Ended, Stopping, SupervisorTook
from .notices import BatchNotices
from .scheduler import MONITOR_SECONDS, AnyioClock, Clock, Scheduler
from .scheduler import Attempts as AttemptSource
from .signals import GatewaySignals, SignalSource
from .state import BatchState, batch_state, close_unfinished
from .store import (
    BatchManifest,
    BatchPaths,
    SupervisorLock,
    aload_manifest,
    append_batch_event,
    aread_batch_events,
)

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["run_batch"]


async def run_batch(
    engine: Engine,
    home: Home,
    config: Config,
    batch_id: str,
    *,
    signals: SignalSource | None = None,
    stop_on_signals: bool = True,
    rng: random.Random | None = None,
    clock: Clock | None = None,
    monitor_period: float = MONITOR_SECONDS,
    deliver: Deliver = deliver_notice,
    attempts: AttemptSource | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> BatchState:
    """Supervise batch ``batch_id`` until every item has ended: started afresh, or
    picked up where a supervisor that died left it. SIGTERM and SIGINT stop it
    (runs stopped and kept as ``cancelled``). Returns where the batch ended; started
    (``task_status``) once it holds the batch, so views that follow it see it held.

    Its notices (:mod:`~scad.batch.notices`) go to ``--notify``'s notifiers, else the
    config's; returning waits for their deliveries, each bounded by ``notify.timeout``,
    after the batch's log says it ended. Its runs go where the batch was made to run
    them (``--on``), whatever the config says now. Its attempts run on ``engine``
    unless ``attempts`` stands in for them (a simulation of the batch)."""
    paths = BatchPaths(home, batch_id)
    manifest = await aload_manifest(home, batch_id)
    config = placed(config, manifest.options.runs_on)
    settings = manifest.options.notify or config.notify

    async def append(event: BatchEvent) -> None:
        await anyio.to_thread.run_sync(append_batch_event, paths, event)

    async def report(*args: Any) -> None:
        await notices.report(*args)

    async with SupervisorLock(paths), Notifier(settings, report, deliver=deliver) as notifier:
        notices = BatchNotices(manifest, notifier, append)

        async def log(event: BatchEvent) -> None:
            await append(event)
            if isinstance(event, AttemptEnded):
                await notices.attempt_ended(event)

        named_at = parse_iso(manifest.created).astimezone()
        scheduler = Scheduler(
            manifest, attempts or Attempts(engine, home, config, manifest, named_at),
            signals or GatewaySignals(home), log, clock=clock or AnyioClock(),
            monitor_period=monitor_period, rng=rng,
        )  # fmt: skip
        task_status.started()
        await _supervise(
            home, manifest, paths, scheduler, log, notices, stop_on_signals=stop_on_signals
        )
    return batch_state(manifest, await aread_batch_events(paths))


#: How much of a run's log :func:`_was_made` reads: its first line, not the whole log.
_FIRST_LINE = 4096


async def _was_made(home: Home, record: RunRecord) -> bool:
    """Whether making the run ended: its log begins with ``created``, the last step of
    making one (a supervisor killed before it leaves a run that never held a
    container, its clones half made)."""
    envelopes, _ = await read_events(RunPaths(home, record.run_id), limit=_FIRST_LINE)
    return bool(envelopes) and isinstance(envelopes[0], Created)


async def _supervise(
    home: Home,
    manifest: BatchManifest,
    paths: BatchPaths,
    scheduler: Scheduler,
    log: Callable[[BatchEvent], Awaitable[None]],
    notices: BatchNotices,
    *,
    stop_on_signals: bool,
) -> None:
    events = await aread_batch_events(paths)
    state = batch_state(manifest, events)
    # A batch supervised before may have runs its log does not name yet (the
    # supervisor died between making a run and saying so): their records do.
    records: dict[int, RunRecord] = {}
    if any(isinstance(e, SupervisorTook) for e in events):
        records = {
            r.item: r
            for r in await anyio.to_thread.run_sync(list_runs, home)
            if r.batch_id == manifest.batch_id and r.item is not None
        }
        for item, record in list(records.items()):
            if not await _was_made(home, record):  # it died making it: nothing ran in it
                await discard_run(home, record.run_id)
                del records[item]
    await log(SupervisorTook(pid=os.getpid()))
    await notices.catch_up(events)
    pending = [item for item in state.items if not item.final]
    why = "the batch was stopped"
    everything = anyio.CancelScope()
    # The signal handler outlives the runs: a second SIGTERM during the clean-up
    # must not kill the supervisor halfway.
    async with open_task_group() as guard:
        if stop_on_signals:  # up before a run starts: each signal is the batch's
            await guard.start(_stop_on_signals, everything, log)
        try:
            with everything:
                await scheduler.run(pending, records, state.run_ids)
        except Exception as exc:
            why = f"the batch's supervisor failed: {exc}"
            raise
        finally:
            # Stopped (on a signal, by the caller, or by a bug): every run was
            # stopped and kept; the batch says so, and that it ended.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                await anyio.to_thread.run_sync(close_unfinished, paths, manifest, why)
                await log(Ended())
                await notices.batch_ended(batch_state(manifest, await aread_batch_events(paths)))
        guard.cancel_scope.cancel()


async def _stop_on_signals(
    everything: anyio.CancelScope,
    log: Callable[[BatchEvent], Awaitable[None]],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with open_signal_receiver(*STOP_SIGNALS) as received:
        task_status.started()
        async for _ in received:
            if not everything.cancel_called:
                await log(Stopping(detail="stopped on request"))
                everything.cancel()
