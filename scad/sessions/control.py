"""Stopping and cleaning sessions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..code.borrowed import run_lender
from ..code.clones import MAX_COUNTED, Commit, unfetched_run_work
from ..code.work import has_work
from ..errors import SessionError, UnfetchedWork, UnreadableClone
from ..gateway import revoke_run
from ..home import Home
from ..runs.catchup import catch_up
from ..runs.containers import STOP_GRACE, adopt_container, remove_containers
from ..runs.envelopes import Cleaned, Stopped
from ..runs.events import append_event
from ..runs.records import RunPaths, RunRecord, asave_run, find_run, list_runs, now_iso
from ..runs.summaries import summarise_transcripts
from ..taskgroups import open_task_group

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "CleanResult",
    "StopResult",
    "clean_session",
    "select_runs",
    "stop_sessions",
]


class StopResult(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    #: stopped, or not-running when there was nothing to stop.
    outcome: str


class CleanResult(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    #: cleaned, or skipped (with the reason).
    outcome: str
    reason: str | None = None
    discarded: list[Commit] = []


def select_runs(
    home: Home,
    *,
    run_ids: tuple[str, ...],
    all_runs: bool = False,
    config: str | None = None,
    batch: str | None = None,
) -> list[RunRecord]:
    """The runs a command addresses: named ones, or the uncleaned ones of all, of a
    config or of a batch."""
    if run_ids:
        return [find_run(home, run_id) for run_id in run_ids]
    records = [r for r in list_runs(home) if not r.cleaned]
    return [r for r in records if all_runs or r.config == config or (batch and r.batch_id == batch)]


async def _running(engine: Engine, home: Home, record: RunRecord) -> bool:
    await adopt_container(engine, home, record)
    if not record.container_id:
        return False
    state = await engine.inspect(record.container_id)
    return state is not None and state.running


async def stop_sessions(engine: Engine, home: Home, records: list[RunRecord]) -> list[StopResult]:
    """Stop the sessions' containers concurrently; clones and state are kept."""
    results: dict[str, StopResult] = {}

    async def stop(record: RunRecord) -> None:
        if not await _running(engine, home, record):
            results[record.run_id] = StopResult(run_id=record.run_id, outcome="not-running")
            return
        assert record.container_id is not None
        # Logged before the stop: a supervisor that sees the exit first knows it
        # was the user's doing, not the agent's (not a crash to retry).
        await append_event(RunPaths(home, record.run_id), Stopped())
        await engine.stop(record.container_id, grace=STOP_GRACE)
        await catch_up(engine, home, record)
        results[record.run_id] = StopResult(run_id=record.run_id, outcome="stopped")

    async with open_task_group() as tg:
        for record in records:
            tg.start_soon(stop, record)
    return [results[r.run_id] for r in records]


async def _unfetched(
    paths: RunPaths, record: RunRecord, key: str, host_repo: Path, *, force: bool
) -> list[Commit]:
    """The clone's commits the host lacks; unless ``force``, refuses to go on when
    there are some or when the clone cannot be read."""
    if not has_work(paths, key):
        return []
    try:
        lender = run_lender(paths.home, record, key)
        work = await unfetched_run_work(paths, key, host_repo, record.branch, lender=lender)
    except UnreadableClone as exc:
        if force:
            return []
        raise UnfetchedWork(
            f"{record.run_id}: cannot tell whether clone {key} holds commits the host lacks "
            f"({exc.problem}); pass --force to discard it unread"
        ) from None
    if work.total and not force:
        listed = ", ".join(f"{c.sha[:8]} {c.subject!r}" for c in work.commits[:5])
        more = f" and {work.total - 5} more" if work.total > 5 else ""
        if work.total > MAX_COUNTED:
            more = f" and more than {MAX_COUNTED - 5} more"
        count = f"more than {MAX_COUNTED}" if work.total > MAX_COUNTED else str(work.total)
        raise UnfetchedWork(
            f"{record.run_id}: clone {key} has {count} commit(s) not in {host_repo}: "
            f"{listed}{more}; fetch them (`scad code fetch {record.run_id}`) or pass --force "
            "to discard them"
        )
    return work.commits


async def clean_session(
    engine: Engine, home: Home, record: RunRecord, *, force: bool, skip_running: bool = False
) -> CleanResult:
    """Remove a run's container, clones and Claude state, and revoke its gateway token;
    its record, event log and gateway events stay.

    Unless ``force``, a running session is refused (or, with ``skip_running``,
    passed over) and so is one whose clones hold commits the host repo lacks.
    """
    paths = RunPaths(home, record.run_id)
    if record.cleaned:
        return CleanResult(run_id=record.run_id, outcome="skipped", reason="already cleaned")
    if await _running(engine, home, record) and not force:
        if skip_running:
            return CleanResult(
                run_id=record.run_id, outcome="skipped", reason="running; --force cleans it too"
            )
        raise SessionError(
            f"{record.run_id} is running; stop it first (`scad session stop {record.run_id}`) or pass --force"
        )
    unfetched: list[Commit] = []
    for key, host_repo in record.repos.items():
        commits = await _unfetched(paths, record, key, Path(host_repo), force=force)
        unfetched += commits
    if record.container_id and force:
        # Stopped first, so that all it printed is in the log before it goes.
        await engine.stop(record.container_id, grace=STOP_GRACE)
    await catch_up(engine, home, record)
    await remove_containers(engine, home, record)
    await anyio.to_thread.run_sync(revoke_run, home, record.run_id)  # what it spent stays
    if record.mode == "interactive":
        # Counted (and kept) before the transcripts go: what was spent is a record.
        await anyio.to_thread.run_sync(summarise_transcripts, paths)
    for path in (paths.worktrees, paths.stores, paths.claude_dir, paths.inputs):
        await anyio.to_thread.run_sync(shutil.rmtree, path, True)
    paths.claude_json.unlink(missing_ok=True)
    record.cleaned = now_iso()
    await asave_run(home, record)
    discarded = f"discarded {len(unfetched)} commit(s)" if unfetched else None
    await append_event(paths, Cleaned(detail=discarded))
    return CleanResult(run_id=record.run_id, outcome="cleaned", discarded=unfetched)
