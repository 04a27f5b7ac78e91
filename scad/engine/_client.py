"""The Docker engine's :class:`~scad.engine._types.Engine` over an aiodocker client
(opened by :mod:`._connect`).

Each call is one request, bounded and its errors made scad's by :mod:`._requests`;
inspect dicts are turned into Structs here (:mod:`._wire`) and go no further; what
streams (a build, an attached container's output, a log) is handed out by
:mod:`._streams`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiodocker
import anyio
from aiodocker.networks import DockerNetwork

from ..errors import EngineError
from ._endpoint import Endpoint
from ._logs import followed_params, last_texts, open_socket_log, tail_params
from ._rawhttp import REQUEST_TIMEOUT
from ._requests import request
from ._streams import open_attached, open_build_lines, open_client_log
from ._swarmtypes import SwarmEngine
from ._types import (
    BuildLine,
    ContainerExit,
    ContainerSpec,
    ContainerState,
    EngineInfo,
    ExecResult,
    ImageInfo,
    NetworkInfo,
    OutputStream,
)
from ._wire import (
    LISTED_CONTAINER_FIELDS,
    container_config,
    container_state,
    file_archive,
    inspected_image,
    listed_image,
    missing_image,
    network_info,
)

__all__ = ["DockerEngine"]

#: The end of an exec's output that is kept (a terminal screen is far less).
EXEC_OUTPUT_LIMIT = 1 << 20


class DockerEngine:
    """The :class:`~scad.engine._types.Engine` of a Docker engine: a thin, typed face over
    one aiodocker client."""

    def __init__(self, docker: aiodocker.Docker, endpoint: Endpoint) -> None:
        self._docker = docker
        self._endpoint = endpoint

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    async def version(self) -> str:
        with request("engine version"):
            info = await self._docker.version()
        return str(info.get("Version", "unknown"))

    async def info(self) -> EngineInfo:
        with request("engine info"):
            info = await self._docker.system.info()
        root, name = info.get("DockerRootDir"), info.get("Name")
        swarm = info.get("Swarm") or {}
        return EngineInfo(
            live_restore=bool(info.get("LiveRestoreEnabled")),
            data_root=root if isinstance(root, str) and root else None,
            host_name=name if isinstance(name, str) and name else None,
            swarm_state=str(swarm.get("LocalNodeState") or "inactive"),
            swarm_manager=bool(swarm.get("ControlAvailable")),
        )

    # Images

    async def image(self, reference: str) -> ImageInfo | None:
        """The image named ``reference``, or None when absent."""
        try:
            with request(f"inspect image {reference}"):
                data = await self._docker.images.inspect(reference)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return inspected_image(data)

    async def images(self, repository: str) -> list[ImageInfo]:
        """Every image with a tag in ``repository``."""
        with request(f"list images {repository}"):
            rows = await self._docker.images.list(filters={"reference": [repository]})
        return [listed_image(row) for row in rows]

    async def labelled_images(self, label: str) -> list[ImageInfo]:
        """Every image carrying ``label`` (any value), tagged or not (an image whose
        tags went to a newer build is listed too)."""
        with request(f"list images labelled {label}"):
            rows = await self._docker.images.list(filters={"label": [label]})
        return [listed_image(row) for row in rows]

    async def pull(self, reference: str) -> None:
        """Pull ``reference``; the caller bounds the time."""
        with request(f"pull {reference}", timeout=None):
            await self._docker.images.pull(reference)

    async def tag_image(self, image: str, repository: str, tag: str) -> None:
        with request(f"tag {image}"):
            await self._docker.images.tag(image, repository, tag=tag)

    async def remove_image(self, reference: str) -> None:
        with request(f"remove image {reference}"):
            await self._docker.images.delete(reference)

    def open_build(
        self, context: bytes, *, tag: str, labels: Mapping[str, str], use_cache: bool = True
    ) -> AbstractAsyncContextManager[AsyncIterator[BuildLine]]:
        """Build from an in-memory tar ``context``; iterate the block's value for the
        output as it comes. The connection closes when the block is left; the last
        line carries ``error=True`` when the build failed."""
        return open_build_lines(self._docker, context, tag=tag, labels=labels, use_cache=use_cache)

    # Containers

    async def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container with ``spec.files`` written into it; returns
        its id. Never pulls. A container its files could not go into is removed."""
        config = container_config(spec)
        try:
            with request(f"create container {spec.name}"):
                container = await self._docker.containers.create(config, name=spec.name)
        except EngineError as exc:
            if exc.status == 404:
                raise missing_image(spec.image) from exc
            raise
        try:
            for file in spec.files:
                folder, archive = file_archive(file)
                with request(f"write {file.path} into container {spec.name}"):
                    await container.put_archive(folder, archive)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(REQUEST_TIMEOUT):
                await self.remove(str(container.id), force=True)
            raise
        return str(container.id)

    async def start(self, container_id: str) -> None:
        with request(f"start container {container_id[:12]}"):
            await self._docker.containers.container(container_id).start()

    async def stop(self, container_id: str, *, grace: int = 10) -> None:
        try:
            with request(f"stop container {container_id[:12]}", timeout=REQUEST_TIMEOUT + grace):
                await self._docker.containers.container(container_id).stop(t=grace)
        except EngineError as exc:
            if exc.status not in (304, 404):  # already stopped, or gone
                raise

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        try:
            with request(f"remove container {container_id[:12]}"):
                await self._docker.containers.container(container_id).delete(force=force)
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def inspect(self, container_id: str) -> ContainerState | None:
        """The container's state, or None when it does not exist."""
        try:
            with request(f"inspect container {container_id[:12]}"):
                data = await self._docker.containers.container(container_id).show()
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return container_state(data)

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        """All containers (running or not) carrying ``labels`` (None: any value)."""
        label_filter = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        with request("list containers"):
            rows = await self._docker.containers.list(
                all=True, filters=json.dumps({"label": label_filter})
            )
        return [container_state(listed_fields(row)) for row in rows]

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        """The stdout (or stderr) entries among the last ``tail`` of the log (see
        :meth:`.Engine.logs`, and :func:`._logs.last_texts`)."""
        params = tail_params(stderr=stderr, tail=tail)
        async with self._log_stream(container_id, params, follow=False) as log:
            return await last_texts(log, tail)

    def open_logs(
        self, container_id: str, *, since: str | None = None, follow: bool = True
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        """Timestamped stdout entries (since the UNIX time ``since``), those of each read
        together, each as the engine sent it: its timestamp, a space, and the bytes
        the container printed. With ``follow``, until the container stops. Memory
        stays flat whatever the log's size; the connection closes when the block is
        left."""
        params = followed_params(since=since, follow=follow)
        return self._log_stream(container_id, params, follow=follow)

    def _log_stream(
        self, container_id: str, params: dict[str, Any], *, follow: bool
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        """A log response's entries: a local socket's read off the socket (see
        :mod:`._rawhttp`), any other's through the client."""
        if (socket := self._endpoint.socket) is not None:
            return open_socket_log(socket, container_id, params, follow=follow)
        return open_client_log(self._docker, container_id, params, follow=follow)

    def attach(self, container_id: str) -> AbstractAsyncContextManager[OutputStream]:
        """The container's stdout and stderr from the moment of attaching: attach to a
        created container before starting it and nothing it prints is missed."""
        return open_attached(self._docker, container_id)

    async def wait(self, container_id: str) -> ContainerExit:
        """Wait for the container to stop (no time bound: the caller sets one)."""
        with request(f"wait for {container_id[:12]}", timeout=None):
            result = await self._docker.containers.container(container_id).wait()
        state = await self.inspect(container_id)
        return ContainerExit(
            exit_code=int(result.get("StatusCode", -1)),
            oom=bool(state and state.oom_killed),
            finished_at=state.finished_at if state else None,
            started_at=state.started_at if state else None,
        )

    async def exec(self, container_id: str, command: list[str], *, user: str = "") -> ExecResult:
        """Run ``command`` in a running container and collect the end of its output
        (the last ``EXEC_OUTPUT_LIMIT`` bytes: what runs there may print without end)."""
        tail = bytearray()
        with request(f"exec in {container_id[:12]}"):
            execution = await self._docker.containers.container(container_id).exec(
                command, user=user
            )
            async with execution.start(detach=False) as stream:
                while (message := await stream.read_out()) is not None:
                    tail += message.data
                    if len(tail) > 2 * EXEC_OUTPUT_LIMIT:
                        del tail[:-EXEC_OUTPUT_LIMIT]
            info = await execution.inspect()
        output = bytes(tail[-EXEC_OUTPUT_LIMIT:]).decode(errors="replace")
        return ExecResult(int(info["ExitCode"]), output)

    def swarm(self) -> SwarmEngine:
        """The same engine as a swarm manager (services, tasks, nodes, secrets)."""
        from ._swarm import DockerSwarm

        return DockerSwarm(self._docker)

    # Networks

    async def network(self, name: str) -> NetworkInfo | None:
        """The network named ``name``, or None when absent."""
        try:
            with request(f"inspect network {name}"):
                data = await DockerNetwork(self._docker, name).show()
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return network_info(data)

    async def create_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool = False
    ) -> NetworkInfo:
        """Make a bridge network; an existing one of that name is an error (status 409)."""
        config = {
            "Name": name,
            "Driver": "bridge",
            "Internal": internal,
            "Labels": dict(labels),
            "CheckDuplicate": True,
        }
        with request(f"create network {name}"):
            made = await self._docker.networks.create(config)
            data = await made.show()
        return network_info(data)

    async def remove_network(self, name: str) -> None:
        """Remove the network; one already gone is no error."""
        try:
            with request(f"remove network {name}"):
                await DockerNetwork(self._docker, name).delete()
        except EngineError as exc:
            if exc.status != 404:
                raise


def listed_fields(row: aiodocker.containers.DockerContainer) -> dict[str, Any]:
    """A listed container's fields that :func:`container_state` reads, through the
    row's public item access."""
    return {key: row[key] for key in LISTED_CONTAINER_FIELDS if key in row}
