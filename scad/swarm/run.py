"""A run on a swarm, supervised from creation to its end: the one path by which scad
runs a service and watches it.

The run's token goes to its container as a swarm secret (a file under
``/run/secrets``, encrypted in the swarm's store), never in the service's spec,
whose environment and labels anyone who can inspect the service reads. The service
is one task; once the task is placed its node is logged with the ``started`` event, its log followed into the run's (:mod:`.tasklog`),
and its state and its node's watched: an ended task gives the exit, a node lost
under it (:func:`~.nodeloss.node_loss`) ends the attempt ``crashed``, naming the
node, and so does a task that failed as its node died (the manager, asked for its
stderr, says it cannot reach the node). Whatever happens, the service and its secret are removed (shielded, bounded).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import anyio
import msgspec
from anyio.abc import TaskStatus

from ..engine import ContainerExit, SecretFile, ServiceSpec, SwarmEngine, TaskState, labels
from ..errors import LogUnavailable, ScadError, SessionError
from ..home import Home
from ..names import home_key
from ..runs.catchup import last_stderr
from ..runs.envelopes import Cancelled, Exited, Started
from ..runs.events import append_event, ingest, mark_lost, position, supervising
from ..runs.gate import StartGate
from ..runs.lines import event_time
from ..runs.outcomes import Outcome, Watch, outcome_of
from ..runs.readback import budget_refusal
from ..runs.records import RunPaths, RunRecord
from ..taskgroups import open_task_group
from .nodeloss import node_loss
from .service import TOKEN_FILE, secret_name
from .tasklog import follow_task, read_rest

__all__ = ["CLEANUP_SECONDS", "POLL_SECONDS", "supervise_on_swarm"]

#: How often the task's state and its node's are read.
POLL_SECONDS = 1.0
#: Bound on reading the rest of an ended task's log.
REST_SECONDS = 60.0
#: Bound on the shielded removal of the service and its secret.
CLEANUP_SECONDS = 60.0
#: The exit code of a task scad ended (its service removed): as a killed container's.
KILLED = 137


class _Ended(msgspec.Struct, frozen=True):
    """Why the watch of a task ended: its task over, its node lost, or a watchdog."""

    task: TaskState | None = None
    lost: str | None = None


async def supervise_on_swarm(
    swarm: SwarmEngine,
    home: Home,
    record: RunRecord,
    spec: ServiceSpec,
    token: str,
    *,
    idle_timeout: float | None = None,
    time_limit: float | None = None,
    gate: StartGate | None = None,
    task_status: TaskStatus[RunRecord] = anyio.TASK_STATUS_IGNORED,
) -> Outcome:
    """Run ``record`` as the service ``spec`` (its token given as a secret) to its end.
    A run whose service cannot be made raises (nothing is left on the swarm); once
    made, its end is the outcome. ``idle_timeout``, ``time_limit`` and ``gate`` are
    :func:`scad.runs.supervisor.supervise`'s."""
    paths = RunPaths(home, record.run_id)
    watch = Watch()
    async with supervising(paths), _service(swarm, home, record, spec, token, gate) as service_id:
        task_status.started(record)
        if gate is not None:
            gate.started.set()
        deadline = None if time_limit is None else anyio.current_time() + time_limit
        task_id = ""
        try:
            task = await _placed(swarm, service_id, watch, idle_timeout, deadline)
            task_id = task.id
            node = await swarm.node(task.node_id) if task.node_id else None
            await append_event(paths, Started(cid=task_id, node=node.hostname if node else None))
            watch.started = True
            if task.over and task.node_id is None:  # the swarm gave it up unplaced
                detail = f"the swarm did not run it: {task.error or task.state}"
                await mark_lost(paths, task_id, detail)
                return Outcome(run_id=record.run_id, outcome="crashed", detail=detail)
            async with open_task_group() as tg:
                tg.start_soon(follow_task, swarm, paths, task_id, watch)
                ended = await _watch(
                    swarm, paths, service_id, task_id, watch, idle_timeout, deadline
                )
                tg.cancel_scope.cancel()
            return await _outcome(swarm, paths, record, task_id, ended, watch)
        except BaseException:
            if task_id:
                with anyio.CancelScope(shield=True):
                    await append_event(paths, Cancelled(cid=task_id))
            raise


@contextlib.asynccontextmanager
async def _service(
    swarm: SwarmEngine,
    home: Home,
    record: RunRecord,
    spec: ServiceSpec,
    token: str,
    gate: StartGate | None,
) -> AsyncIterator[str]:
    """The run's secret and service, made (the service past ``gate``) and, whatever
    happens in the block, removed."""
    key = home_key(labels.home_label(home))
    name = secret_name(record.run_id, key, secrets.token_hex(4))
    owned = {labels.RUN: record.run_id, labels.HOME: labels.home_label(home)}
    uid, _, gid = (spec.user or "0:0").partition(":")
    secret_id: str | None = None
    service_id: str | None = None
    try:
        with anyio.CancelScope(shield=True):  # a made secret's id is never lost
            secret_id = made_secret = await swarm.create_secret(name, token.encode(), owned)
        if gate is not None:
            await gate.passed()
        token_file = SecretFile(
            secret_id=made_secret, secret_name=name, file=TOKEN_FILE, uid=uid, gid=gid or uid
        )
        with anyio.CancelScope(shield=True):  # the swarm carries out a create it was sent
            service_id = made = await swarm.create_service(
                msgspec.structs.replace(spec, secrets=[token_file])
            )
        yield made
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
            if service_id is not None:
                with contextlib.suppress(ScadError):
                    await swarm.remove_service(service_id)
            if secret_id is not None:
                with contextlib.suppress(ScadError):
                    await swarm.remove_secret(secret_id)


