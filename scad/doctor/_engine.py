"""The checks that ask the engine about itself and its images: each config's base
image, whether containers survive a restart of the engine (live-restore), and the
free space where it keeps images and containers."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ..config.schema import Config
from ._check import Check, skipped
from ._host import LoadedConfig, for_each, measure_disk

if TYPE_CHECKING:
    from ..engine import Endpoint, Engine, EngineInfo

__all__ = [
    "check_base_images",
    "check_engine_disk",
    "check_live_restore",
    "engine_check",
    "valid_configs",
]


def engine_check(endpoint: Endpoint, version: str) -> Check:
    """Which engine scad talks to, and whether it is on this host (runs there bind-mount
    their clones) or another (runs there get their files through the gateway)."""
    where = (
        "another host: runs go there with nothing mounted, their files through the gateway"
        if endpoint.remote
        else "this host"
    )
    return Check(
        name="engine", status="pass", detail=f"Docker {version} at {endpoint.shown}, on {where}"
    )


def valid_configs(configs: Sequence[LoadedConfig]) -> list[tuple[LoadedConfig, Config]]:
    return [(c, c.config) for c in configs if c.config is not None]


async def check_base_images(engine: Engine, configs: Sequence[LoadedConfig]) -> list[Check]:
    """Each config's base image is present; an absent one is a warning, since `scad
    build` pulls it (and doctor does not download gigabytes to find out whether it can)."""
    valid = valid_configs(configs)
    if not valid:
        return [skipped("base image", "no valid config")]
    return await for_each(valid, lambda item: _check_base_image(engine, *item))


async def _check_base_image(engine: Engine, loaded: LoadedConfig, config: Config) -> Check:
    base = config.base_image
    if await engine.image(base) is not None:
        return Check(
            name="base image", status="pass", detail=f"{base} is present", config=loaded.name
        )
    built = loaded.tag is not None and await engine.image(loaded.tag) is not None
    note = f"; {loaded.tag} is built, so runs work until the config changes" if built else ""
    return Check(
        name="base image",
        status="warn",
        detail=f"{base} is absent; `scad build {loaded.name}` will try to pull it{note}",
        fix=f"docker pull {base} where a registry is reachable; else docker load (or docker "
        f"tag) an image as {base}, or set image.base in the config",
        config=loaded.name,
    )


def check_live_restore(info: EngineInfo) -> list[Check]:
    if info.live_restore:
        return [
            Check(
                name="live-restore",
                status="pass",
                detail="on: running sessions survive a restart of the engine",
            )
        ]
    return [
        Check(
            name="live-restore",
            status="warn",
            detail="off: a restart of dockerd ends every running session (exit 143)",
            fix='set "live-restore": true in /etc/docker/daemon.json and reload dockerd '
            "(systemctl reload docker, or kill -HUP its pid)",
        )
    ]


async def check_engine_disk(info: EngineInfo, host: str) -> list[Check]:
    """Free space where the engine keeps images and containers, when that is on this
    machine: the engine at ``host`` is reached over a local socket, runs on a host of
    this machine's name (not in a VM, as Docker Desktop's does) and its data root is here."""
    root = info.data_root
    if root is None:
        return [skipped("engine disk", "the engine did not say where it keeps its data")]
    if not host.startswith("unix://") or info.host_name != socket.gethostname():
        where = f" ({info.host_name})" if info.host_name else ""
        return [skipped("engine disk", f"the engine runs on another host{where}")]
    if not os.path.isdir(root):
        return [skipped("engine disk", f"the engine's data root {root} is not on this host")]
    # Not `docker system prune`: it removes stopped sessions' containers, whose logs
    # are all that is left of what an unwatched run printed.
    fix = (
        "free space there: `scad gc --force` removes scad's old images and containers, "
        "`docker image prune` and `docker builder prune` what else nothing uses"
    )
    measure = partial(
        measure_disk, Path(root), name="engine disk", fix=fix, note=" (images and containers)"
    )
    return [await anyio.to_thread.run_sync(measure)]
