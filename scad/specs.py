"""The engine's data: what scad asks of Docker and what it gets back.

Kept apart from :mod:`scad.engine` so that code which only builds or reads
these Structs does not import the Docker client.
"""

from __future__ import annotations

import msgspec

__all__ = ["BindMount", "BuildLine", "ContainerSpec", "ContainerState", "ExecResult", "ImageInfo"]


class BindMount(msgspec.Struct, frozen=True):
    source: str
    target: str
    read_only: bool = False


class ContainerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to create; secrets never go in here (env and labels are visible to inspect)."""

    image: str
    name: str
    labels: dict[str, str]
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    user: str | None = None
    env: dict[str, str] = {}
    mounts: list[BindMount] = []
    workdir: str | None = None
    network: str = "bridge"
    tty: bool = False
    init: bool = True


class ContainerState(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    image: str
    image_id: str
    status: str
    running: bool
    exit_code: int | None
    labels: dict[str, str]
    started_at: str | None = None
    finished_at: str | None = None


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tags: list[str]
    labels: dict[str, str]
    created: str


class ExecResult(msgspec.Struct, frozen=True):
    exit_code: int
    output: str


class BuildLine(msgspec.Struct, frozen=True):
    """One line of build output; ``error`` is set on the failing line."""

    text: str
    error: bool = False
