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
from collections import deque
from typing import TYPE_CHECKING, Literal

import anyio
import msgspec
from anyio.abc import TaskStatus

from .accounting import RATE_LIMIT_STATUSES
from .errors import ScadError, SessionError
from .events import (
    Envelope,
    Exit,
    LogLine,
    append_event,
    ingest,
    position,
    read_all_events,
    supervising,
)
from .home import Home
from .loglines import ChunkLines, event_time
from .runlog import STDERR_TAIL, catch_up, follow_engine
from .runs import RunPaths, RunRecord, save_run
from .specs import ContainerExit, ContainerSpec, OutputStream
from .streamjson import Result, claude_event, decode_event

if TYPE_CHECKING:
    from .specs import Engine

__all__ = ["Outcome", "Status", "adopt", "launch", "remove_containers", "stop_run", "supervise"]

Status = Literal[
    "succeeded", "failed", "timed-out", "hung", "rate-limited", "crashed", "oom", "cancelled"
]
#: Seconds a container gets to stop before it is killed.
STOP_GRACE = 10
#: Bound on the shielded clean-up of a cancelled run: longer than a stop may take.
CLEANUP_SECONDS = STOP_GRACE + 90


class Outcome(msgspec.Struct, kw_only=True):
    """How a supervised run ended."""

    run_id: str
    status: Status
    container_id: str | None = None
    exit_code: int | None = None
    #: Claude's final text (its answer, or what went wrong).
    result: str | None = None
    turns: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: float = 0.0
    #: What scad saw go wrong: the error that kept the run from starting, stderr, ...
    detail: str | None = None


async def _create(engine: Engine, home: Home, record: RunRecord, spec: ContainerSpec) -> str:
    container_id = await engine.create_container(spec)
    record.container_id = container_id
    await anyio.to_thread.run_sync(save_run, home, record)
    return container_id


async def launch(
    engine: Engine, home: Home, record: RunRecord, spec: ContainerSpec, *, event: str = "started"
) -> str:
    """Create and start the run's container without watching it; returns its id."""
    container_id = await _create(engine, home, record, spec)
    try:
        # Before it prints anything: a catch-up landing right after the start
        # must find where the container's line count begins.
        await append_event(RunPaths(home, record.run_id), event, cid=container_id)
        await engine.start(container_id)
    except BaseException:
        with anyio.move_on_after(30, shield=True):
            await engine.remove(container_id, force=True)
        raise
    return container_id


class _Watch:
    """What the supervisor keeps of a run's output while streaming it."""

    def __init__(self) -> None:
        self.stdout = ChunkLines()
        self.stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        self.next_line = 0
        self.result: Result | None = None
        self.started = False
        self.hung = False
        self.timed_out = False

    def wait_for(self, idle_timeout: float | None, deadline: float | None) -> float | None:
        """How long to wait for output before a watchdog fires (None: for ever)."""
        if self.hung or self.timed_out:
            return None  # stopped already: wait for the end
        waits = [idle_timeout] if idle_timeout is not None else []
        if deadline is not None:
            waits.append(max(0.0, deadline - anyio.current_time()))
        return min(waits) if waits else None

    def expire(self, deadline: float | None) -> None:
        """A watchdog fired: the run took too long in all, or went quiet."""
        if deadline is not None and anyio.current_time() >= deadline:
            self.timed_out = True
        else:
            self.hung = True

    def saw(self, text: str) -> None:
        if '"result"' in text:  # cheap filter before decoding
            event = decode_event(text.encode())
            if isinstance(event, Result):
                self.result = event

    def saw_envelope(self, envelope: Envelope) -> None:
        event = claude_event(envelope)
        if isinstance(event, Result):
            self.result = event


async def supervise(
    engine: Engine,
    home: Home,
    record: RunRecord,
    spec: ContainerSpec,
    *,
    event: str = "started",
    idle_timeout: float | None = None,
    time_limit: float | None = None,
    task_status: TaskStatus[RunRecord] = anyio.TASK_STATUS_IGNORED,
) -> Outcome:
    """Run ``record``'s container from creation to exit, streaming its output into the log;
    reports the record (its container id set) once the container started.

    ``event`` names the start in the log (``started``, or ``resumed``). With
    ``idle_timeout``, a run that prints nothing for that long is stopped and
    ends as ``hung``; with ``time_limit`` (seconds), one that runs longer than that in all is
    stopped and ends as ``timed-out``. A run that cannot start raises (a ScadError naming the
    run; its container removed); once started, errors become the outcome
    (``crashed``, with the message in ``detail``) and only cancellation
    propagates, after the run is stopped, caught up and removed.
    """
    paths = RunPaths(home, record.run_id)
    watch = _Watch()
    container_id: str | None = None
    async with supervising(paths):
        try:
            container_id = await _create(engine, home, record, spec)
            # Before the container prints anything: its line count starts here.
            await append_event(paths, event, cid=container_id)
            async with engine.attach(container_id) as output:
                await engine.start(container_id)
                task_status.started(record)
                deadline = None if time_limit is None else anyio.current_time() + time_limit
                await _stream(engine, paths, container_id, output, watch, idle_timeout, deadline)
            exit = await engine.wait(container_id)
            await _ingest(paths, container_id, watch, watch.stdout.finish(), _exit(exit, watch))
        except ScadError as exc:
            if not watch.started:
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                    await remove_containers(engine, record)
                raise SessionError(f"{record.run_id} could not start: {exc}") from exc
            return await _lost_track(engine, record, container_id, exc)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                await stop_run(engine, home, record, container_id)
            raise
    return _outcome(record.run_id, container_id, exit, watch)


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
    watch = _Watch()
    failure: ScadError | None = None
    async with supervising(paths):
        try:
            state = await engine.inspect(container_id)
            if state is not None and state.status == "created":
                await engine.start(container_id)  # its supervisor died before starting it
            watch.started = True
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    _log_watchdog, engine, paths, container_id, watch, idle_timeout, deadline
                )
                try:
                    await follow_engine(engine, home, record, supervisor=True)
                except ScadError as exc:  # kept from the task group, which would wrap it
                    failure = exc
                tg.cancel_scope.cancel()
        except ScadError as exc:
            failure = exc
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
                await stop_run(engine, home, record, container_id)
            raise
    if failure is not None:
        return await _lost_track(engine, record, container_id, failure)
    return await _logged_outcome(paths, record.run_id, container_id, watch)


