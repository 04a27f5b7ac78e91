"""Stopping and cleaning sessions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..clones import Commit, fetch_command, unfetched_work
from ..errors import SessionError, UnfetchedWork, UnreadableClone
from ..events import append_event
from ..home import Home
from ..runs import RunPaths, RunRecord, list_runs, load_run, now_iso, save_run
from .logs import catch_up

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["CleanResult", "StopResult", "clean_session", "select_runs", "stop_sessions"]

STOP_GRACE = 10


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
    home: Home, *, run_ids: tuple[str, ...], all_runs: bool, config: str | None
) -> list[RunRecord]:
    """The runs a stop/clean addresses: named ones, all, or one config's."""
    if run_ids:
        return [load_run(home, run_id) for run_id in run_ids]
    records = [r for r in list_runs(home) if not r.cleaned]
    return [r for r in records if all_runs or r.config == config]


async def _running(engine: Engine, record: RunRecord) -> bool:
    if not record.container_id:
        return False
    state = await engine.inspect(record.container_id)
    return state is not None and state.running


async def stop_sessions(engine: Engine, home: Home, records: list[RunRecord]) -> list[StopResult]:
    """Stop the sessions' containers concurrently; clones and state are kept."""
    results: dict[str, StopResult] = {}

    async def stop(record: RunRecord) -> None:
        if not await _running(engine, record):
            results[record.run_id] = StopResult(run_id=record.run_id, outcome="not-running")
            return
        assert record.container_id is not None
        await engine.stop(record.container_id, grace=STOP_GRACE)
        await catch_up(engine, home, record)
        append_event(RunPaths(home, record.run_id), "stopped")
        results[record.run_id] = StopResult(run_id=record.run_id, outcome="stopped")

    async with anyio.create_task_group() as tg:
        for record in records:
            tg.start_soon(stop, record)
    return [results[r.run_id] for r in records]


async def _unfetched(
    paths: RunPaths, record: RunRecord, key: str, host_repo: Path, *, force: bool
) -> list[Commit]:
    """The clone's commits the host lacks; unless ``force``, refuses to go on when
    there are some or when the clone cannot be read."""
    clone = paths.clone(key)
    if not clone.is_dir():
        return []
    try:
        ahead = await unfetched_work(clone, paths.store(key), host_repo)
    except UnreadableClone as exc:
        if force:
            return []
        raise UnfetchedWork(
            f"{record.run_id}: cannot tell whether clone {key} holds commits the host lacks "
            f"({exc.problem}); pass --force to discard it unread"
        ) from None
    commits = list({c.sha: c for branch in ahead for c in branch.commits}.values())
    if commits and not force:
        listed = ", ".join(f"{c.sha[:8]} {c.subject!r}" for c in commits[:5])
        more = f" and {len(commits) - 5} more" if len(commits) > 5 else ""
        command = fetch_command(host_repo, paths.store(key), record.branch, [b.name for b in ahead])
        raise UnfetchedWork(
            f"{record.run_id}: clone {key} has {len(commits)} commit(s) not in {host_repo}: "
            f"{listed}{more}; fetch them ({command}) or pass --force to discard them"
        )
    return commits


async def clean_session(
    engine: Engine, home: Home, record: RunRecord, *, force: bool, skip_running: bool = False
) -> CleanResult:
    """Remove a run's container, clones and Claude state; its record and event log stay.

    Unless ``force``, a running session is refused (or, with ``skip_running``,
    passed over) and so is one whose clones hold commits the host repo lacks.
    """
    paths = RunPaths(home, record.run_id)
    if record.cleaned:
        return CleanResult(run_id=record.run_id, outcome="skipped", reason="already cleaned")
    if await _running(engine, record) and not force:
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
    await catch_up(engine, home, record)
    if record.container_id:
        await engine.remove(record.container_id, force=True)
    for path in (paths.worktrees, paths.stores, paths.claude_dir, paths.inputs):
        await anyio.to_thread.run_sync(shutil.rmtree, path, True)
    paths.claude_json.unlink(missing_ok=True)
    record.cleaned = now_iso()
    save_run(home, record)
    append_event(
        paths, "cleaned", detail=f"discarded {len(unfetched)} commit(s)" if unfetched else None
    )
    return CleanResult(run_id=record.run_id, outcome="cleaned", discarded=unfetched)
