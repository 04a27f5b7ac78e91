"""A scripted stand-in for :class:`scad.engine._types.Engine`, for unit tests of error paths.

It implements the whole protocol. A container's behaviour comes from a
:class:`Script` (chosen per spec by ``FakeEngine.script``): the chunks it prints,
whether it then hangs until stopped, its exit code and OOM flag. ``fail`` makes a
named method raise, to reach error paths.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
import msgspec

from scad.batch.events import BatchEvent
from scad.engine import NodeState, ServiceSpec, TaskState
from scad.engine._endpoint import DEFAULT_SOCKET, Endpoint
from scad.engine._types import (
    BuildLine,
    ContainerExit,
    ContainerSpec,
    ContainerState,
    EngineInfo,
    ExecResult,
    ImageInfo,
    NetworkInfo,
    Output,
)
from scad.errors import EngineError
from scad.runs.lines import unix_time


@dataclass
class Script:
    """What a fake container does once started."""

    chunks: list[tuple[int, bytes]] = field(default_factory=list)
    exit_code: int = 0
    oom: bool = False
    #: Print the chunks, then wait until stopped (a hung agent).
    hang: bool = False
    #: Print the chunks, then take this long to exit (unless stopped first).
    seconds: float = 0.0


@dataclass
class FakeContainer:
    id: str
    spec: ContainerSpec
    script: Script
    status: str = "created"
    exit_code: int | None = None
    printed: list[tuple[int, bytes]] = field(default_factory=list)
    stopped: anyio.Event = field(default_factory=anyio.Event)
    ended: anyio.Event = field(default_factory=anyio.Event)

    def state(self) -> ContainerState:
        return ContainerState(
            id=self.id, name=self.spec.name, image=self.spec.image, image_id="sha256:x",
            status=self.status, running=self.status == "running",
            exit_code=self.exit_code if self.status == "exited" else None,
            labels=dict(self.spec.labels), finished_at="2026-11-27T10:00:09.5Z" if self.status == "exited" else None,
            oom_killed=self.script.oom and self.status == "exited",
        )  # fmt: skip


#: The engine's default network, as Docker makes it.
BRIDGE = NetworkInfo(id="b" * 64, name="bridge", internal=False, gateway="172.17.0.1", labels={})


class FakeEngine:
    def __init__(
        self,
        *,
        images: list[ImageInfo] | None = None,
        containers: list[ContainerState] | None = None,
        build_lines: list[BuildLine] | None = None,
        pullable: bool = False,
        live_restore: bool = True,
        script: Callable[[ContainerSpec], Script] | None = None,
        fail: Mapping[str, Exception] | None = None,
        endpoint: Endpoint | None = None,
    ) -> None:
        #: Where it is (default: this host's socket; ``tcp://`` for an engine elsewhere).
        self.endpoint = endpoint or Endpoint(host=DEFAULT_SOCKET)
        self.image_list = list(images or [])
        self.container_list = list(containers or [])
        self.build_lines = build_lines or []
        self.pullable = pullable
        self.live_restore_enabled = live_restore
        #: Where the engine says it keeps its data (None: it does not say).
        self.data_root: str | None = None
        self.host_name: str | None = socket.gethostname()
        self.script = script or (lambda spec: Script())
        self.fail = dict(fail or {})
        self.removed: list[str] = []
        self.built: list[str] = []
        self.made: dict[str, FakeContainer] = {}
        self.networks: dict[str, NetworkInfo] = {}
        #: Its part in a swarm, its nodes, and what a job's task ends as.
        self.swarm_state = "inactive"
        self.swarm_manager = False
        self.node_list: list[NodeState] = []
        self.job_task: Callable[[ServiceSpec], TaskState | None] = lambda spec: None
        self.jobs: dict[str, ServiceSpec] = {}
        self._ids = (f"{n:012x}{0:052x}" for n in itertools.count(1))

    def _check(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    async def version(self) -> str:
        return "fake"

    async def info(self) -> EngineInfo:
        self._check("info")
        return EngineInfo(
            live_restore=self.live_restore_enabled,
            data_root=self.data_root,
            host_name=self.host_name,
            swarm_state=self.swarm_state,
            swarm_manager=self.swarm_manager,
        )

    # Images

    async def image(self, reference: str) -> ImageInfo | None:
        return next((i for i in self.image_list if reference in (i.id, *i.tags)), None)

    async def images(self, repository: str) -> list[ImageInfo]:
        return [i for i in self.image_list if any(t.startswith(f"{repository}:") for t in i.tags)]

    async def labelled_images(self, label: str) -> list[ImageInfo]:
        self._check("labelled_images")
        key, _, value = label.partition("=")
        return [
            i for i in self.image_list if key in i.labels and (not value or i.labels[key] == value)
        ]

    async def pull(self, reference: str) -> None:
        if not self.pullable:
            raise EngineError(f"pull {reference}: no such host")
        self.image_list.append(
            ImageInfo(id=f"sha256:{reference}", tags=[reference], labels={}, created="")
        )

    async def tag_image(self, image: str, repository: str, tag: str) -> None:
        found = await self.image(image)
        assert found is not None
        if f"{repository}:{tag}" not in found.tags:  # a tag moves; it is never twice
            found.tags.append(f"{repository}:{tag}")

    async def remove_image(self, reference: str) -> None:
        self.removed.append(reference)

    @asynccontextmanager
    async def open_build(
        self, context: bytes, *, tag: str, labels: Mapping[str, str], use_cache: bool = True
    ) -> AsyncIterator[AsyncIterator[BuildLine]]:
        async def lines() -> AsyncIterator[BuildLine]:
            for line in self.build_lines:
                yield line
                if line.error:
                    return
            self.built.append(tag)
            self.image_list.append(
                ImageInfo(id=f"sha256:{tag}", tags=[tag], labels=dict(labels), created="")
            )

        yield lines()

    # Containers

    async def create_container(self, spec: ContainerSpec) -> str:
        self._check("create_container")
        if any(c.spec.name == spec.name for c in self.made.values()):
            raise EngineError(f"create container {spec.name}: name in use", status=409)
        container_id = next(self._ids)
        self.made[container_id] = FakeContainer(container_id, spec, self.script(spec))
        return container_id

    async def start(self, container_id: str) -> None:
        self._check("start")
        self.made[container_id].status = "running"

    async def stop(self, container_id: str, *, grace: int = 10) -> None:
        self._check("stop")
        container = self.made.get(container_id)
        if container is not None and container.status == "running":
            container.stopped.set()
            container.status, container.exit_code = "exited", 143
            container.ended.set()

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        self.removed.append(container_id)
        self.made.pop(container_id, None)

    async def inspect(self, container_id: str) -> ContainerState | None:
        container = self.made.get(container_id)
        return container.state() if container else None

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        made = [
            c.state()
            for c in self.made.values()
            if all(k in c.spec.labels and v in (None, c.spec.labels[k]) for k, v in labels.items())
        ]
        return self.container_list + made

    def _entries(self, container_id: str, stderr: bool = False) -> list[bytes]:
        self._check("logs")
        wanted = 2 if stderr else 1
        return [d for s, d in self.made[container_id].printed if s == wanted]

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        """As the engine: a tail counted over both streams, then one stream's entries."""
        self._check("logs")
        last = self.made[container_id].printed[-tail:]
        return [d.decode(errors="replace") for s, d in last if s == (2 if stderr else 1)]

    @asynccontextmanager
    async def open_logs(
        self, container_id: str, *, since: str | None = None, follow: bool = True
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        """Every entry from ``since`` on (the engine includes that instant), each its
        own read."""

        def instant(unix: str) -> tuple[int, int]:
            seconds, _, nanos = unix.partition(".")
            return int(seconds), int(nanos)

        async def entries() -> AsyncIterator[list[bytes]]:
            if follow:
                await self.made[container_id].ended.wait()
            for i, data in enumerate(self._entries(container_id)):
                stamp = f"2026-11-27T10:00:{i:02d}.{i:09d}Z"
                if since is None or instant(unix_time(stamp)) >= instant(since):
                    yield [stamp.encode() + b" " + data]

        yield entries()

    @asynccontextmanager
    async def attach(self, container_id: str) -> AsyncIterator[_Output]:
        self._check("attach")
        yield _Output(self.made[container_id])

    async def wait(self, container_id: str) -> ContainerExit:
        self._check("wait")
        container = self.made[container_id]
        await container.ended.wait()
        return ContainerExit(exit_code=container.exit_code or 0, oom=container.script.oom)

    async def exec(self, container_id: str, command: list[str], *, user: str = "") -> ExecResult:
        return ExecResult(0, "")

    # Networks

    async def network(self, name: str) -> NetworkInfo | None:
        self._check("network")
        if name == "bridge" and name not in self.networks:
            return BRIDGE  # an engine's default network is always there
        return self.networks.get(name)

    async def create_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool = False
    ) -> NetworkInfo:
        self._check("create_network")
        if name in self.networks:
            raise EngineError(f"create network {name}: name in use", status=409)
        subnet = 18 + len(self.networks)
        made = NetworkInfo(
            id=f"net{len(self.networks):061x}", name=name, internal=internal,
            gateway=f"172.{subnet}.0.1", labels=dict(labels),
        )  # fmt: skip
        self.networks[name] = made
        return made

    async def remove_network(self, name: str) -> None:
        self.networks.pop(name, None)

    def swarm(self) -> _FakeSwarm:
        """The same engine as a swarm manager, as far as the doctor asks of one."""
        return _FakeSwarm(self)


