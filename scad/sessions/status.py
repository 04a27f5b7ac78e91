"""What sessions are doing: the status table and one session's dashboard."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..accounting import RunSummary, summarise
from ..clones import Commit, unfetched_commits
from ..events import read_events
from ..home import Home
from ..runs import RunPaths, RunRecord, list_runs
from ..specs import ContainerState
from .logs import catch_up

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "CloneInfo",
    "SessionInfo",
    "SessionStatus",
    "TranscriptInfo",
    "session_info",
    "session_status",
]


class SessionStatus(msgspec.Struct, kw_only=True):
    run_id: str
    config: str
    mode: str
    #: running, exited, stopped, created, missing (container gone) or cleaned.
    state: str
    exit_code: int | None
    created: str
    branch: str
    summary: RunSummary


class CloneInfo(msgspec.Struct, kw_only=True):
    key: str
    path: str
    host_repo: str
    branch: str
    #: Commits on the clone's branches that the host repo lacks.
    ahead: list[Commit]


class TranscriptInfo(msgspec.Struct, kw_only=True):
    session_id: str
    started: str | None
    entries: int


class SessionInfo(msgspec.Struct, kw_only=True):
    record: RunRecord
    state: str
    exit_code: int | None
    container: ContainerState | None
    clones: list[CloneInfo]
    summary: RunSummary
    transcripts: list[TranscriptInfo]


def _state(
    record: RunRecord,
    container: ContainerState | None,
    stopped_by_scad: bool,
    *,
    engine_known: bool,
) -> tuple[str, int | None]:
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
    return container.status, None


async def _status_of(
    engine: Engine | None, home: Home, record: RunRecord, container: ContainerState | None
) -> SessionStatus:
    if engine is not None and container is not None:
        await catch_up(engine, home, record)
    envelopes, _ = read_events(RunPaths(home, record.run_id))
    lifecycle = [e.event for e in envelopes if e.event in ("started", "resumed", "stopped")]
    stopped = bool(lifecycle) and lifecycle[-1] == "stopped"
    state, exit_code = _state(record, container, stopped, engine_known=engine is not None)
    return SessionStatus(
        run_id=record.run_id,
        config=record.config,
        mode=record.mode,
        state=state,
        exit_code=exit_code,
        created=record.created,
        branch=record.branch,
        summary=summarise(envelopes),
    )


async def session_status(
    engine: Engine | None, home: Home, *, include_all: bool
) -> list[SessionStatus]:
    """Every session's state and totals; running ones only unless ``include_all``.

    Without an engine, states are ``unknown`` and totals are those of the logs
    as last caught up; such sessions count as possibly running.
    """
    containers = (
        {}
        if engine is None
        else {c.labels.get("scad.run"): c for c in await engine.containers({"scad.run": None})}
    )
    records = list_runs(home)
    results: dict[str, SessionStatus] = {}

    async def one(record: RunRecord) -> None:
        container = containers.get(record.run_id) if not record.cleaned else None
        if container is not None and container.id != record.container_id:
            container = None
        results[record.run_id] = await _status_of(engine, home, record, container)

    async with anyio.create_task_group() as tg:
        for record in records:
            tg.start_soon(one, record)
    rows = [results[r.run_id] for r in records]
    return rows if include_all else [r for r in rows if r.state in ("running", "unknown")]


def _transcripts(claude_dir: Path) -> list[TranscriptInfo]:
    found = []
    for path in sorted((claude_dir / "projects").glob("*/*.jsonl")):
        started, entries = None, 0
        with open(path, "rb") as f:
            for line in f:
                entries += 1
                if started is None:
                    with contextlib.suppress(ValueError):
                        started = json.loads(line).get("timestamp")
        found.append(TranscriptInfo(session_id=path.stem, started=started, entries=entries))
    return found


async def session_info(engine: Engine, home: Home, record: RunRecord) -> SessionInfo:
    paths = RunPaths(home, record.run_id)
    container = await engine.inspect(record.container_id) if record.container_id else None
    status = await _status_of(engine, home, record, container)
    clones = [
        CloneInfo(
            key=key,
            path=str(paths.clone(key)),
            host_repo=host_repo,
            branch=record.branch,
            ahead=await unfetched_commits(paths.clone(key), Path(host_repo)),
        )
        for key, host_repo in record.repos.items()
        if paths.clone(key).is_dir()
    ]
    return SessionInfo(
        record=record,
        state=status.state,
        exit_code=status.exit_code,
        container=container,
        clones=clones,
        summary=status.summary,
        transcripts=_transcripts(paths.claude_dir),
    )
