"""The Docker edge: everything scad asks of a container engine goes through here.

:class:`Engine` is the interface the rest of scad programs against (its types are
in ``_types``); :func:`open_engine` opens the aiodocker client behind it, imported
only when asked (aiohttp is slow to import); :func:`open_socket_engine` asks a local
engine's socket for a container's life, the listings and an image's lookup without
it (what a batch's supervisor and the status views need). Converting to and from the
engine's wire format (``_wire``) and its log frames (``_frames``) stay inside;
:mod:`.labels` names what scad puts on containers and images.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from . import labels
    from ._endpoint import Endpoint, endpoint_of
    from ._socket import open_socket_engine
    from ._swarmtypes import NodeState, SecretFile, ServiceSpec, SwarmEngine, TaskState
    from ._types import (
        BindMount,
        BuildLine,
        ContainerExit,
        ContainerFile,
        ContainerSpec,
        ContainerState,
        Engine,
        EngineInfo,
        ExecResult,
        ImageInfo,
        Limits,
        NetworkInfo,
        Output,
        OutputStream,
        Security,
    )
    from ._wire import engine_host

__all__ = [
    "BindMount",
    "BuildLine",
    "ContainerExit",
    "ContainerFile",
    "ContainerSpec",
    "ContainerState",
    "Endpoint",
    "Engine",
    "EngineInfo",
    "ExecResult",
    "ImageInfo",
    "Limits",
    "NetworkInfo",
    "NodeState",
    "Output",
    "OutputStream",
    "SecretFile",
    "Security",
    "ServiceSpec",
    "SwarmEngine",
    "TaskState",
    "endpoint_of",
    "engine_host",
    "labels",
    "open_engine",
    "open_socket_engine",
    "swarm_of",
]


_TYPES = (
    "BindMount", "BuildLine", "ContainerExit", "ContainerFile", "ContainerSpec",
    "ContainerState", "Engine", "EngineInfo", "ExecResult", "ImageInfo",
    "Limits", "NetworkInfo", "Output", "OutputStream", "Security",
)  # fmt: skip
__getattr__, __dir__ = lazy_face(
    __name__,
    {
        **dict.fromkeys(_TYPES, "_types"),
        "Endpoint": "_endpoint",
        "endpoint_of": "_endpoint",
        **dict.fromkeys(
            ("NodeState", "SecretFile", "ServiceSpec", "SwarmEngine", "TaskState"), "_swarmtypes"
        ),
        "engine_host": "_wire",
        "labels": "labels",
        "open_socket_engine": "_socket",
    },
)


def open_engine(
    *, max_connections: int = 100, endpoint: Endpoint | None = None
) -> AbstractAsyncContextManager[Engine]:
    """Connect to ``endpoint``'s engine (default: ``DOCKER_HOST`` with its TLS settings,
    a Docker context, or the local socket), checked to answer; ``max_connections``
    sizes the pool for the streams the caller will hold."""
    from ._connect import open_engine as open_client  # aiodocker: imported when used

    return open_client(max_connections=max_connections, endpoint=endpoint)


def swarm_of(engine: Engine) -> SwarmEngine:
    """``engine`` as a swarm manager; an engine that cannot be one is an error."""
    swarm = getattr(engine, "swarm", None)
    if swarm is None:
        from ..errors import EngineError

        raise EngineError("this engine cannot run services: it is not a Docker engine")
    return swarm()  # type: ignore[no-any-return]