class _FakeSwarm:
    """A fake engine's swarm face: its nodes, and jobs whose task is what the engine's
    ``job_task`` says."""

    def __init__(self, engine: FakeEngine) -> None:
        self._engine = engine

    async def nodes(self) -> list[NodeState]:
        self._engine._check("nodes")
        return list(self._engine.node_list)

    async def create_service(self, spec: ServiceSpec) -> str:
        self._engine._check("create_service")
        service_id = next(self._engine._ids)
        self._engine.jobs[service_id] = spec
        return service_id

    async def tasks(self, service_id: str) -> list[TaskState]:
        task = self._engine.job_task(self._engine.jobs[service_id])
        return [] if task is None else [task]

    async def remove_service(self, service_id: str) -> None:
        self._engine.jobs.pop(service_id, None)


class _Output:
    """The attached output of a fake container: its script, once it is running."""

    def __init__(self, container: FakeContainer) -> None:
        self._container = container
        self._pending = iter(container.script.chunks)

    async def read(self) -> Output | None:
        container = self._container
        while container.status == "created":
            await anyio.sleep(0.001)
        if container.status == "running":
            for stream, data in self._pending:
                container.printed.append((stream, data))
                await anyio.lowlevel.checkpoint()
                return Output(stream=stream, data=data)
            if container.script.hang:
                await container.stopped.wait()
            elif container.script.seconds:
                with anyio.move_on_after(container.script.seconds):
                    await container.stopped.wait()
            container.status, container.exit_code = (
                "exited",
                (143 if container.stopped.is_set() else container.script.exit_code),
            )
            container.ended.set()
        return None


