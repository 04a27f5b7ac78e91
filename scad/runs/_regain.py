"""A run followed through the engine's log, not its attached output: one a supervisor
adopts (another, killed, started it), or one whose engine failed while it was
watched, regained once the engine answers again. Its outcome is then read back
from its log (:func:`scad.runs.readback.logged_outcome`)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio

from ..errors import ScadError
from ..home import Home
from ..taskgroups import open_task_group
from .catchup import follow_engine
from .containers import STOP_GRACE
from .events import mark_lost, position
from .outcomes import Outcome, Watch
from .readback import logged_outcome
from .records import RunPaths, RunRecord

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["follow_to_end", "regain"]

#: How long a supervisor that lost the engine mid-run waits for it to answer again
#: (an engine restart with live-restore takes seconds), and its pauses between asking.
REGAIN_SECONDS = 300.0
REGAIN_PAUSES = (0.5, 10.0)


async def follow_to_end(
    engine: Engine,
    home: Home,
    record: RunRecord,
    container_id: str,
    watch: Watch,
    idle_timeout: float | None,
    deadline: float | None,
) -> None:
    """The container's output through the engine's log into the run's, to its end,
    under the watchdogs."""
    paths = RunPaths(home, record.run_id)
    async with open_task_group() as tg:
        tg.start_soon(_log_watchdog, engine, paths, container_id, watch, idle_timeout, deadline)
        await follow_engine(engine, home, record, supervisor=True)
        tg.cancel_scope.cancel()


async def regain(
    engine: Engine,
    home: Home,
    record: RunRecord,
    container_id: str,
    error: ScadError,
    watched: Watch,
    idle_timeout: float | None,
    deadline: float | None,
) -> Outcome:
    """The engine failed while the run was watched, and its container may live on (a
    dropped connection, an engine restarted with live-restore). Once the engine
    answers again (asked with growing pauses, for up to :data:`REGAIN_SECONDS`),
    the container is followed through the engine's log to its end and the outcome
    is its real exit; one gone meanwhile is ``crashed`` (``lost`` in its log).

    An engine that never answers leaves the container's fate unknown: it is stopped
    if the engine lets it (then ``crashed``: it is gone, and may be tried again),
    else the run ends ``unknown``, which nobody tries again beside a container that
    may still be running.
    """
    paths = RunPaths(home, record.run_id)
    until = anyio.current_time() + REGAIN_SECONDS
    pause, longest = REGAIN_PAUSES
    while anyio.current_time() + pause < until:
        await anyio.sleep(pause)
        pause = min(2 * pause, longest)
        # What was seen live is read back from the log, with its watchdogs' verdict.
        watch = Watch()
        watch.started, watch.stop = True, watched.stop
        try:
            state = await engine.inspect(container_id)
            if state is not None and state.status == "created":  # the start never reached it
                await engine.remove(container_id, force=True)
                await mark_lost(paths, container_id, "its start never reached the engine")
                detail = f"{record.run_id}: {error}; its container never started"
                return Outcome(
                    run_id=record.run_id,
                    outcome="crashed",
                    container_id=container_id,
                    detail=detail,
                )
            if watch.stop is not None:  # its stop may never have reached the engine
                await engine.stop(container_id, grace=STOP_GRACE)
            await follow_to_end(engine, home, record, container_id, watch, idle_timeout, deadline)
        except ScadError as exc:
            error = exc
            continue
        return await logged_outcome(paths, record.run_id, container_id, watch)
    try:
        with anyio.fail_after(STOP_GRACE + 30):
            await engine.stop(container_id, grace=STOP_GRACE)
    except (ScadError, TimeoutError):
        detail = f"{record.run_id}: {error}; whether its container {container_id[:12]} still runs is unknown"
        return Outcome(
            run_id=record.run_id, outcome="unknown", container_id=container_id, detail=detail
        )
    # Stopped: what it printed stays in the engine's log, for a catch-up.
    detail = f"{record.run_id}: {error}; its container was stopped"
    return Outcome(
        run_id=record.run_id, outcome="crashed", container_id=container_id, detail=detail
    )


async def _log_watchdog(
    engine: Engine,
    paths: RunPaths,
    container_id: str,
    watch: Watch,
    idle_timeout: float | None,
    deadline: float | None,
) -> None:
    """The watchdogs of a run followed through the engine's log: quiet is measured
    by the lines reaching the event log."""
    seen, since = -1, anyio.current_time()
    while (wait := watch.wait_for(idle_timeout, deadline)) is not None:
        await anyio.sleep(min(wait, 1.0))
        where = await position(paths, container_id)
        now = anyio.current_time()
        if where.next_line != seen:
            seen, since = where.next_line, now
        quiet = idle_timeout is not None and now - since >= idle_timeout
        if quiet or (deadline is not None and now >= deadline):
            watch.expire(deadline)
            with contextlib.suppress(ScadError):  # the follower sees what became of it
                await engine.stop(container_id, grace=STOP_GRACE)
