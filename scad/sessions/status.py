"""What sessions are doing: the status table (one session's dashboard is :mod:`.info`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec

from .. import agentfs
from ..engine import ContainerState, labels
from ..errors import AgentFileError
from ..gateway import refresh_token_fingerprint
from ..home import Home
from ..runs.accounting import RunSummary
from ..runs.catchup import CATCH_UPS_AT_ONCE, catch_up
from ..runs.containers import adopt_container
from ..runs.records import RunPaths, RunRecord, alist_runs
from ..runs.states import LifeStatus, SessionState
from ..runs.summaries import LogSummary, log_summaries, log_summary
from ..taskgroups import open_task_group
from .credentials import CREDENTIALS_LIMIT

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["SessionStatus", "run_statuses", "session_status", "shared_refresh_tokens", "status_of"]


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


async def status_of(
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
