"""Checking a run: what it committed, read through scad's store of each clone, judged
by the config's checks; each check's event goes into the run's log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from ..code import git, hostrepo
from ..code.borrowed import run_lender
from ..code.snapshot import CloneSnapshot
from ..code.work import has_work, snapshot_work
from ..config.schema import Config
from ..engine import Engine
from ..errors import GitError, SessionError, UnreadableClone
from ..home import Home
from ..runs.catchup import catch_up
from ..runs.envelopes import Checked
from ..runs.events import append_event
from ..runs.records import RunPaths, RunRecord
from .commits import judge
from .report import CheckReport, CheckSource
from .tail import OutputTail

__all__ = ["check_run", "run_sources"]


async def check_run(
    engine: Engine,
    home: Home,
    config: Config,
    record: RunRecord,
    *,
    time_limit: float | None = None,
) -> CheckReport | None:
    """Judge what the run committed with ``config``'s checks, in containers of the
    run's image, and log each check; None when it committed nothing. Checks logged
    before the run's container exited (it was still going) judge none of its lives. A
    clone that cannot be read without trusting it fails every check, saying why.
    Raises SessionError for a cleaned run, EngineUnavailable when the engine is away."""
    # The log first holds the run's exit (an unwatched run's is caught up now): a
    # check is read as judging the life that ended before it.
    await catch_up(engine, home, record)
    paths = RunPaths(home, record.run_id)

    async def logged(checked: Checked) -> None:
        await append_event(paths, checked)

    try:
        sources = await run_sources(home, record)
    except UnreadableClone as exc:
        return await _unjudged(config, f"scad: {exc}", logged)
    if sources is None:
        return None
    return await judge(
        engine, home, config, sources, image=record.image, time_limit=time_limit, on_checked=logged
    )


async def _unjudged(
    config: Config, why: str, on_checked: Callable[[Checked], Awaitable[None]]
) -> CheckReport:
    """Every check failed, none run: what the run committed cannot be read."""
    tail = OutputTail()  # an agent chose the names in ``why``
    tail.add(why.encode())
    checks = [Checked(name=check.name, output=tail.text()) for check in config.checks]
    for checked in checks:
        await on_checked(checked)
    return CheckReport(checks=checks)


async def run_sources(home: Home, record: RunRecord) -> list[CheckSource] | None:
    """What the run has to be judged on, one source per repo (a repo it left alone at
    its base); None when it committed nothing."""
    if record.cleaned:
        raise SessionError(f"{record.run_id} was cleaned; its clones are gone")
    paths = RunPaths(home, record.run_id)
    sources, committed = [], False
    for key, host_repo in record.repos.items():
        if not has_work(paths, key):
            raise SessionError(f"{record.run_id}: the clone of {key} is gone")
        snapshot = await snapshot_work(
            paths, key, Path(host_repo), record.branch, lender=run_lender(home, record, key)
        )
        store = Path(snapshot.store)
        try:
            tip = _tip(snapshot, record.branch)
            base = record.bases.get(key) or await _fork_point(store, Path(host_repo), tip)
            if tip is None or (
                base is not None and not await git.count_commits(store, [tip], [base])
            ):
                if base is None:
                    continue  # nothing there to judge, nothing to stand for it
                sources.append(CheckSource(repo=key, git_dir=str(store), commit=base, base=base))
                continue
        except GitError as exc:
            raise UnreadableClone(key, str(exc)) from None
        committed = True
        sources.append(CheckSource(repo=key, git_dir=str(store), commit=tip, base=base))
    return sources if committed else None


def _tip(snapshot: CloneSnapshot, branch: str) -> str | None:
    """The run's branch, else what the clone has checked out."""
    if branch in snapshot.branches:
        return snapshot.branches[branch]
    if snapshot.head_branch is not None:
        return snapshot.branches.get(snapshot.head_branch)
    return snapshot.detached


async def _fork_point(store: Path, host_repo: Path, tip: str | None) -> str | None:
    """For a run recorded before its bases were: where its branch left the host's."""
    host = await hostrepo.default_tip(host_repo)
    if host is None or tip is None:
        return host
    try:
        return (await git.store_git(store, "merge-base", tip, host)).strip() or None
    except GitError:  # unrelated histories
        return None
