"""The container of a run, as a spec: paths and ids in, ContainerSpec out (the
host's user and time zone read where it is made)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..code.borrowed import run_lender
from ..config.schema import Config
from ..engine import BindMount, ContainerSpec, Limits, Security, labels
from ..layout import CLAUDE_DIR, CLAUDE_JSON, MARKETPLACES, WORKSPACE, agent_ids
from ..names import container_name
from ..runs.records import RunPaths, RunRecord
from ..threads import async_twin
from .claude_setup import claude_arguments, container_workdir
from .gateway_access import container_env, fenced_run

__all__ = [
    "acontainer_spec",
    "borrowed_mounts",
    "container_limits",
    "container_security",
    "container_spec",
    "host_timezone",
    "run_container_spec",
    "unwritable_mounts",
]


def host_timezone() -> str:
    """The host's IANA time zone name, so agents' commits match the host clock."""
    if zone := os.environ.get("TZ", "").lstrip(":"):
        return zone
    try:
        return Path("/etc/timezone").read_text().strip() or "UTC"
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return "UTC"
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def container_spec(
    config: Config, record: RunRecord, paths: RunPaths, *, resume: bool
) -> ContainerSpec:
    """The run's container: how its files reach it (bind mounts of the run directory)
    is decided in :func:`run_container_spec`, the one seam for that."""
    return run_container_spec(
        config,
        record,
        paths,
        user=agent_ids(os.getuid(), os.getgid()),
        timezone=host_timezone(),
        claude_args=claude_arguments(config, headless=record.mode == "headless", resume=resume),
    )


#: The host's time zone is read from a file (/etc/timezone).
acontainer_spec = async_twin(container_spec)


def run_container_spec(
    config: Config,
    record: RunRecord,
    paths: RunPaths,
    *,
    user: tuple[int, int],
    timezone: str,
    claude_args: list[str],
) -> ContainerSpec:
    mounts = [BindMount(str(paths.clone(key)), str(WORKSPACE / key)) for key in config.repos]
    mounts += borrowed_mounts(record, paths)
    mounts += [BindMount(m.host, m.container or m.host) for m in config.mounts]
    mounts += [
        BindMount(str(paths.claude_dir), CLAUDE_DIR),
        BindMount(str(paths.claude_json), CLAUDE_JSON),
        BindMount(str(paths.inputs), "/run/scad", read_only=True),
    ]
    mounts += [
        BindMount(m.path, str(MARKETPLACES / name), read_only=True)
        for name, m in config.claude.marketplaces.items()
        if m.path
    ]
    if Path("/etc/localtime").exists():
        mounts.append(
            BindMount(str(Path("/etc/localtime").resolve()), "/etc/localtime", read_only=True)
        )
    spec = ContainerSpec(
        image=record.image,
        name=container_name(record.run_id),
        labels={
            labels.RUN: record.run_id,
            labels.HOME: labels.home_label(paths.home),
            labels.CONFIG: record.config,
            labels.MODE: record.mode,
        },
        command=[record.mode, *claude_args],
        user=f"{user[0]}:{user[1]}",
        env={"TZ": timezone, **container_env(config)},
        mounts=mounts,
        workdir=container_workdir(config),
        network=config.network,
        limits=container_limits(config),
        security=container_security(config),
    )
    return fenced_run(config, paths, spec)


def borrowed_mounts(record: RunRecord, paths: RunPaths) -> list[BindMount]:
    """The host objects the run's clones borrow (:mod:`scad.code.borrowed`), read-only
    at their host path, where the clones' alternates name them; a store not made yet (a run whose clones copy
    their objects) is not mounted."""
    stores = {run_lender(paths.home, record, key) for key in record.repos}
    return [
        BindMount(str(objects), str(objects), read_only=True)
        for objects in sorted(store / "objects" for store in stores)
        if objects.is_dir()
    ]


def container_limits(config: Config) -> Limits:
    """The resources a container of ``config`` may use."""
    resources = config.resources
    return Limits(cpus=resources.cpus, memory=resources.memory_bytes, pids=resources.pids)


def container_security(config: Config) -> Security:
    """What a container of ``config`` may not do."""
    security = config.security
    return Security(
        no_new_privileges=security.no_new_privileges, cap_drop_all=security.cap_drop_all
    )


def unwritable_mounts(config: Config, agent: tuple[int, int]) -> list[str]:
    """The config's mounts that the agent (running as ``agent``, uid and gid) cannot
    write to, one warning each: as root, scad runs agents as uid 1000, and a
    root-owned ``0700`` folder is then read-only to them, with no word from anyone."""
    uid, gid = agent
    if uid == 0:
        return []
    warnings = []
    for mount in config.mounts:
        try:
            found = os.stat(mount.host)
        except OSError:
            continue  # a missing mount is the config's error, reported there
        if found.st_uid == uid:
            bits = found.st_mode >> 6
        elif found.st_gid == gid:
            bits = found.st_mode >> 3
        else:
            bits = found.st_mode
        # Writing into a folder takes w and x; into a file, w.
        needed = 0o3 if stat.S_ISDIR(found.st_mode) else 0o2
        if bits & needed != needed:
            warnings.append(
                f"mount {mount.host}: the agent (uid {uid}) cannot write there "
                f"(owner {found.st_uid}, mode {found.st_mode & 0o777:o}); "
                f"chown it to {uid}:{gid} or let its group or others write"
            )
    return warnings
