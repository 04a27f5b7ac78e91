"""A run's clones: made from the host repo, read back through scad's store."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from scad.clones import BranchAhead, Commit, create_clone, fetch_command, unfetched_work
from scad.errors import UnreadableClone

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None


def agent_git(clone: Path, *args: str) -> str:
    """git as the agent runs it, inside its own clone (a test may; scad never does)."""
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(clone), *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def commit(clone: Path, message: str) -> str:
    agent_git(clone, "commit", "-q", "--allow-empty", "-m", message)
    return agent_git(clone, "rev-parse", "HEAD").strip()


@pytest.fixture
async def clone(repo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run" / "worktrees" / "code"
    dest.parent.mkdir(parents=True)
    await create_clone(repo, dest, "scad-r", owner=AGENT)
    return dest


def store_of(clone: Path) -> Path:
    return clone.parent.parent / "stores" / "code.git"


async def test_a_fresh_clone_holds_nothing_the_host_lacks(clone: Path, repo: Path) -> None:
    assert await unfetched_work(clone, store_of(clone), repo) == []


async def test_a_clone_shares_no_file_with_its_host(clone: Path, repo: Path) -> None:
    host_inodes = {p.stat().st_ino for p in (repo / ".git" / "objects").rglob("*") if p.is_file()}
    clone_inodes = {p.stat().st_ino for p in (clone / ".git" / "objects").rglob("*") if p.is_file()}
    assert host_inodes and clone_inodes and not host_inodes & clone_inodes


async def test_every_branch_and_a_detached_head_count(clone: Path, repo: Path) -> None:
    first = commit(clone, "on the run branch")
    agent_git(clone, "checkout", "-q", "-b", "side")
    second = commit(clone, "on a side branch\x1b[31m red")
    agent_git(clone, "checkout", "-q", "--detach")
    third = commit(clone, "detached")
    agent_git(clone, "gc", "-q")  # packed objects and packed refs are read too

    ahead = await unfetched_work(clone, store_of(clone), repo)
    assert ahead == [
        BranchAhead(name="HEAD", commits=[Commit(third, "detached"),
                                          Commit(second, "on a side branch\\x1b[31m red"),
                                          Commit(first, "on the run branch")]),
        BranchAhead(name="scad-r", commits=[Commit(first, "on the run branch")]),
        BranchAhead(name="side", commits=[Commit(second, "on a side branch\\x1b[31m red"),
                                          Commit(first, "on the run branch")]),
    ]  # fmt: skip


async def test_the_suggested_fetch_brings_the_work_home(clone: Path, repo: Path) -> None:
    commit(clone, "work")
    agent_git(clone, "checkout", "-q", "--detach")
    commit(clone, "detached work")
    store = store_of(clone)
    ahead = await unfetched_work(clone, store, repo)
    command = fetch_command(repo, store, "scad-r", [b.name for b in ahead])
    assert command == (
        f"git -C {repo} fetch {store} HEAD:refs/heads/scad-r-head refs/heads/scad-r:refs/heads/scad-r"
    )
    await anyio.run_process(command, check=True)
    assert await unfetched_work(clone, store, repo) == []


async def test_a_clone_whose_host_repo_is_gone_is_read_from_its_own_objects(
    clone: Path, repo: Path, tmp_path: Path
) -> None:
    sha = commit(clone, "work")
    moved = tmp_path / "moved"
    repo.rename(moved)
    ahead = await unfetched_work(clone, store_of(clone), repo)
    # With no host to compare with, all the clone holds is at stake.
    assert [b.name for b in ahead] == ["main", "scad-r"]
    assert [c.subject for c in ahead[1].commits] == ["work", "init"]
    assert ahead[1].commits[0].sha == sha


async def test_a_clone_without_git_folder_is_unreadable(clone: Path, repo: Path) -> None:
    shutil.rmtree(clone / ".git")
    with pytest.raises(UnreadableClone, match=r"^clone code: \.git does not exist$"):
        await unfetched_work(clone, store_of(clone), repo)
