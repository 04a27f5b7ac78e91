"""``scad code sync``: the host repos' branches into a run's clones.

The host's branches become the clone's ``origin/*`` and its default branch is
fast-forwarded, so an agent, running or not, sees commits made on the host
since it started. git makes the pack in scad's store (which holds the clone's
objects and borrows the host's); :mod:`scad.code.clonewrite` puts it and the refs
into the clone as data. Only what needs a working tree (switching branches,
fast-forwarding the branch the clone has checked out) runs git in the clone,
and then inside the session's container, as the agent, where its own config
can reach nothing of the host's.
"""

from __future__ import annotations

import secrets
import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import msgspec

from ..errors import AgentFileError, GitError, SessionError, UnreadableClone, UsageError
from ..home import Home
from ..layout import WORKSPACE, agent_owner
from ..runs.records import RunPaths, RunRecord
from ..text import printable
from . import git, hostrepo
from .borrowed import run_lender
from .clonewrite import RefBusy, add_pack, update_ref
from .snapshot import CloneSnapshot, snapshot_clone, valid_branch

if TYPE_CHECKING:
    from ..engine import Engine, ExecResult

__all__ = ["RepoSync", "RunSync", "sync_run"]

#: up-to-date, fast-forwarded, created (the clone had none), diverged (reported, not
#: reset), checked-out (the clone works on it and the session is not running, so its
#: working tree cannot follow), busy (git in the session held the ref), kept
#: (``--no-update-main``), or none (the host's HEAD is detached).
MainUpdate = Literal[
    "up-to-date", "fast-forwarded", "created", "diverged", "checked-out", "busy", "kept", "none"
]


