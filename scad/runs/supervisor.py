"""The run supervisor: the one path by which scad runs a container and watches it.

:func:`supervise` creates a run's container, attaches to its output *before*
starting it (so nothing it prints is missed, whatever the engine keeps), starts
it, reports "started" through ``task_status``, streams its stdout into the event
log line by line as it comes, waits for the exit and returns a typed
:class:`Outcome`. A task group may call it for many runs at once: once started,
a run's failure is its outcome, never an exception that cancels its siblings (a
run that cannot start raises, for its caller to report), and a cancelled run is
stopped, caught up and removed in a shielded, bounded way. While it runs, the
run is marked as supervised, so catch-ups elsewhere leave its log to it.

:func:`launch` is the unwatched start (interactive sessions, and headless ones
nobody waits for): the same creation, and the log is caught up from the engine
later. Either way the container carries its run's label, so a container whose id
never reached ``run.json`` (scad killed in between) is still found by its run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.abc import TaskStatus

from ..engine import ContainerExit, ContainerSpec, OutputStream, labels
from ..errors import EngineError, EngineUnavailable, ScadError, SessionError
from ..home import Home
from ..names import home_key
from ..taskgroups import open_task_group
from .catchup import catch_up, follow_engine
from .containers import remove_containers
from .envelopes import Cancelled, ClaudeLine, Exited, Resumed, Started
from .events import LogLine, append_event, ingest, mark_lost, position, supervising
from .fence import fence_container, fenced
from .gate import StartGate
from .gatewaylog import BudgetRefused, refused_by_budget
from .lives import RunLives, refused_payment
from .logread import each_event
from .outcomes import Outcome, Status, Watch, exit_event, outcome_of
from .records import RunPaths, RunRecord, save_run

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["Outcome", "Status", "adopt", "budget_refusal", "launch", "stop_run", "supervise"]

#: Seconds a container gets to stop before it is killed.
STOP_GRACE = 10
#: Bound on the shielded clean-up of a cancelled run: longer than a stop may take.
CLEANUP_SECONDS = STOP_GRACE + 90
#: How long a supervisor that lost the engine mid-run waits for it to answer again
#: (an engine restart with live-restore takes seconds), and its pauses between asking.
REGAIN_SECONDS = 300.0
REGAIN_PAUSES = (0.5, 10.0)


#: How long a run that says the API refused it with 402 waits for the gateway's word.
REFUSAL_WAIT = 2.0


async def _create(engine: Engine, home: Home, record: RunRecord, spec: ContainerSpec) -> str:
    # Shielded (each engine call is bounded): the engine carries out a create it was
    # sent, however the caller fares, so a Ctrl-C waits for the container's id and the
    # roll-back removes it, instead of leaving a container no run knows.
    with anyio.CancelScope(shield=True):
        try:
            container_id = await engine.create_container(spec)
        except EngineError as exc:
            if exc.status != 409:
                raise
            container_id = await _create_beside(engine, home, record, spec)
    record.container_id = container_id
    try:
        await anyio.to_thread.run_sync(save_run, home, record)
    except BaseException:  # the record does not name it: it goes now, never started
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(30),
            contextlib.suppress(ScadError),
        ):
            await engine.remove(container_id, force=True)
        raise
    return container_id


async def _create_beside(engine: Engine, home: Home, record: RunRecord, spec: ContainerSpec) -> str:
    """The run's container, when a container already holds its name. One of this
    home's that never started (scad was stopped between making and starting it) is
    removed and the name taken; one of this home's that ran is refused (a second
    agent never starts beside it); another home's run of the same id keeps it, and
    this home's key in the name sets the two apart."""
    here = labels.home_label(home)
    for holder in await engine.containers({labels.RUN: record.run_id}):
        if holder.name == spec.name and labels.made_by(holder.labels, here):
            if holder.status != "created":  # it ran: never a second agent beside it
                raise SessionError(
                    f"{record.run_id}'s earlier container {holder.id[:12]} is still there "
                    f"({holder.status}); see it with `scad session info {record.run_id}`"
                )
            await engine.remove(holder.id, force=True)
            return await engine.create_container(spec)
    key = home_key(here)
    return await engine.create_container(msgspec.structs.replace(spec, name=f"{spec.name}-{key}"))


async def _start(
    engine: Engine, container_id: str, container_labels: Mapping[str, str], image: str
) -> None:
    """Start a run's container, and fence it when it is a fenced run's (its entrypoint
    waits for that before Claude starts)."""
    await engine.start(container_id)
    if fenced(container_labels):
        await fence_container(engine, container_id, image)


#: How the log names a start: a run's first container, or a session's resumed one.
Start = type[Started] | type[Resumed]


