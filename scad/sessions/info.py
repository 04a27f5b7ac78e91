"""One session's dashboard: its record, state, clones, totals, transcripts and what
the gateway measured."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from .. import agentfs
from ..code.borrowed import run_lender
from ..code.clones import CloneWork, unfetched_run_work
from ..engine import ContainerState
from ..errors import AgentFileError, TooManyEntries, UnreadableClone
from ..gateway import load_registration
from ..home import Home
from ..runs.accounting import RunSummary
from ..runs.gatewaylog import GatewayUsage, gateway_usage
from ..runs.records import RunPaths, RunRecord
from ..runs.states import SessionState
from ..text import printable
from .status import status_of

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["CloneInfo", "SessionInfo", "TranscriptInfo", "list_transcripts", "session_info"]

#: Transcripts larger than this are listed, not read; nor is any once this much was read.
TRANSCRIPT_LIMIT = 64 << 20
TRANSCRIPTS_BUDGET = 256 << 20
#: Transcripts listed in one look (the agent decides how many files there are).
MAX_TRANSCRIPTS = 1000


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
        lender = run_lender(paths.home, record, key)
        info.work = await unfetched_run_work(
            paths, key, Path(host_repo), record.branch, lender=lender
        )
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
    status = await status_of(engine, home, record, container)
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
