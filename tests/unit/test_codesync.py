"""`scad code sync` on a session that is not running: the host's branches reach the
clone as data, and git never runs in the clone on the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scad.code.sync import sync_run
from scad.engine._types import ContainerSpec
from scad.errors import SessionError, UsageError
from scad.runs.records import RunPaths
from tests.fakes import FakeEngine
from tests.unit.test_codefetch import BRANCH, RUN, commit, git, make_run

pytestmark = pytest.mark.anyio


async def test_the_host_main_reaches_the_clone_and_its_main_fast_forwards(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    agent_work = commit(clone, "agent.txt")
    git(repo, "branch", "feature")
    first = commit(repo, "host-1.txt")
    second = commit(repo, "host-2.txt")

    result = await sync_run(FakeEngine(), home, record)
    (repo_sync,) = result.repos
    assert (repo_sync.problem, repo_sync.main, repo_sync.commits) == (None, "fast-forwarded", 2)
    assert repo_sync.remote_branches == 2 and not result.running
    assert git(clone, "rev-parse", "main", "origin/main", "origin/feature").split() == [
        second,
        second,
        git(repo, "rev-parse", "feature"),
    ]
    assert git(clone, "rev-parse", "HEAD") == agent_work  # the agent's branch is its own
    assert git(clone, "status", "--porcelain") == ""
    assert first in git(clone, "rev-list", "main")
    git(clone, "fsck", "--strict", "--no-dangling")  # what scad wrote is a sound repository
    if os.getuid() == 0:
        for path in (clone / ".git" / "objects" / "pack").iterdir():
            assert path.stat().st_uid == 1000  # the agent can repack what it was given

    again = (await sync_run(FakeEngine(), home, record)).repos[0]
    assert (again.main, again.commits) == ("up-to-date", 0)


async def test_a_diverged_main_is_reported_not_reset_and_no_update_main_keeps_it(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "main")
    mine = commit(clone, "agent-main.txt")
    git(clone, "checkout", "-q", BRANCH)
    host = commit(repo, "host.txt")

    (kept,) = (await sync_run(FakeEngine(), home, record, update_main=False)).repos
    assert kept.main == "kept" and git(clone, "rev-parse", "origin/main") == host
    (diverged,) = (await sync_run(FakeEngine(), home, record)).repos
    assert diverged.main == "diverged"
    assert git(clone, "rev-parse", "main") == mine


async def test_a_main_checked_out_in_a_stopped_session_is_left_for_its_working_tree(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "main")
    before = git(clone, "rev-parse", "main")
    host = commit(repo, "host.txt")
    (result,) = (await sync_run(FakeEngine(), home, record)).repos
    assert result.main == "checked-out"
    assert git(clone, "rev-parse", "main", "origin/main").split() == [before, host]
    assert git(clone, "status", "--porcelain") == ""


async def test_a_ref_locked_by_git_in_the_session_is_left_alone(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    before = git(clone, "rev-parse", "main")
    commit(repo, "host.txt")
    (clone / ".git" / "refs" / "heads" / "main.lock").write_text("in use\n")
    (result,) = (await sync_run(FakeEngine(), home, record)).repos
    assert result.main == "busy"
    assert git(clone, "rev-parse", "main") == before
    assert (clone / ".git" / "refs" / "heads" / "main.lock").read_text() == "in use\n"


@pytest.mark.parametrize("planted", ["refs/remotes", "refs/remotes/origin", "objects/pack"])
async def test_a_link_planted_in_the_clone_git_is_never_written_through(
    tmp_path: Path, repo: Path, planted: str
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = clone / ".git" / planted
    if target.exists():
        target.rename(outside / "was-there")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(outside)
    listing = sorted(p.name for p in outside.iterdir())
    commit(repo, "host.txt")

    (result,) = (await sync_run(FakeEngine(), home, record)).repos
    assert result.problem is not None and "symbolic link" in result.problem
    assert sorted(p.name for p in outside.iterdir()) == listing


async def test_checkout_needs_a_running_session_and_a_branch_name(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    with pytest.raises(SessionError, match=f"^{RUN} is not running; --checkout switches"):
        await sync_run(FakeEngine(), home, record, checkout="main")
    engine = FakeEngine()
    record.container_id = await engine.create_container(_spec())
    await engine.start(record.container_id)
    for bad in ("--force", "a..b", "HEAD"):
        with pytest.raises(UsageError, match="is not a branch name git accepts"):
            await sync_run(engine, home, record, checkout=bad)


def _spec() -> ContainerSpec:
    return ContainerSpec(name="n", image="i", command=["true"], labels={})


@pytest.mark.parametrize("planted", ["lock", "folder"])
async def test_a_stale_lock_or_a_folder_in_origin_is_that_clone_problem_only(
    tmp_path: Path, repo: Path, planted: str
) -> None:
    from tests.conftest import make_repo

    other = make_repo(tmp_path / "other")
    home, record = await make_run(tmp_path, {"code": repo, "docs": other})
    origin = RunPaths(home, RUN).clone("code") / ".git" / "refs" / "remotes" / "origin"
    origin.mkdir(parents=True, exist_ok=True)
    if planted == "lock":
        (origin / "main.lock").write_text("left by a killed git\n")
    else:
        (origin / "main").unlink(missing_ok=True)
        (origin / "main").mkdir()
    news = commit(other, "news.txt")
    code, docs = (await sync_run(FakeEngine(), home, record)).repos
    assert code.problem is not None and docs.problem is None
    assert git(RunPaths(home, RUN).clone("docs"), "rev-parse", "origin/main") == news


async def test_a_host_on_a_branch_with_no_commit_yet_has_no_main_to_bring(
    tmp_path: Path, repo: Path
) -> None:
    """The host switched to a branch it has not committed to (``git switch --orphan``):
    there is no main to bring; the host's other branches still come."""
    home, record = await make_run(tmp_path, {"code": repo})
    git(repo, "switch", "-q", "--orphan", "fresh")
    (result,) = (await sync_run(FakeEngine(), home, record)).repos
    assert (result.problem, result.default_branch, result.main) == (None, "fresh", "none")
    clone = RunPaths(home, RUN).clone("code")
    assert git(clone, "rev-parse", "origin/main") == git(repo, "rev-parse", "main")
