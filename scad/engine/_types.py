"""The engine's data: what scad asks of Docker and what it gets back.

Kept apart from :mod:`scad.engine` so that code which only builds or reads
these Structs does not import the Docker client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    from ._endpoint import Endpoint

__all__ = [
    "BindMount",
    "BuildLine",
    "ContainerExit",
    "ContainerFile",
    "ContainerSpec",
    "ContainerState",
    "Engine",
    "EngineInfo",
    "ExecResult",
    "ImageInfo",
    "Limits",
    "NetworkInfo",
    "Output",
    "OutputStream",
    "Security",
]


class BindMount(msgspec.Struct, frozen=True):
    source: str
    target: str
    read_only: bool = False


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """What a container may use; None is no limit (Docker's default)."""

    cpus: float | None = None
    #: Bytes; the container gets no swap beyond it.
    memory: int | None = None
    #: Processes and threads at once.
    pids: int | None = None


class Security(msgspec.Struct, frozen=True, kw_only=True):
    """Hardening of a container; off by default, as in Docker (run containers get
    theirs from the config, which turns both on)."""

    no_new_privileges: bool = False
    #: Drop every Linux capability.
    cap_drop_all: bool = False


class ContainerFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file the engine writes into a container once it is made, before it starts: how
    a secret reaches a container on another host without showing in anything
    ``docker inspect`` shows (environment, labels, command)."""

    #: Absolute, in the container; its folder must exist in the image.
    path: str
    data: bytes
    uid: int = 0
    gid: int = 0
    mode: int = 0o400

    def __repr__(self) -> str:  # never print a secret by accident
        return f"ContainerFile(path={self.path!r}, uid={self.uid}, gid={self.gid})"


class ContainerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to create; secrets go in ``files`` only (env and labels are visible to inspect)."""

    image: str
    name: str
    labels: dict[str, str]
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    user: str | None = None
    env: dict[str, str] = {}
    mounts: list[BindMount] = []
    workdir: str | None = None
    #: A network's name, or ``container:<id>`` to share that container's network stack.
    network: str = "bridge"
    #: Name servers instead of the engine's (on a user-defined network, where its
    #: own resolver forwards).
    dns: list[str] = []
    #: Network-namespaced kernel settings (``net.*``).
    sysctls: dict[str, str] = {}
    #: Linux capabilities added back after any drop.
    cap_add: list[str] = []
    tty: bool = False
    init: bool = True
    limits: Limits = Limits()
    security: Security = Security()
    #: What the engine keeps of the container's output, in bytes; None: all of it,
    #: until the container is removed (a run nobody watched is caught up from it).
    log_max_bytes: int | None = None
    #: Written into the container after it is made and before it starts.
    files: list[ContainerFile] = []


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
    oom_killed: bool = False
    #: When it was made: UNIX seconds in a list, ISO 8601 in an inspect.
    created: str = ""


class ContainerExit(msgspec.Struct, frozen=True, kw_only=True):
    """How a container ended."""

    exit_code: int
    #: The engine killed a process in it for memory (not always its main one).
    oom: bool = False
    finished_at: str | None = None
    #: When the life that ended began (its StartedAt).
    started_at: str | None = None


class Output(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk of an attached container's output; chunks are not lines."""

    #: 1 for stdout, 2 for stderr.
    stream: int
    data: bytes


class OutputStream(Protocol):
    async def read(self) -> Output | None:
        """The next chunk, or None once the container's output ended."""
        ...


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


class EngineInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine says of itself."""

    #: Containers keep running while the engine restarts (``live-restore``).
    live_restore: bool
    #: Where it keeps images and containers, on its own host.
    data_root: str | None = None
    #: The name of the host it runs on.
    host_name: str | None = None
    #: Its part in a swarm (``LocalNodeState``): inactive, pending, active, error, locked.
    swarm_state: str = "inactive"
    #: It is a swarm manager that can take orders (``ControlAvailable``).
    swarm_manager: bool = False


class NetworkInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A network of the engine."""

    id: str
    name: str
    #: Made with ``--internal``: no route out, only its members and the host's address on it.
    internal: bool
    #: The host's own address on the network (its bridge's), where a host process can
    #: listen for its containers; None when the engine gives none.
    gateway: str | None
    labels: dict[str, str]


class Engine(Protocol):
    """What scad asks of a container engine. :class:`scad.engine.DockerEngine` is the
    real one; tests of error paths use a fake with the same face."""

    @property
    def endpoint(self) -> Endpoint:
        """Where the engine is: on this host (a socket) or another (``tcp://``), which
        decides whether its containers can see this host's files."""
        ...

    async def version(self) -> str: ...

    async def info(self) -> EngineInfo: ...

    async def image(self, reference: str) -> ImageInfo | None: ...

    async def images(self, repository: str) -> list[ImageInfo]: ...

    async def labelled_images(self, label: str) -> list[ImageInfo]:
        """Every image carrying ``label`` (any value), tagged or not."""
        ...

    async def pull(self, reference: str) -> None: ...

    async def tag_image(self, image: str, repository: str, tag: str) -> None: ...

    async def remove_image(self, reference: str) -> None: ...

    def open_build(
        self, context: bytes, *, tag: str, labels: Mapping[str, str], use_cache: bool = True
    ) -> AbstractAsyncContextManager[AsyncIterator[BuildLine]]: ...

    async def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container with ``spec.files`` written into it."""
        ...

    async def start(self, container_id: str) -> None: ...

    async def stop(self, container_id: str, *, grace: int = 10) -> None: ...

    async def remove(self, container_id: str, *, force: bool = False) -> None: ...

    async def inspect(self, container_id: str) -> ContainerState | None: ...

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]: ...

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        """The stdout (or stderr) entries among the last ``tail`` of the log: the
        engine counts a tail over both streams, so fewer when the other stream has
        some of them."""
        ...

    def open_logs(
        self, container_id: str, *, since: str | None = None, follow: bool = True
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        """Timestamped stdout entries (since the UNIX time ``since``), a few at a time as
        they arrive, each as the engine sent it: its timestamp, a space, and the bytes
        the container printed (decoded by their reader, once). With ``follow``, until
        the container stops, else what is there."""
        ...

    def attach(self, container_id: str) -> AbstractAsyncContextManager[OutputStream]: ...

    async def wait(self, container_id: str) -> ContainerExit: ...

    async def exec(
        self, container_id: str, command: list[str], *, user: str = ""
    ) -> ExecResult: ...

    async def network(self, name: str) -> NetworkInfo | None:
        """The network named ``name``, or None when absent."""
        ...

    async def create_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool = False
    ) -> NetworkInfo:
        """Make a bridge network; an existing one of that name is an error (status 409)."""
        ...

    async def remove_network(self, name: str) -> None:
        """Remove the network; one already gone is no error."""
        ...
