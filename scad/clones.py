"""A run's clones: ``git clone --local`` of each repo, on the run's branch.

Every git command here goes through :mod:`scad.git`, so nothing an agent writes
into a clone's git config or hooks runs on the host.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from . import git
from .config import Config
from .errors import ConfigError, GitError, UnreadableClone
from .snapshot import snapshot_clone
from .text import printable

__all__ = [
    "MAX_COUNTED",
    "CloneWork",
    "Commit",
    "check_repos",
    "create_clone",
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
    found = await git.git(host_repo, "config", "--get-regexp", r"^user\.(name|email)$", check=False)
    values = dict(line.split(" ", 1) for line in found.splitlines() if " " in line)
    return (
        values.get("user.name", "").strip() or DEFAULT_IDENTITY[0],
        values.get("user.email", "").strip() or DEFAULT_IDENTITY[1],
    )


async def create_clone(
    host_repo: Path, dest: Path, branch: str, *, owner: tuple[int, int] | None
) -> None:
    """Clone ``host_repo`` to ``dest`` on a new ``branch``; origin is the host repo.

    The clone never shares files with the host repo (``--no-hardlinks``): a
    hardlinked object would let the agent rewrite the host's copy in place.
    With ``owner`` (a root host lending files to the agent's uid) the new clone
    is handed over before any agent sees it.
    """
    name, email = await _identity(host_repo)
    await git.git(
        dest.parent, "clone", "--local", "--quiet", "--no-hardlinks",
        "--config", f"user.name={name}", "--config", f"user.email={email}",
        str(host_repo), dest.name,
    )  # fmt: skip
    await git.git(dest, "checkout", "--quiet", "-b", branch)
    if owner is not None:
        chown_tree(dest, owner)


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    os.chown(root, *owner, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), *owner, follow_symlinks=False)


class CloneWork(msgspec.Struct, frozen=True, kw_only=True):
    """What a clone holds that no ref of the host repo reaches."""

    #: Branches (``HEAD`` for a detached HEAD) whose tips the host lacks.
    branches: list[str]
    #: How many commits in all (``MAX_COUNTED + 1`` means "more than MAX_COUNTED").
    total: int
    #: The newest of them, at most ``MAX_LISTED``; subjects cut to ``SUBJECT_WIDTH``.
    commits: list[Commit]


#: Bounds on what one look at a clone lists and counts.
MAX_LISTED = 50
MAX_COUNTED = 100_000
SUBJECT_WIDTH = 120


async def unfetched_work(clone: Path, store: Path, host_repo: Path) -> CloneWork:
    """The clone's work that the host repo lacks: a commit counts as fetched once a ref
    of the host repo reaches it. The clone is read through :mod:`scad.snapshot`: git
    never runs in it. Raises UnreadableClone when it cannot be read without trusting it.
    """
    snapshot = await snapshot_clone(clone, store, host_repo)
    tips = dict(snapshot.branches)
    if snapshot.detached:
        tips["HEAD"] = snapshot.detached
    if not tips:
        return CloneWork(branches=[], total=0, commits=[])
    host_tips: list[str] = []
    if await git.is_repository(host_repo):
        host_tips = (await git.git(host_repo, "for-each-ref", "--format=%(objectname)")).split()
    # Host tips are in the store through its alternates; the clone's in its copies.
    revisions = git.revisions(tips.values(), host_tips)
    try:
        counted = ("rev-list", "--stdin", f"--max-count={MAX_COUNTED + 1}")
        ahead = (await git.store_git(store, *counted, input=revisions)).split()
        listed = await git.store_git(
            store, "log", "--stdin", "--topo-order", f"--max-count={MAX_LISTED}",
            f"--format=%H %<({SUBJECT_WIDTH},trunc)%s", input=revisions,
        )  # fmt: skip
    except GitError as exc:
        raise UnreadableClone(clone.name, str(exc)) from None
    unfetched = set(ahead)
    cut = len(ahead) > MAX_COUNTED  # then a tip may be ahead without being among those seen
    branches = [
        name
        for name, tip in sorted(tips.items())
        if tip in unfetched or (cut and tip not in host_tips)
    ]
    commits = [
        Commit(sha, printable(subject.rstrip()))
        for sha, _, subject in (line.partition(" ") for line in listed.splitlines())
    ]
    return CloneWork(branches=branches, total=len(ahead), commits=commits)
