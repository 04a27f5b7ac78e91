"""A run's clones: made from the host repo, read back through scad's store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scad.code.clones import CloneWork, Commit, unfetched_work
from scad.errors import UnreadableClone

pytestmark = pytest.mark.anyio


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


def store_of(clone: Path) -> Path:
    return clone.parent.parent / "stores" / "code.git"


async def test_a_fresh_clone_holds_nothing_the_host_lacks(clone: Path, repo: Path) -> None:
    assert await unfetched_work(clone, store_of(clone), repo) == CloneWork(
        branches=[], total=0, commits=[]
    )


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

    work = await unfetched_work(clone, store_of(clone), repo)
    assert (work.branches, work.total) == (["HEAD", "scad-r", "side"], 3)
    # Newest first; commits made in the same second may come in either order.
    assert sorted(work.commits, key=lambda c: c.subject) == [
        Commit(third, "detached"),
        Commit(second, "on a side branch\\x1b[31m red"),
        Commit(first, "on the run branch"),
    ]


async def test_a_subject_cannot_make_up_commits(clone: Path, repo: Path) -> None:
    """Characters Python takes for line ends (U+2028, \\x1c, \\x85) inside a subject
    stay in it, shown escaped, instead of listing a commit that is not there."""
    fake = "0" * 40
    made = commit(clone, f"fix\u2028{fake} approved\x1cdone\x85ok")
    work = await unfetched_work(clone, store_of(clone), repo)
    assert work.commits == [Commit(made, f"fix\\u2028{fake} approved\\x1cdone\\x85ok")]


async def test_long_subjects_and_long_histories_are_cut(clone: Path, repo: Path) -> None:
    for n in range(60):
        commit(clone, f"{n} " + "x" * 500)
    work = await unfetched_work(clone, store_of(clone), repo)
    assert work.total == 60 and len(work.commits) == 50
    assert work.commits[0].subject.startswith("59 xxx") and len(work.commits[0].subject) == 120


async def test_a_clone_whose_host_repo_is_gone_is_read_from_its_own_objects(
    clone: Path, repo: Path, tmp_path: Path
) -> None:
    sha = commit(clone, "work")
    moved = tmp_path / "moved"
    repo.rename(moved)
    work = await unfetched_work(clone, store_of(clone), repo)
    # With no host to compare with, all the clone holds is at stake.
    assert work.branches == ["main", "scad-r"]
    assert [(c.sha, c.subject) for c in work.commits][:1] == [(sha, "work")]
    assert [c.subject for c in work.commits] == ["work", "init"]


async def test_a_clone_without_git_folder_is_unreadable(clone: Path, repo: Path) -> None:
    shutil.rmtree(clone / ".git")
    with pytest.raises(UnreadableClone, match=r"^clone code: \.git does not exist$"):
        await unfetched_work(clone, store_of(clone), repo)