async def launch(
    engine: Engine, home: Home, record: RunRecord, spec: ContainerSpec, *, event: Start = Started
) -> str:
    """Create and start the run's container without watching it; returns its id."""
    container_id = await _create(engine, home, record, spec)
    try:
        # Before it prints anything: a catch-up landing right after the start
        # must find where the container's line count begins.
        await append_event(RunPaths(home, record.run_id), event(cid=container_id))
        await _start(engine, container_id, spec.labels, spec.image)
    except BaseException:
        with anyio.move_on_after(30, shield=True):
            await engine.remove(container_id, force=True)
        raise
    return container_id


async def supervise(
    engine: Engine,
    home: Home,
    record: RunRecord,
    spec: ContainerSpec,
    *,
    event: Start = Started,
    idle_timeout: float | None = None,
    time_limit: float | None = None,
    gate: StartGate | None = None,
    task_status: TaskStatus[RunRecord] = anyio.TASK_STATUS_IGNORED,
) -> Outcome:
    """Run ``record``'s container from creation to exit, streaming its output into the log;
    reports the record (its container id set) once the container started.

    ``event`` is the start's kind in the log (:class:`Started`, or :class:`Resumed`). With
    ``idle_timeout``, a run that prints nothing for that long is stopped and
    ends as ``hung``; with ``time_limit`` (seconds), one that runs longer than
    that in all is stopped and ends as ``timed-out``. ``gate`` holds the run
    between creating the container and starting it (a batch spaces its starts,
    not its creations), and hears that it started (a batch logs it).

    A run that cannot start raises the ScadError that kept it from starting (its
    container removed, its end logged; the caller names the run). Once started,
    an engine that fails is waited for and the run followed to its real end (see
    :func:`_regain`); only cancellation (or a bug) propagates, after the run is
    stopped, caught up and removed.
    """
    paths = RunPaths(home, record.run_id)
    watch = Watch()
    container_id: str | None = None
    deadline: float | None = None
    start_sent = False
    async with supervising(paths), _never_left_running(engine, home, record, lambda: container_id):
        try:
            container_id = await _create(engine, home, record, spec)
            # Before the container prints anything: its line count starts here.
            await append_event(paths, event(cid=container_id))
            async with engine.attach(container_id) as output:
                if gate is not None:
                    await gate.passed()
                start_sent = True
                await _start(engine, container_id, spec.labels, spec.image)
                task_status.started(record)
                if gate is not None:
                    gate.started.set()
                deadline = None if time_limit is None else anyio.current_time() + time_limit
                await _stream(engine, paths, container_id, output, watch, idle_timeout, deadline)
            exit = await engine.wait(container_id)
            await _ingest(
                paths, container_id, watch, watch.stdout.finish(), exit_event(exit, watch)
            )
        except ScadError as exc:
            # An engine that did not answer a start may have carried it out: such a
            # run is regained like one that started, never taken for one that did not.
            maybe_started = start_sent and isinstance(exc, EngineUnavailable)
            if not (watch.started or maybe_started):
                # Only the container this start made goes (an earlier one of the run
                # may hold output); a failing removal never hides why it could not start.
                if container_id is not None:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                        with contextlib.suppress(ScadError):
                            await engine.remove(container_id, force=True)
                        # Its start is logged: so is its end.
                        await mark_lost(paths, container_id, f"it could not start: {exc}")
                raise  # as it came: the caller names the run
            assert container_id is not None
            return await _regain(
                engine, home, record, container_id, exc, watch, idle_timeout, deadline
            )
    return outcome_of(
        record.run_id, container_id, exit, watch, await budget_refusal(paths, watch),
        stopped=await stopped_by_user(paths),
    )  # fmt: skip


async def adopt(
    engine: Engine,
    home: Home,
    record: RunRecord,
    *,
    idle_timeout: float | None = None,
    deadline: float | None = None,
) -> Outcome:
    """Supervise a run whose container another supervisor started and lost (it was
    killed): its log is caught up from the engine, then followed live to the exit,
    under the same watchdogs (``deadline`` on the :func:`anyio.current_time` clock).
    Cancellation stops, catches up and removes it, as :func:`supervise` does."""
    paths = RunPaths(home, record.run_id)
    container_id = record.container_id
    if container_id is None:
        raise SessionError(f"{record.run_id} has no container to adopt")
    watch = Watch()
    async with supervising(paths), _never_left_running(engine, home, record, lambda: container_id):
        try:
            state = await engine.inspect(container_id)
            if state is not None and state.status == "created":
                # Its supervisor died before starting it.
                await _start(engine, container_id, state.labels, state.image_id)
            watch.started = True
            await _follow(engine, home, record, container_id, watch, idle_timeout, deadline)
        except ScadError as exc:
            return await _regain(
                engine, home, record, container_id, exc, watch, idle_timeout, deadline
            )
    return await _logged_outcome(paths, record.run_id, container_id, watch)