async def _task(swarm: SwarmEngine, service_id: str) -> TaskState | None:
    tasks = await swarm.tasks(service_id)
    return tasks[0] if tasks else None


async def _placed(
    swarm: SwarmEngine,
    service_id: str,
    watch: Watch,
    idle_timeout: float | None,
    deadline: float | None,
) -> TaskState:
    """The service's task once it is on a node (or given up unplaced); a run the time
    limit ends while it waits for a node is stopped there."""
    while True:
        with contextlib.suppress(ScadError):  # a manager busy for a moment: asked again
            task = await _task(swarm, service_id)
            if task is not None and (task.node_id or task.over):
                return task
        if deadline is not None and anyio.current_time() >= deadline:
            watch.expire(deadline)
            raise SessionError("no node of the swarm took it within its time limit")
        await anyio.sleep(POLL_SECONDS / 4)


async def _watch(
    swarm: SwarmEngine,
    paths: RunPaths,
    service_id: str,
    task_id: str,
    watch: Watch,
    idle_timeout: float | None,
    deadline: float | None,
) -> _Ended:
    """Read the task and its node until the task is over, its node is lost, or a
    watchdog fires (the run printed nothing for ``idle_timeout``, or ran past
    ``deadline``)."""
    seen, since = -1, anyio.current_time()
    while True:
        with contextlib.suppress(ScadError):  # a manager busy for a moment: asked again
            task = await _task(swarm, service_id)
            if task is None or task.id != task_id:
                return _Ended(lost="its service's task is gone")
            node = await swarm.node(task.node_id) if task.node_id else None
            if lost := node_loss(task, node):  # asked first: a lost task may read over
                return _Ended(lost=lost)
            if task.over:
                return _Ended(task=task)
        now = anyio.current_time()
        where = await position(paths, task_id)
        if where.next_line != seen:
            seen, since = where.next_line, now
        quiet = idle_timeout is not None and now - since >= idle_timeout
        if quiet or (deadline is not None and now >= deadline):
            watch.expire(deadline)
            return _Ended()
        await anyio.sleep(POLL_SECONDS)


async def _outcome(
    swarm: SwarmEngine,
    paths: RunPaths,
    record: RunRecord,
    task_id: str,
    ended: _Ended,
    watch: Watch,
) -> Outcome:
    """The run's end in its log, once all its lines are, and its outcome."""
    task, lost = ended.task, ended.lost
    exit_code = KILLED if task is None or task.exit_code is None else task.exit_code
    stderr = None
    if lost is None and task is not None and exit_code != 0 and watch.stop is None:
        try:
            stderr = await _stderr(swarm, task_id) or task.error
        except LogUnavailable as exc:  # its node died as it failed: the node lost it
            lost = f"node {await _hostname(swarm, task)} cannot be reached ({exc})"
    if lost is not None:  # nothing more comes from a lost node
        detail = f"{record.run_id}: {lost}; its service was removed"
        await mark_lost(paths, task_id, detail)
        return Outcome(run_id=record.run_id, outcome="crashed", container_id=task_id, detail=detail)
    next_line = (await position(paths, task_id)).next_line
    with contextlib.suppress(ScadError), anyio.move_on_after(REST_SECONDS):
        next_line = await read_rest(swarm, paths, task_id, watch)
    exit = Exited(
        ts=event_time(task.timestamp) if task is not None and task.timestamp else "",
        exit_code=exit_code,
        stderr=stderr,
        stop=watch.stop,
    )
    await ingest(paths, task_id, next_line, [], exit=exit)
    if stderr:
        watch.stderr.append(stderr)
    refusal = await budget_refusal(paths, watch)
    return outcome_of(record.run_id, task_id, ContainerExit(exit_code=exit_code), watch, refusal)


async def _hostname(swarm: SwarmEngine, task: TaskState) -> str:
    """The name of ``task``'s node (its id when the manager cannot say)."""
    node_id = task.node_id or "?"
    with contextlib.suppress(ScadError), anyio.move_on_after(REST_SECONDS):
        if node := await swarm.node(node_id):
            return node.hostname
    return node_id[:12]


async def _stderr(swarm: SwarmEngine, task_id: str) -> str | None:
    """A failed task's last lines of stderr (None: the manager cannot say). Raises
    :class:`~scad.errors.LogUnavailable` when the manager cannot reach the task's node."""

    async def read(tail: int) -> list[str]:
        with anyio.fail_after(REST_SECONDS):
            return await swarm.task_stderr(task_id, tail=tail)

    try:
        return await last_stderr(read)
    except LogUnavailable:
        raise
    except (ScadError, TimeoutError):
        return None
