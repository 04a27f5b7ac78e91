"""What the engine answers, as scad's Structs; what scad asks of it; where it is.

Shared by the client (:mod:`scad.engine`) and the listing read straight from the
engine's socket (:mod:`scad.engine._socket`), so both see containers alike.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from collections.abc import Mapping
from typing import Any

from ..errors import EngineError, EngineUnavailable
from ._types import ContainerFile, ContainerSpec, ContainerState, ImageInfo, NetworkInfo

__all__ = [
    "LISTED_CONTAINER_FIELDS",
    "container_config",
    "container_state",
    "engine_host",
    "file_archive",
    "inspected_image",
    "listed_image",
    "missing_image",
    "network_info",
    "unreachable",
]


def engine_host() -> str:
    """The address of the engine scad talks to (``DOCKER_HOST``, a Docker context, else
    the local socket: see :func:`~scad.engine._endpoint.endpoint_of`)."""
    from ._endpoint import endpoint_of

    return endpoint_of(os.environ).host


def unreachable(host: str) -> EngineUnavailable:
    return EngineUnavailable(
        f"cannot reach the Docker engine at {host}; start dockerd (or Docker Desktop) "
        "or point DOCKER_HOST (or a Docker context) at a running engine"
    )


def missing_image(image: str) -> EngineError:
    """What a container's create says when the engine has no ``image`` (it never pulls)."""
    return EngineError(f"image {image} does not exist; build it with `scad build`")


def inspected_image(data: Mapping[str, Any]) -> ImageInfo:
    """An image as the engine's inspection of it says."""
    return ImageInfo(
        id=data["Id"],
        tags=list(data.get("RepoTags") or []),
        labels=dict((data.get("Config") or {}).get("Labels") or {}),
        created=data.get("Created", ""),
    )


def listed_image(row: Mapping[str, Any]) -> ImageInfo:
    """An image as the engine lists it (``Created`` in seconds; no tag is ``<none>``)."""
    return ImageInfo(
        id=row["Id"],
        tags=[t for t in row.get("RepoTags") or [] if t != "<none>:<none>"],
        labels=dict(row.get("Labels") or {}),
        created=str(row.get("Created", "")),
    )


#: Every field :func:`container_state` reads (the client copies these from its rows).
LISTED_CONTAINER_FIELDS = (
    "Id", "Name", "Names", "Image", "ImageID", "State", "Config", "Labels", "Created",
)  # fmt: skip


def container_state(data: Mapping[str, Any]) -> ContainerState:
    """Inspect (``State`` is a dict) and list rows (``State`` is a string) alike."""
    state = data.get("State")
    config = data.get("Config") or {}
    labels = data.get("Labels") or config.get("Labels") or {}
    name = data.get("Name") or (data.get("Names") or [""])[0]
    if isinstance(state, dict):
        status = state.get("Status", "unknown")
        return ContainerState(
            id=data["Id"],
            name=name.lstrip("/"),
            image=config.get("Image", ""),
            image_id=data.get("Image", ""),
            status=status,
            running=bool(state.get("Running")),
            exit_code=state.get("ExitCode") if status == "exited" else None,
            labels=dict(labels),
            started_at=state.get("StartedAt"),
            finished_at=state.get("FinishedAt"),
            oom_killed=bool(state.get("OOMKilled")),
            created=str(data.get("Created", "")),
        )
    return ContainerState(
        id=data["Id"],
        name=name.lstrip("/"),
        image=data.get("Image", ""),
        image_id=data.get("ImageID", ""),
        status=str(state or "unknown"),
        running=state == "running",
        exit_code=None,
        labels=dict(labels),
        created=str(data.get("Created", "")),
    )


def container_config(spec: ContainerSpec) -> dict[str, Any]:
    """The engine's create request for ``spec`` (its name goes in the query)."""
    mounts = [
        {"Type": "bind", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
        for m in spec.mounts
    ]
    host: dict[str, Any] = {
        "Init": spec.init,
        "NetworkMode": spec.network,
        "Mounts": mounts,
        "LogConfig": {"Type": "json-file", "Config": _log_options(spec.log_max_bytes)},
    }
    limits = spec.limits
    if limits.cpus is not None:
        host["NanoCpus"] = round(limits.cpus * 1e9)
    if limits.memory is not None:
        # Swap as large as memory: no swap beyond the limit (unset, Docker allows 2x).
        host["Memory"] = host["MemorySwap"] = limits.memory
    if limits.pids is not None:
        host["PidsLimit"] = limits.pids
    if spec.security.no_new_privileges:
        host["SecurityOpt"] = ["no-new-privileges"]
    if spec.security.cap_drop_all:
        host["CapDrop"] = ["ALL"]
    if spec.cap_add:
        host["CapAdd"] = spec.cap_add
    if spec.dns:
        host["Dns"] = spec.dns
    if spec.sysctls:
        host["Sysctls"] = spec.sysctls
    config: dict[str, Any] = {
        "Image": spec.image,
        "Labels": spec.labels,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Tty": spec.tty,
        "OpenStdin": spec.tty,
        "HostConfig": host,
    }
    optional = {
        "Cmd": spec.command,
        "Entrypoint": spec.entrypoint,
        "User": spec.user,
        "WorkingDir": spec.workdir,
    }
    config.update({key: value for key, value in optional.items() if value})
    return config


def _log_options(max_bytes: int | None) -> dict[str, str]:
    """The json-file driver's options: without a cap, whatever the daemon's default
    rotation, all a container prints is kept until it is removed; with one, a single
    file the engine cuts short whenever it grows past ``max_bytes``."""
    if max_bytes is None:
        return {}
    return {"max-size": str(max_bytes), "max-file": "1"}


def network_info(data: Mapping[str, Any]) -> NetworkInfo:
    """A network as the engine inspects it; its gateway is the first IPv4 pool's."""
    pools = (data.get("IPAM") or {}).get("Config") or []
    gateways = [p["Gateway"] for p in pools if p.get("Gateway") and ":" not in p["Gateway"]]
    return NetworkInfo(
        id=data["Id"],
        name=data.get("Name", ""),
        internal=bool(data.get("Internal")),
        gateway=gateways[0] if gateways else None,
        labels=dict(data.get("Labels") or {}),
    )


def file_archive(file: ContainerFile) -> tuple[str, bytes]:
    """The folder to upload ``file`` into and the tar that holds it, owned and
    moded as it says (the engine keeps a tar entry's owner when it unpacks one)."""
    folder, name = posixpath.split(file.path)
    if not posixpath.isabs(file.path) or not name:
        raise ValueError(f"{file.path!r} is not an absolute file path")
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode, entry.uid, entry.gid = len(file.data), file.mode, file.uid, file.gid
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(entry, io.BytesIO(file.data))
    return folder, buffer.getvalue()
