"""``session clean``: whatever an agent committed counts, however its clone reaches it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scad.code.clones import create_clone
from scad.errors import UnfetchedWork
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord, load_run, save_run
from scad.sessions import clean_session
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None


def agent_git(clone: Path, *args: str) -> str:
    """git as the agent runs it in its own clone (a test may; scad never does)."""
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(clone), *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def work(clone: Path, subject: str) -> str:
    (clone / "work.txt").write_text(subject)
    agent_git(clone, "add", "work.txt")
    agent_git(clone, "commit", "-q", "-m", subject)
    return agent_git(clone, "rev-parse", "HEAD")


def on_a_tag(clone: Path) -> None:
    work(clone, "tagged work")
    agent_git(clone, "tag", "-a", "-m", "t", "v1")
    agent_git(clone, "reset", "-q", "--hard", "HEAD~")
    agent_git(clone, "reflog", "expire", "--expire=now", "--all")


def in_the_stash(clone: Path) -> None:
    (clone / "README.md").write_text("stashed work\n")
    agent_git(clone, "stash", "push", "-q", "-m", "stashed work")


def in_an_older_stash_entry(clone: Path) -> None:
    in_the_stash(clone)
    (clone / "README.md").write_text("newer\n")
    agent_git(clone, "stash", "push", "-q", "-m", "newer")
    agent_git(clone, "stash", "drop", "-q", "stash@{0}")
    (clone / "README.md").write_text("newest\n")
    agent_git(clone, "stash", "push", "-q", "-m", "newest")


def in_a_reflog_only(clone: Path) -> None:
    work(clone, "reset away")
    agent_git(clone, "reset", "-q", "--hard", "HEAD~")


def in_a_note(clone: Path) -> None:
    agent_git(clone, "notes", "add", "-m", "noted work", "HEAD")
    agent_git(clone, "reflog", "expire", "--expire=now", "--all")


def under_another_ref(clone: Path) -> None:
    work(clone, "kept elsewhere")
    agent_git(clone, "update-ref", "refs/keep/mine", "HEAD")
    agent_git(clone, "reset", "-q", "--hard", "HEAD~")
    agent_git(clone, "reflog", "expire", "--expire=now", "--all")


def packed_away(clone: Path) -> None:
    on_a_tag(clone)
    agent_git(clone, "pack-refs", "--all")
    agent_git(clone, "gc", "-q", "--prune=never")


def in_a_linked_worktree(clone: Path) -> None:
    side = clone.parent / "side"
    agent_git(clone, "worktree", "add", "-q", "--detach", str(side))
    work(side, "worktree work")


SHAPES: dict[str, tuple[Callable[[Path], None], str]] = {
    "tag": (on_a_tag, "tagged work"),
    "stash": (in_the_stash, "On scad-r: stashed work"),
    "older-stash-entry": (in_an_older_stash_entry, "On scad-r: stashed work"),
    "reflog": (in_a_reflog_only, "reset away"),
    "note": (in_a_note, "Notes added by 'git notes add'"),
    "other-ref": (under_another_ref, "kept elsewhere"),
    "packed": (packed_away, "tagged work"),
    "linked-worktree": (in_a_linked_worktree, "worktree work"),
}


async def make_run(tmp_path: Path, repo: Path) -> tuple[Home, RunRecord]:
    home = Home(tmp_path / "home")
    paths = RunPaths(home, "r")
    paths.worktrees.mkdir(parents=True)
    await create_clone(repo, paths.clone("code"), "scad-r", owner=AGENT)
    record = RunRecord(run_id="r", config="p", tag="t", mode="headless", image="i",
                       branch="scad-r", created="2026-11-27T00:00:00.000Z",
                       repos={"code": str(repo)})  # fmt: skip
    save_run(home, record)
    return home, record


@pytest.mark.parametrize("shape", [pytest.param(s, id=i) for i, s in SHAPES.items()])
async def test_clean_refuses_work_reachable_only_from_outside_the_branches(
    tmp_path: Path, repo: Path, shape: tuple[Callable[[Path], None], str]
) -> None:
    plant, subject = shape
    home, record = await make_run(tmp_path, repo)
    clone = RunPaths(home, "r").clone("code")
    plant(clone)
    engine = FakeEngine()
    with pytest.raises(UnfetchedWork) as refused:
        await clean_session(engine, home, record, force=False)
    assert f"{subject!r}" in str(refused.value)
    assert "pass --force to discard them" in str(refused.value)
    assert clone.is_dir()
    result = await clean_session(engine, home, record, force=True)
    assert result.outcome == "cleaned" and not clone.exists()
    assert subject in [c.subject for c in result.discarded]
    assert load_run(home, "r").cleaned


async def test_the_host_own_history_a_clone_remembers_is_not_the_agent_work(
    tmp_path: Path, repo: Path
) -> None:
    """The clone's reflog and origin/* hold the host's main as it was; the user then
    rewrote it. Those commits are the host's, which still has them: nothing is lost."""
    home, record = await make_run(tmp_path, repo)
    agent_git(repo, "commit", "-q", "--amend", "-m", "init, reworded")
    result = await clean_session(FakeEngine(), home, record, force=False)
    assert result.outcome == "cleaned" and result.discarded == []


