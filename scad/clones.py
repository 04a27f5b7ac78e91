"""A run's clones: ``git clone --local`` of each repo, on the run's branch.

Every git command here goes through :mod:`scad.git`, so nothing an agent writes
into a clone's git config or hooks runs on the host.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import msgspec

from . import git
from .agentfs import printable
from .config import Config
from .errors import ConfigError, GitError, UnreadableClone
from .snapshot import snapshot_clone

__all__ = [
    "BranchAhead",
    "Commit",
    "check_repos",
    "create_clone",
    "fetch_command",
    "unfetched_work",
]

DEFAULT_IDENTITY = ("scad agent", "agent@scad.invalid")


class Commit(msgspec.Struct, frozen=True):
    sha: str
    subject: str


async def check_repos(config: Config, label: str) -> None:
    """Every repo is a git repository and every focus folder exists; else one clear line."""
    for key, repo in config.repos.items():
        path = Path(repo.path)
        if not await git.is_repository(path):
            what = "does not exist" if not path.exists() else "is not a git repository"
            raise ConfigError(
                label,
                f"{repo.path} {what}; fix the path or run `git init` there",
                field=f"repos.{key}.path",
            )
        if repo.focus and not (path / repo.focus).is_dir():
            raise ConfigError(
                label, f"{repo.focus} is not a folder in {repo.path}", field=f"repos.{key}.focus"
            )


async def _identity(host_repo: Path) -> tuple[str, str]:
    name = (await git.git(host_repo, "config", "--get", "user.name", check=False)).strip()
    email = (await git.git(host_repo, "config", "--get", "user.email", check=False)).strip()
    return name or DEFAULT_IDENTITY[0], email or DEFAULT_IDENTITY[1]


async def create_clone(
    host_repo: Path, dest: Path, branch: str, *, owner: tuple[int, int] | None
) -> None:
    """Clone ``host_repo`` to ``dest`` on a new ``branch``; origin is the host repo.

    The clone never shares files with the host repo (``--no-hardlinks``): a
    hardlinked object would let the agent rewrite the host's copy in place.
    With ``owner`` (a root host lending files to the agent's uid) the new clone
    is handed over before any agent sees it.
    """
    await git.git(
        dest.parent, "clone", "--local", "--quiet", "--no-hardlinks", str(host_repo), dest.name
    )
    await git.git(dest, "checkout", "--quiet", "-b", branch)
    name, email = await _identity(host_repo)
    await git.git(dest, "config", "user.name", name)
    await git.git(dest, "config", "user.email", email)
    if owner is not None:
        chown_tree(dest, owner)


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    os.chown(root, *owner, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), *owner, follow_symlinks=False)


class BranchAhead(msgspec.Struct, frozen=True, kw_only=True):
    """A branch of a clone with commits that no ref of the host repo reaches."""

    #: The branch name, or ``HEAD`` for a detached HEAD.
    name: str
    commits: list[Commit]


async def unfetched_work(clone: Path, store: Path, host_repo: Path) -> list[BranchAhead]:
    """The clone's branches (and a detached HEAD) holding commits the host repo lacks.

    A commit counts as fetched once a ref of the host repo reaches it. The clone
    is read through :mod:`scad.snapshot`: git never runs in it. Raises
    UnreadableClone when it cannot be read without trusting it.
    """
    snapshot = await snapshot_clone(clone, store, host_repo)
    tips = dict(snapshot.branches)
    if snapshot.detached:
        tips["HEAD"] = snapshot.detached
    if not tips:
        return []
    host_tips = ""
    if await git.is_repository(host_repo):
        host_tips = await git.git(host_repo, "for-each-ref", "--format=%(objectname)")
    ahead = []
    for name, tip in sorted(tips.items()):
        # Host tips are in the store through its alternates; the clone's in its copies.
        revisions = "".join([f"{tip}\n", *(f"^{oid}\n" for oid in host_tips.split())])
        try:
            out = await git.store_git(
                store, "log", "--stdin", "--format=%H %s", input=revisions.encode()
            )
        except GitError as exc:
            raise UnreadableClone(clone.name, str(exc)) from None
        commits = [
            Commit(sha, printable(subject))
            for sha, _, subject in (line.partition(" ") for line in out.splitlines())
        ]
        if commits:
            ahead.append(BranchAhead(name=name, commits=commits))
    return ahead


def fetch_command(host_repo: Path, store: Path, run_branch: str, branches: list[str]) -> str:
    """The shell command that brings ``branches`` of a clone into the host repo.

    It fetches from the run's store (scad's copy of the clone), never from the
    clone itself, so no configuration an agent wrote takes part.
    """
    specs = [
        f"HEAD:refs/heads/{run_branch}-head" if b == "HEAD" else f"refs/heads/{b}:refs/heads/{b}"
        for b in branches
    ]
    return shlex.join(["git", "-C", str(host_repo), "fetch", str(store), *specs])