@contextlib.asynccontextmanager
async def _never_left_running(
    engine: Engine, home: Home, record: RunRecord, container: Callable[[], str | None]
) -> AsyncIterator[None]:
    """Around a run watched to its end: cancelled, or failed by a bug, it is stopped,
    caught up and removed (shielded, bounded), so nothing runs on unwatched. A scad
    error passes through: the run could not start, and its clean-up is done."""
    try:
        yield
    except ScadError:
        raise
    except BaseException:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
            await stop_run(engine, home, record, container())
        raise


async def _follow(
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


async def _regain(
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
            await _follow(engine, home, record, container_id, watch, idle_timeout, deadline)
        except ScadError as exc:
            error = exc
            continue
        return await _logged_outcome(paths, record.run_id, container_id, watch)
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


async def _logged_outcome(paths: RunPaths, run_id: str, container_id: str, watch: Watch) -> Outcome:
    """The outcome of a container's life as its event log tells it."""
    cid = container_id[:12]
    lives = RunLives()
    life = None
    async for envelope in each_event(paths):
        about = lives.feed(envelope)
        if about is None or about.cid != cid:
            continue
        life = about
        if isinstance(envelope, ClaudeLine):
            watch.saw_envelope(envelope)
    exit = life.exit if life is not None else None
    lost = life.lost if life is not None else None
    if exit is None or lost is not None:
        detail = lost.detail if lost else "the container ended with no exit in its log"
        return Outcome(run_id=run_id, outcome="crashed", container_id=container_id, detail=detail)
    if exit.stderr:
        watch.stderr.extend(exit.stderr.splitlines())
    watch.stop = watch.stop or exit.stop
    return outcome_of(
        run_id, container_id, ContainerExit(exit_code=exit.exit_code, oom=exit.oom), watch,
        await budget_refusal(paths, watch), stopped=life is not None and life.stopped,
    )  # fmt: skip


async def stopped_by_user(paths: RunPaths) -> bool:
    """Whether ``session stop`` stopped the run's last container (its ``stopped``
    comes after the container's start)."""
    lives = RunLives()
    async for envelope in each_event(paths):
        lives.feed(envelope)
    return lives.stopped


async def budget_refusal(paths: RunPaths, watch: Watch) -> BudgetRefused | None:
    """The gateway's refusal of the run for its budget, when its result says 402 (the
    gateway writes its events a moment after it answers: they are given that moment)."""
    if not refused_payment(watch.result):
        return None
    with anyio.move_on_after(REFUSAL_WAIT):
        while True:
            refusal = await anyio.to_thread.run_sync(refused_by_budget, paths.gateway_events)
            if refusal is not None:
                return refusal
            await anyio.sleep(0.05)
    return None


async def _stream(
    engine: Engine,
    paths: RunPaths,
    container_id: str,
    output: OutputStream,
    watch: Watch,
    idle_timeout: float | None,
    deadline: float | None,
) -> None:
    """The container's output into the log, as it comes, until it ends."""
    watch.started = True
    while True:
        with anyio.move_on_after(watch.wait_for(idle_timeout, deadline)) as waited:
            chunk = await output.read()
        if waited.cancelled_caught:
            watch.expire(deadline)
            await engine.stop(container_id, grace=STOP_GRACE)
            continue  # the stream ends once the container has stopped
        if chunk is None:
            return
        if chunk.stream == 2:
            text = chunk.data.decode(errors="replace")
            watch.stderr.extend(line for line in text.splitlines() if line.strip())
        elif lines := watch.stdout.feed(chunk.data):
            await _ingest(paths, container_id, watch, lines)


async def _ingest(
    paths: RunPaths,
    container_id: str,
    watch: Watch,
    lines: list[LogLine],
    exit: Exited | None = None,
) -> None:
    await ingest(paths, container_id, watch.next_line, lines, exit=exit)
    watch.next_line += len(lines)
    for line in lines:
        watch.saw(line.data)


async def stop_run(engine: Engine, home: Home, record: RunRecord, container_id: str | None) -> None:
    """Stop a cancelled run, keep what it printed, and leave no container behind:
    each step is tried whatever became of the one before."""
    paths = RunPaths(home, record.run_id)
    try:
        if container_id is not None:
            with contextlib.suppress(ScadError):
                await engine.stop(container_id, grace=STOP_GRACE)
            with contextlib.suppress(ScadError):
                # What the stream had not handed over yet is in the engine's log.
                await catch_up(engine, home, record, supervisor=True)
        await append_event(paths, Cancelled(cid=container_id))
    finally:
        with contextlib.suppress(ScadError):
            await remove_containers(engine, home, record)