@pytest.mark.parametrize(
    ("plant", "problem"),
    [
        pytest.param(
            lambda git_dir: (git_dir / "logs" / "refs" / "stash").symlink_to("/etc/passwd"),
            ".git/logs/refs/stash is a symbolic link; not followed",
            id="a-linked-reflog",
        ),
        pytest.param(
            lambda git_dir: (git_dir / "refs" / "tags" / "v1").write_text("not an id\n"),
            ".git/refs/tags/v1 does not hold an object id",
            id="a-tag-of-nothing",
        ),
    ],
)
async def test_what_keeps_commits_but_cannot_be_read_stops_clean_and_not_fetch(
    tmp_path: Path, repo: Path, plant: Callable[[Path], None], problem: str
) -> None:
    from scad.code.fetch import fetch_run

    home, record = await make_run(tmp_path, repo)
    clone = RunPaths(home, "r").clone("code")
    mine = work(clone, "on the branch")
    (clone / ".git" / "logs" / "refs").mkdir(parents=True, exist_ok=True)
    plant(clone / ".git")
    with pytest.raises(UnfetchedWork, match="cannot tell whether clone code holds") as refused:
        await clean_session(FakeEngine(), home, record, force=False)
    assert f"({problem}); pass --force" in str(refused.value)
    (fetched,) = (await fetch_run(home, record)).repos
    assert fetched.problem is None
    assert agent_git(repo, "rev-parse", "scad-r") == mine


def in_a_pack_scad_does_not_read(git_dir: Path) -> None:
    """git reads a pack of any name with its index; scad's copy takes pack-<id> only."""
    clone = git_dir.parent
    on_a_tag(clone)
    agent_git(clone, "repack", "-a", "-d", "-q")
    for old in (git_dir / "objects" / "pack").glob("pack-*"):
        old.rename(old.with_name("pack-x" + old.suffix))


async def test_a_kept_commit_scad_cannot_read_stops_clean(tmp_path: Path, repo: Path) -> None:
    """What git can still reach but scad's copy of the clone lacks is not taken for
    no work: clean refuses, and says why."""
    home, record = await make_run(tmp_path, repo)
    in_a_pack_scad_does_not_read(RunPaths(home, "r").clone("code") / ".git")
    with pytest.raises(UnfetchedWork, match="cannot tell whether clone code holds") as refused:
        await clean_session(FakeEngine(), home, record, force=False)
    assert "not among the objects scad could read" in str(refused.value)


async def test_a_reflog_past_the_bound_is_not_read(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scad.code import _refs

    monkeypatch.setattr(_refs, "REFLOG_BUDGET", 1000)
    home, record = await make_run(tmp_path, repo)
    clone = RunPaths(home, "r").clone("code")
    for n in range(10):
        work(clone, f"commit {n}")
    with pytest.raises(UnfetchedWork, match=r"\.git/logs/.* over the 1000-byte bound"):
        await clean_session(FakeEngine(), home, record, force=False)


@pytest.mark.parametrize("shape", [pytest.param(s, id=i) for i, s in SHAPES.items()])
async def test_what_fetch_brought_home_clean_lets_go_of(
    tmp_path: Path, repo: Path, shape: tuple[Callable[[Path], None], str]
) -> None:
    from scad.code.fetch import fetch_run

    plant, subject = shape
    home, record = await make_run(tmp_path, repo)
    plant(RunPaths(home, "r").clone("code"))
    (fetched,) = (await fetch_run(home, record)).repos
    assert fetched.problem is None
    kept = [b for b in fetched.branches if b.action == "kept"]
    assert kept and all(b.target and b.target.startswith("scad/r/kept/") for b in kept)
    logged = agent_git(repo, "log", "--format=%s", *(f"refs/heads/{b.target}" for b in kept))
    assert subject in logged.splitlines()
    result = await clean_session(FakeEngine(), home, record, force=False)
    assert result.outcome == "cleaned" and result.discarded == []