class RepoSync(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    #: The branch checked out in the host repo.
    default_branch: str | None
    #: Commits the clone did not have.
    commits: int = 0
    #: ``origin/*`` branches written.
    remote_branches: int = 0
    #: What became of the clone's default branch; None when the clone had a problem.
    main: MainUpdate | None = None
    #: The branch the clone was switched to (``--checkout``).
    checkout: str | None = None
    problem: str | None = None


class RunSync(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    running: bool
    repos: list[RepoSync]
    #: Each clone's problem, as one line naming the run and the clone.
    problems: list[str] = []


async def sync_run(
    engine: Engine,
    home: Home,
    record: RunRecord,
    *,
    checkout: str | None = None,
    update_main: bool = True,
) -> RunSync:
    """Bring the host's branches into every clone of ``record``; with ``checkout``,
    switch the clones to that branch. A checkout is refused before anything
    changes when the session is not running, a clone has uncommitted changes, or
    neither a clone nor its host repo has the branch."""
    if record.cleaned:
        raise SessionError(f"{record.run_id} was cleaned; its clones are gone")
    paths = RunPaths(home, record.run_id)
    state = await engine.inspect(record.container_id) if record.container_id else None
    running = state is not None and state.running
    container = record.container_id if running else None
    local: dict[str, bool] = {}
    if checkout is not None:
        _check_checkout(record, container, checkout)
        assert container is not None
        # Every clone must be able to switch before anything changes.
        for key, host_repo in record.repos.items():
            local[key] = await _can_switch(engine, container, key, Path(host_repo), checkout)
    repos = [
        await _sync_repo(
            engine,
            paths,
            key,
            Path(host_repo),
            run_lender(home, record, key),
            container,
            update_main,
        )
        for key, host_repo in record.repos.items()
    ]
    if checkout is not None and container is not None:
        for index, synced in enumerate(repos):
            if synced.problem is None:
                switch = (
                    (checkout,) if local[synced.key] else ("-b", checkout, f"origin/{checkout}")
                )
                await _exec_git(engine, container, synced.key, "checkout", "--quiet", *switch, "--")
                repos[index] = msgspec.structs.replace(synced, checkout=checkout)
    problems = [f"{record.run_id}: {r.key}: {r.problem}" for r in repos if r.problem]
    return RunSync(run_id=record.run_id, running=running, repos=repos, problems=problems)


def _check_checkout(record: RunRecord, container: str | None, branch: str) -> None:
    if container is None:
        raise SessionError(
            f"{record.run_id} is not running; --checkout switches a running session's "
            f"clones (start it again with `scad session resume {record.run_id}`)"
        )
    if branch.startswith("-") or not valid_branch(branch):
        raise UsageError(f"{branch!r} is not a branch name git accepts")


async def _can_switch(
    engine: Engine, container: str, key: str, host_repo: Path, branch: str
) -> bool:
    """Whether clone ``key`` can switch to ``branch``: True when it has the branch, False
    when its host repo has it (it comes as ``origin/``); else refused with why."""
    changes = await _exec_git(engine, container, key, "status", "--porcelain")
    if changes.output.strip():
        raise SessionError(
            f"clone {key} has uncommitted changes; commit or stash them in the session "
            f"before switching it to {branch}"
        )
    ref = f"refs/heads/{branch}"
    found = await _exec_git(
        engine, container, key, "rev-parse", "--verify", "--quiet", ref, check=False
    )
    if found.exit_code == 0:
        return True
    if await hostrepo.is_repository(host_repo) and branch in await hostrepo.branch_tips(host_repo):
        return False
    raise SessionError(f"clone {key} has no branch {branch}, nor has its host repo")


async def _exec_git(
    engine: Engine, container: str, key: str, *args: str, check: bool = True
) -> ExecResult:
    """git in the session's container, as the agent, in clone ``key``."""
    result = await engine.exec(container, ["git", "-C", str(WORKSPACE / key), *args])
    if check and result.exit_code != 0:
        lines = result.output.strip().splitlines()
        last = printable(lines[-1]) if lines else f"exit code {result.exit_code}"
        raise SessionError(f"git {args[0]} in clone {key} failed in the session: {last}")
    return result


async def _sync_repo(
    engine: Engine,
    paths: RunPaths,
    key: str,
    host_repo: Path,
    lender: Path,
    container: str | None,
    update_main: bool,
) -> RepoSync:
    clone, store = paths.clone(key), paths.store(key)
    if not clone.is_dir():
        return RepoSync(key=key, default_branch=None, problem="the clone is gone")
    if not await hostrepo.is_repository(host_repo):
        return RepoSync(
            key=key, default_branch=None, problem=f"{host_repo} is not a git repository"
        )
    default = await hostrepo.current_branch(host_repo)
    default_branch = None if default == "(detached)" else default
    try:
        snapshot = await snapshot_clone(clone, store, host_repo, borrowed=lender)
        host = await hostrepo.branch_tips(host_repo)
        commits = await _send_objects(paths, store, clone, snapshot, host)
        await anyio.to_thread.run_sync(_write_origin, clone, host, agent_owner())
        main: MainUpdate = "kept"
        if default_branch is None or default_branch not in host:  # detached, or no commit yet
            main = "none"
        elif update_main:
            main = await _update_main(
                engine, clone, store, snapshot, default_branch, host[default_branch], container, key
            )
    except (UnreadableClone, AgentFileError, GitError, SessionError, RefBusy) as exc:
        return RepoSync(key=key, default_branch=default_branch, problem=str(exc))
    except OSError as exc:  # a folder where a ref belongs, say: the agent's to untangle
        return RepoSync(
            key=key, default_branch=default_branch, problem=f"cannot write into it: {exc}"
        )
    return RepoSync(
        key=key,
        default_branch=default_branch,
        commits=commits,
        remote_branches=len(host),
        main=main,
    )


def _write_origin(clone: Path, host: dict[str, str], owner: tuple[int, int] | None) -> None:
    """The host's branches as the clone's ``origin/*`` (scad's to write: origin is the host)."""
    for branch, tip in host.items():
        update_ref(
            clone, f"refs/remotes/origin/{branch}", tip, old=None, owner=owner, check_old=False
        )


async def _send_objects(
    paths: RunPaths, store: Path, clone: Path, snapshot: CloneSnapshot, host: dict[str, str]
) -> int:
    """Give the clone the host's commits it lacks (one pack); how many commits."""
    has = [*snapshot.branches.values(), *([snapshot.detached] if snapshot.detached else [])]
    count = await git.count_commits(store, host.values(), has)
    if not count:
        return 0
    work = paths.root / f".sync-{secrets.token_hex(6)}"  # scad's own folder, beside the clones
    work.mkdir(mode=0o700)
    try:
        wanted = git.revisions(host.values(), has)
        pack_args = ("pack-objects", "--revs", "--quiet", str(work / "pack"))
        name = (await git.store_git(store, *pack_args, input=wanted)).strip()
        pack = work / f"pack-{name}.pack"
        await anyio.to_thread.run_sync(
            add_pack, clone, pack, pack.with_suffix(".idx"), agent_owner()
        )
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, work, True)
    return count


async def _update_main(
    engine: Engine,
    clone: Path,
    store: Path,
    snapshot: CloneSnapshot,
    branch: str,
    host_tip: str,
    container: str | None,
    key: str,
) -> MainUpdate:
    ours = snapshot.branches.get(branch)
    if ours == host_tip:
        return "up-to-date"
    if ours is not None and await git.count_commits(store, [ours], [host_tip]):
        return "diverged"
    if snapshot.head_branch == branch:
        if container is None:
            return "checked-out"
        await _exec_git(engine, container, key, "merge", "--ff-only", "--quiet", host_tip)
        return "fast-forwarded"
    try:
        await anyio.to_thread.run_sync(
            partial(update_ref, clone, f"refs/heads/{branch}", host_tip,
                    old=ours, owner=agent_owner(), check_old=True)
        )  # fmt: skip
    except RefBusy:
        return "busy"
    return "created" if ours is None else "fast-forwarded"
