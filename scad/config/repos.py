"""Whether a config's repos are there to clone: checked before anything is made."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ..code import hostrepo
from ..errors import ConfigError
from .schema import Config

__all__ = ["UncommittedWork", "check_repos", "uncommitted_work"]


class UncommittedWork(msgspec.Struct, frozen=True, kw_only=True):
    """A repo whose work tree holds changes a run's clone will not have."""

    key: str
    path: str
    files: int


async def check_repos(config: Config, label: str) -> None:
    """Every repo is a git repository and every focus folder exists; else one clear line."""
    for key, repo in config.repos.items():
        path = Path(repo.path)
        if not await hostrepo.is_repository(path):
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


async def uncommitted_work(config: Config) -> list[UncommittedWork]:
    """The config's repos that hold uncommitted changes (a clone starts from the last
    commit, so an agent never sees them), in the config's order."""
    found = []
    for key, repo in config.repos.items():
        if files := await hostrepo.uncommitted_files(Path(repo.path)):
            found.append(UncommittedWork(key=key, path=repo.path, files=files))
    return found
