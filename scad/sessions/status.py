"""What sessions are doing: the status table and one session's dashboard."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from .. import agentfs
from ..code.clones import CloneWork, unfetched_run_work
from ..engine import ContainerState, labels
from ..errors import AgentFileError, TooManyEntries, UnreadableClone
from ..gateway import load_registration, refresh_token_fingerprint
from ..home import Home
from ..runs.accounting import RunSummary
from ..runs.catchup import CATCH_UPS_AT_ONCE, catch_up
from ..runs.gatewaylog import GatewayUsage, gateway_usage
from ..runs.records import RunPaths, RunRecord, alist_runs
from ..runs.states import LifeStatus, SessionState
from ..runs.summaries import LogSummary, log_summaries, log_summary
from ..taskgroups import open_task_group
from ..text import printable
from .claude_state import CREDENTIALS_LIMIT
from .control import adopt_container

if TYPE_CHECKING:
    from ..engine import Engine

#: Transcripts larger than this are listed, not read; nor is any once this much was read.
TRANSCRIPT_LIMIT = 64 << 20
TRANSCRIPTS_BUDGET = 256 << 20
#: Transcripts listed in one look (the agent decides how many files there are).
MAX_TRANSCRIPTS = 1000

__all__ = [
    "CloneInfo",
    "SessionInfo",
    "SessionStatus",
    "TranscriptInfo",
    "list_transcripts",
    "run_statuses",
    "session_info",
    "session_status",
    "shared_refresh_tokens",
]


class SessionStatus(msgspec.Struct, kw_only=True):
    run_id: str
    config: str
    mode: str
    state: SessionState
    exit_code: int | None
    created: str
    branch: str
    summary: RunSummary
    #: How its last container ended (see :class:`scad.runs.summaries.LogSummary`).
    outcome: LifeStatus | None = None


class CloneInfo(msgspec.Struct, kw_only=True):
    key: str
    path: str
    host_repo: str
    branch: str
    #: What the clone holds that the host repo lacks; None when it could not be
    #: read (see ``problem``).
    work: CloneWork | None
    problem: str | None = None


class TranscriptInfo(msgspec.Struct, kw_only=True):
    session_id: str
    started: str | None
    #: Lines in the transcript; None when it could not be read (see ``problem``).
    entries: int | None
    problem: str | None = None
    #: Bytes read.
    size_bytes: int = 0


class SessionInfo(msgspec.Struct, kw_only=True):
    record: RunRecord
    state: SessionState
    exit_code: int | None
    container: ContainerState | None
    clones: list[CloneInfo]
    summary: RunSummary
    transcripts: list[TranscriptInfo]
    #: What the model gateway measured of the run's requests, beside what Claude
    #: reported in ``summary``; None for a run made before the gateway.
    gateway: GatewayUsage | None = None
    #: The run's budget at the gateway (US dollars), None without one.
    max_usd: float | None = None


def _state(
    record: RunRecord,
    container: ContainerState | None,
    stopped_by_scad: bool,
    *,
    engine_known: bool,
) -> tuple[SessionState, int | None]:
    if record.cleaned:
        return "cleaned", None
    if not engine_known:
        return "unknown", None
    if container is None:
        return "missing", None
    if container.running:
        return "running", None
    if container.status == "exited":
        return ("stopped" if stopped_by_scad else "exited"), container.exit_code
    return _engine_state(container.status), None


def _engine_state(status: str) -> SessionState:
    """A container's state as the engine names it (one it may add later: ``unknown``)."""
    match status:
        case "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead":
            return status
    return "unknown"


def _status(
    record: RunRecord, container: ContainerState | None, log: LogSummary, *, engine_known: bool
) -> SessionStatus:
    state, exit_code = _state(record, container, log.stopped, engine_known=engine_known)
    return SessionStatus(
        run_id=record.run_id,
        config=record.config,
        mode=record.mode,
        state=state,
        exit_code=exit_code,
        created=record.created,
        branch=record.branch,
        summary=log.summary,
        outcome=log.outcome,
    )


