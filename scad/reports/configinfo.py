"""What `scad config info` reports: the state of a config's repos, mounts and image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ..code import hostrepo
from ..config.schema import Config
from ..errors import ImageError
from ..home import Home
from ..image.build import abuild_context
from ..taskgroups import open_task_group

if TYPE_CHECKING:  # the engine module imports the Docker client, which is slow to import
    from ..engine import Engine

__all__ = ["ConfigInfo", "MountInfo", "RepoInfo", "describe_config"]


class RepoInfo(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    path: str
    workdir: bool
    add_dir: bool
    focus: str | None
    #: None when the path is not a git repository.
    branch: str | None
    dirty: bool | None
    problem: str | None = None


class MountInfo(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    container: str
    exists: bool


class ConfigInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    repos: list[RepoInfo]
    mounts: list[MountInfo]
    python: str
    requirements: str | None
    apt_packages: list[str]
    claude_version: str
    plugins: list[str]
    network: str
    base_image: str
    #: The image tag this config builds to (None when its build context cannot be made).
    image: str | None
    #: Whether that image exists; None when the engine could not be asked.
    image_built: bool | None
    image_problem: str | None = None


async def _describe_repo(key: str, config: Config) -> RepoInfo:
    repo = config.repos[key]
    path = Path(repo.path)
    branch: str | None = None
    dirty: bool | None = None
    if not await hostrepo.is_repository(path):
        problem: str | None = "does not exist" if not path.exists() else "not a git repository"
    else:
        problem = None
        if repo.focus and not (path / repo.focus).is_dir():
            problem = f"focus folder {repo.focus} does not exist"
        branch, dirty = await hostrepo.current_branch(path), await hostrepo.is_dirty(path)
    return RepoInfo(
        key=key,
        path=repo.path,
        workdir=repo.workdir,
        add_dir=repo.add_dir,
        focus=repo.focus,
        branch=branch,
        dirty=dirty,
        problem=problem,
    )


async def describe_config(home: Home, config: Config, engine: Engine | None) -> ConfigInfo:
    """Summarise ``config`` (as ``home`` builds it); repos are inspected concurrently, the image only with an engine."""
    repos: dict[str, RepoInfo] = {}

    async def describe(key: str) -> None:
        repos[key] = await _describe_repo(key, config)

    async with open_task_group() as tg:
        for key in config.repos:
            tg.start_soon(describe, key)
    image, built, problem = None, None, None
    try:
        image = (await abuild_context(home, config)).tag
    except ImageError as exc:
        problem = str(exc)
    if engine is not None and image is not None:
        built = await engine.image(image) is not None
    return ConfigInfo(
        name=config.name,
        repos=[repos[key] for key in config.repos],
        mounts=[
            MountInfo(host=m.host, container=m.container or m.host, exists=Path(m.host).exists())
            for m in config.mounts
        ],
        python=config.python.version,
        requirements=config.python.requirements,
        apt_packages=list(config.apt_packages),
        claude_version=config.claude.version,
        plugins=list(config.claude.plugins),
        network=config.network,
        base_image=config.base_image,
        image=image,
        image_built=built,
        image_problem=problem,
    )