def container_using(image_id: str) -> ContainerState:
    return ContainerState(
        id="c1",
        name="c1",
        image="x",
        image_id=image_id,
        status="exited",
        running=False,
        exit_code=0,
        labels={},
    )


def batch_event(kind: str, **fields: object) -> BatchEvent:
    """A batch log event of ``kind`` as the log spells it (``started``, ``attempt``...)."""
    return msgspec.convert({"event": kind, **fields}, BatchEvent)


class FakeClock:
    """A clock that moves only when a test moves it; every sleep waits for that."""

    def __init__(self) -> None:
        self.time = 0.0
        #: Sleeps still pending: when each ends, and the event that ends it.
        self.sleepers: list[tuple[float, float, anyio.Event]] = []
        #: Every sleep asked for, in seconds.
        self.asked: list[float] = []
        self._changed = anyio.Event()

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        woken = anyio.Event()
        sleeper = (self.time + seconds, seconds, woken)
        self.sleepers.append(sleeper)
        self.asked.append(seconds)
        self._changed.set()
        try:
            await woken.wait()
        finally:
            if sleeper in self.sleepers:
                self.sleepers.remove(sleeper)

    async def sleeping(self, seconds: float) -> None:
        """Wait until something sleeps for ``seconds``."""
        while not any(asked == seconds for _, asked, _ in self.sleepers):
            self._changed = anyio.Event()
            await self._changed.wait()

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``: the sleeps that ended by then end."""
        self.time += seconds
        for sleeper in [s for s in self.sleepers if s[0] <= self.time]:
            self.sleepers.remove(sleeper)
            sleeper[2].set()