async def _status_of(
    engine: Engine | None, home: Home, record: RunRecord, container: ContainerState | None
) -> SessionStatus:
    if engine is not None and container is not None:
        await catch_up(engine, home, record)
    log = await log_summary(RunPaths(home, record.run_id), transcripts=record.mode == "interactive")
    return _status(record, container, log, engine_known=engine is not None)


async def run_statuses(
    engine: Engine | None, home: Home, records: list[RunRecord]
) -> list[SessionStatus]:
    """The state and totals of each of ``records``, in their order.

    Logs are summed up from their caches (:mod:`scad.runs.summaries`) in one trip to
    a worker thread; only a run whose container may have printed what its log
    lacks (its exit is not logged) is caught up from the engine, and read again.
    """
    containers: dict[str, ContainerState] = {}
    if engine is not None:
        here = labels.home_label(home)
        listed = await engine.containers({labels.RUN: None})
        by_run = {c.labels.get(labels.RUN): c for c in listed if labels.made_by(c.labels, here)}

        async def match(record: RunRecord) -> None:
            # The listing holds every run's container: a run not in it has none to adopt.
            container = by_run.get(record.run_id) if not record.cleaned else None
            if container is None:
                return
            await adopt_container(engine, home, record, container)
            if container.id == record.container_id:
                containers[record.run_id] = container

        async with open_task_group() as tg:
            for record in records:
                tg.start_soon(match, record)
    interactive = {r.run_id for r in records if r.mode == "interactive"}
    logs = await log_summaries(home, [r.run_id for r in records], interactive=interactive)
    if engine is not None:
        behind = [
            r
            for r in records
            if r.run_id in containers and not logs[r.run_id].ended(containers[r.run_id].id)
        ]
        limiter = anyio.CapacityLimiter(CATCH_UPS_AT_ONCE)

        async def catch_up_one(record: RunRecord) -> None:
            async with limiter:
                await catch_up(engine, home, record)

        async with open_task_group() as tg:
            for record in behind:
                tg.start_soon(catch_up_one, record)
        logs |= await log_summaries(home, [r.run_id for r in behind], interactive=interactive)
    known = engine is not None
    return [
        _status(r, containers.get(r.run_id), logs[r.run_id], engine_known=known) for r in records
    ]


async def session_status(
    engine: Engine | None, home: Home, *, include_all: bool
) -> list[SessionStatus]:
    """Every session's state and totals; running ones only unless ``include_all``.

    Without an engine, states are ``unknown`` and totals are those of the logs
    as last caught up; such sessions count as possibly running.
    """
    rows = await run_statuses(engine, home, await alist_runs(home))
    return rows if include_all else [r for r in rows if r.state in ("running", "unknown")]


def shared_refresh_tokens(home: Home, rows: list[SessionStatus]) -> list[list[str]]:
    """Groups of live sessions whose Claude credentials share one OAuth refresh token.

    Refresh tokens rotate: when one of them refreshes, the others are logged out.
    """
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row.state not in ("running", "unknown"):
            continue
        path = RunPaths(home, row.run_id).claude_dir / ".credentials.json"
        try:
            data = agentfs.read_file(path, limit=CREDENTIALS_LIMIT)
        except AgentFileError:
            continue
        if fingerprint := refresh_token_fingerprint(data):
            groups.setdefault(fingerprint, []).append(row.run_id)
    return [ids for ids in groups.values() if len(ids) > 1]