async def _lost_track(
    engine: Engine, record: RunRecord, container_id: str | None, error: ScadError
) -> Outcome:
    """The engine failed while the run was watched: it ends ``crashed``, and its
    container is stopped if the engine lets it (nobody watches it any more; what it
    printed stays in the engine's log, for a catch-up)."""
    if container_id is not None:
        with contextlib.suppress(ScadError), anyio.move_on_after(STOP_GRACE + 30):
            await engine.stop(container_id, grace=STOP_GRACE)
    return Outcome(
        run_id=record.run_id,
        status="crashed",
        container_id=container_id,
        detail=f"{record.run_id}: {error}",
    )


async def _log_watchdog(
    engine: Engine,
    paths: RunPaths,
    container_id: str,
    watch: _Watch,
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


async def _logged_outcome(
    paths: RunPaths, run_id: str, container_id: str, watch: _Watch
) -> Outcome:
    """The outcome of a container's life as its event log tells it."""
    cid = container_id[:12]
    exited: Envelope | None = None
    for envelope in await read_all_events(paths):
        if envelope.cid != cid:
            continue
        if envelope.src == "claude":
            watch.saw_envelope(envelope)
        elif envelope.event in ("exited", "lost"):
            exited = envelope
    if exited is None or exited.event == "lost":
        detail = exited.detail if exited else "the container ended with no exit in its log"
        return Outcome(run_id=run_id, status="crashed", container_id=container_id, detail=detail)
    if exited.detail:
        watch.stderr.extend(exited.detail.splitlines())
    exit = ContainerExit(
        exit_code=exited.exit_code if exited.exit_code is not None else -1, oom=bool(exited.oom)
    )
    return _outcome(run_id, container_id, exit, watch)


async def remove_containers(engine: Engine, record: RunRecord) -> None:
    """Every container of the run: the one ``run.json`` names, and any its label finds
    (an id may never have reached ``run.json``)."""
    found = {c.id for c in await engine.containers({"scad.run": record.run_id})}
    for each in found | ({record.container_id} if record.container_id else set()):
        await engine.remove(each, force=True)


async def _stream(
    engine: Engine,
    paths: RunPaths,
    container_id: str,
    output: OutputStream,
    watch: _Watch,
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
    watch: _Watch,
    lines: list[LogLine],
    exit: Exit | None = None,
) -> None:
    await ingest(paths, container_id, watch.next_line, lines, exit=exit)
    watch.next_line += len(lines)
    for line in lines:
        watch.saw(line.text)


def _exit(exit: ContainerExit, watch: _Watch) -> Exit:
    detail = "\n".join(watch.stderr) if exit.exit_code != 0 and watch.stderr else None
    if watch.hung:
        detail = "stopped: no output for longer than the idle timeout"
    elif watch.timed_out:
        detail = "stopped: the run took longer than its timeout"
    at = event_time(exit.finished_at) if exit.finished_at else None
    return Exit(exit_code=exit.exit_code, oom=exit.oom, detail=detail, at=at, life=exit.started_at)


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
        await append_event(paths, "cancelled", cid=container_id)
    finally:
        with contextlib.suppress(ScadError):
            await remove_containers(engine, record)


def _outcome(run_id: str, container_id: str, exit: ContainerExit, watch: _Watch) -> Outcome:
    result = watch.result
    outcome = Outcome(
        run_id=run_id,
        status=_status(exit, watch),
        container_id=container_id,
        exit_code=exit.exit_code,
        detail=("\n".join(watch.stderr) or None) if exit.exit_code != 0 else None,
    )
    if result is not None:
        usage = result.usage
        outcome.result = result.result
        outcome.turns = int(result.num_turns or 0)
        outcome.cost_usd = float(result.total_cost_usd or 0.0)
        outcome.duration_ms = float(result.duration_ms or 0.0)
        outcome.input_tokens = int(usage.input_tokens or 0) if usage else 0
        outcome.output_tokens = int(usage.output_tokens or 0) if usage else 0
    return outcome


def _status(exit: ContainerExit, watch: _Watch) -> Status:
    """A run that hit its memory limit is ``oom`` even when Claude went on to a result
    (the kernel may have killed a tool, not Claude): its work ran short of memory, and
    the exit code and result say how far it got."""
    result = watch.result
    if watch.hung:
        return "hung"
    if watch.timed_out:
        return "timed-out"
    if exit.oom:
        return "oom"
    if exit.exit_code == 0 and result is not None and not result.is_error:
        return "succeeded"
    if result is None:
        return "crashed"
    if result.is_error and result.api_error_status in RATE_LIMIT_STATUSES:
        return "rate-limited"
    return "failed"
