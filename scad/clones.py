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
from .config import Config
from .errors import ConfigError

__all__ = ["Commit", "check_repos", "create_clone", "fetch_command", "unfetched_commits"]

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

    With ``owner`` (a root host lending files to the agent's uid) the clone is
    made without hardlinks, so handing it over never touches the host's objects.
    """
    hardlinks = [] if owner is None else ["--no-hardlinks"]
    await git.git(dest.parent, "clone", "--local", "--quiet", *hardlinks, str(host_repo), dest.name)
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


async def unfetched_commits(clone: Path, host_repo: Path) -> list[Commit]:
    """Commits on the clone's branches that the host repo does not have."""
    if not clone.is_dir():
        return []
    # Commits the clone made: reachable from its branches, not from what it cloned.
    out = await git.git(clone, "log", "--branches", "--not", "--remotes", "--format=%H %s")
    candidates = [
        Commit(*line.split(" ", 1)) if " " in line else Commit(line, "")
        for line in out.splitlines()
    ]
    if not candidates:
        return []
    if not await git.is_repository(host_repo):
        return candidates
    missing = set(await _missing_objects(host_repo, [c.sha for c in candidates]))
    return [c for c in candidates if c.sha in missing]


def fetch_command(host_repo: Path, clone: Path, branch: str) -> str:
    """The shell command that brings the clone's branch into the host repo."""
    command = ["git", "-C", str(host_repo), "fetch"]
    if clone.stat().st_uid != os.getuid():
        # The clone belongs to the agent's uid (scad runs as root): git refuses to
        # read a repository another user owns unless told that this one is safe.
        command.append("--upload-pack=git -c safe.directory=* upload-pack")
    return shlex.join([*command, str(clone), f"{branch}:{branch}"])


async def _missing_objects(repo: Path, shas: list[str]) -> list[str]:
    out = await git.git(repo, "cat-file", "--batch-check", input="\n".join(shas).encode() + b"\n")
    return [line.split()[0] for line in out.splitlines() if line.endswith(" missing")]