def list_transcripts(claude_dir: Path) -> list[TranscriptInfo]:
    """Claude's transcripts in the run, read as hostile files (see :mod:`scad.agentfs`):
    each up to a bound, all of them together up to another, and at most
    ``MAX_TRANSCRIPTS`` of them; past that, one last entry says how the list was cut."""
    found: list[TranscriptInfo] = []
    budget = TRANSCRIPTS_BUDGET
    try:
        with (
            agentfs.open_folder(claude_dir) as claude,
            agentfs.open_folder("projects", dir_fd=claude) as projects,
        ):
            for project, kind in sorted(agentfs.list_dir(projects, label="claude/projects")):
                if kind != stat.S_IFDIR:
                    continue
                with agentfs.open_folder(project, dir_fd=projects) as folder:
                    label = f"claude/projects/{project}"
                    for name, _ in sorted(agentfs.list_dir(folder, label=label)):
                        if not name.endswith(".jsonl"):
                            continue
                        if len(found) >= MAX_TRANSCRIPTS:
                            cut = f"past the {MAX_TRANSCRIPTS} transcripts listed in one look"
                            return [*found, _unread("(more)", cut)]
                        if budget <= 0:
                            found.append(_unread(name, "past the bound on bytes read in one look"))
                            continue
                        found.append(_transcript(folder, name, min(budget, TRANSCRIPT_LIMIT)))
                        budget -= found[-1].size_bytes
    except TooManyEntries as exc:
        return [*found, _unread("(more)", f"not listed: {exc}")]
    except AgentFileError:
        pass  # no transcripts, or a folder the agent made a link: nothing to show
    return found


def _unread(name: str, problem: str) -> TranscriptInfo:
    session_id = printable(name.removesuffix(".jsonl"))
    return TranscriptInfo(session_id=session_id, started=None, entries=None, problem=problem)


def _transcript(folder: int, name: str, limit: int) -> TranscriptInfo:
    session_id = printable(name.removesuffix(".jsonl"))
    try:
        data = agentfs.read_file_at(folder, name, limit=limit)
    except AgentFileError as exc:
        return _unread(name, exc.problem)
    first = data.split(b"\n", 1)[0]
    started = None
    with contextlib.suppress(*agentfs.JSON_ERRORS):
        value = msgspec.json.decode(first, type=_TranscriptLine).timestamp
        started = printable(value) if isinstance(value, str) else None
    return TranscriptInfo(
        session_id=session_id, started=started, entries=data.count(b"\n"), size_bytes=len(data)
    )


class _TranscriptLine(msgspec.Struct):
    timestamp: object = None


async def _clone_info(paths: RunPaths, record: RunRecord, key: str, host_repo: str) -> CloneInfo:
    info = CloneInfo(
        key=key, path=str(paths.clone(key)), host_repo=host_repo, branch=record.branch, work=None
    )
    try:
        info.work = await unfetched_run_work(paths, key, Path(host_repo), record.branch)
    except UnreadableClone as exc:
        info.problem = exc.problem
    return info


async def session_info(engine: Engine | None, home: Home, record: RunRecord) -> SessionInfo:
    """One run's record, state, clones, totals and transcripts; without an engine, its
    state is ``unknown`` and its totals are its log's as last read."""
    paths = RunPaths(home, record.run_id)
    container = None
    if engine is not None and record.container_id:
        container = await engine.inspect(record.container_id)
    status = await _status_of(engine, home, record, container)
    clones = [
        await _clone_info(paths, record, key, host_repo)
        for key, host_repo in record.repos.items()
        if paths.clone(key).is_dir()
    ]
    gateway, max_usd = await anyio.to_thread.run_sync(_measured, home, record.run_id)
    return SessionInfo(
        record=record,
        state=status.state,
        exit_code=status.exit_code,
        container=container,
        clones=clones,
        summary=status.summary,
        transcripts=await anyio.to_thread.run_sync(list_transcripts, paths.claude_dir),
        gateway=gateway,
        max_usd=max_usd,
    )


def _measured(home: Home, run_id: str) -> tuple[GatewayUsage | None, float | None]:
    """What the gateway measured of a run registered with it, and its budget there."""
    registration = load_registration(home, run_id)
    if registration is None:
        return None, None
    return gateway_usage([RunPaths(home, run_id).gateway_events]), registration.max_usd
