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

from ..engine import ContainerSpec, OutputStream, labels
from ..errors import EngineError, EngineUnavailable, ScadError, SessionError
from ..home import Home
from ..names import home_key
from ._regain import follow_to_end, regain
from .catchup import catch_up, stderr_lines
from .containers import STOP_GRACE, remove_containers
from .envelopes import Cancelled, Exited, Resumed, Started
from .events import LogLine, append_event, ingest, mark_lost, supervising
from .fence import fence_container, fenced
from .gate import StartGate
from .outcomes import Outcome, Status, Watch, exit_event, outcome_of
from .readback import budget_refusal, logged_outcome, stopped_by_user
from .records import RunPaths, RunRecord, save_run

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "CLEANUP_SECONDS",
    "Outcome",
    "Status",
    "adopt",
    "launch",
    "stop_run",
    "supervise",
]

#: Bound on the shielded clean-up of a cancelled run: longer than a stop may take.
CLEANUP_SECONDS = STOP_GRACE + 90


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
    :func:`._regain.regain`); only cancellation (or a bug) propagates, after the run is
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
            return await regain(
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
            await follow_to_end(engine, home, record, container_id, watch, idle_timeout, deadline)
        except ScadError as exc:
            return await regain(
                engine, home, record, container_id, exc, watch, idle_timeout, deadline
            )
    return await logged_outcome(paths, record.run_id, container_id, watch)


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
            watch.stderr.extend(stderr_lines(chunk.data.decode(errors="replace")))
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
