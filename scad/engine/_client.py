"""The Docker engine edge: aiodocker is imported here and in ``_internals`` only.

Inspect dicts are turned into Structs here and go no further; aiodocker and
aiohttp errors become :class:`EngineUnavailable` / :class:`EngineError` here.
aiodocker runs on asyncio only, and its client must be made inside the loop.
"""

from __future__ import annotations

import io
import json
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar, cast

import aiodocker
import aiohttp
import anyio
from aiodocker.networks import DockerNetwork

from ..errors import EngineError, EngineUnavailable
from ._endpoint import Endpoint, endpoint_of, tls_context
from ._internals import log_response
from ._logs import entries, followed_params, last_texts, open_socket_log, tail_params
from ._rawhttp import REQUEST_TIMEOUT
from ._swarmtypes import SwarmEngine
from ._types import (
    BindMount,
    BuildLine,
    ContainerExit,
    ContainerSpec,
    ContainerState,
    Engine,
    EngineInfo,
    ExecResult,
    ImageInfo,
    NetworkInfo,
    Output,
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
    unreachable,
)

__all__ = [
    "BindMount",
    "BuildLine",
    "ContainerSpec",
    "ContainerState",
    "DockerEngine",
    "Engine",
    "ExecResult",
    "ImageInfo",
    "open_engine",
]

T = TypeVar("T")


#: aiodocker reports a connection failure as a DockerError with this status.
_NO_CONNECTION = 900


#: The end of an exec's output that is kept (a terminal screen is far less).
EXEC_OUTPUT_LIMIT = 1 << 20


@contextmanager
def _request(what: str, timeout: float | None = REQUEST_TIMEOUT) -> Iterator[None]:
    """Bound a request in time and turn Docker client errors into scad's."""
    try:
        with anyio.fail_after(timeout):
            yield
    except aiodocker.DockerError as exc:
        if exc.status == _NO_CONNECTION:
            raise EngineUnavailable(
                f"{what}: the Docker engine did not answer ({exc.message})"
            ) from exc
        raise EngineError(f"{what}: {exc.message}", status=exc.status) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({exc})") from exc
    except TimeoutError as exc:
        raise EngineUnavailable(
            f"{what}: the Docker engine did not answer within {timeout:.0f} s"
        ) from exc


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
        with _request("engine version"):
            info = await self._docker.version()
        return str(info.get("Version", "unknown"))

    async def info(self) -> EngineInfo:
        with _request("engine info"):
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
            with _request(f"inspect image {reference}"):
                data = await self._docker.images.inspect(reference)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return inspected_image(data)

    async def images(self, repository: str) -> list[ImageInfo]:
        """Every image with a tag in ``repository``."""
        with _request(f"list images {repository}"):
            rows = await self._docker.images.list(filters={"reference": [repository]})
        return [listed_image(row) for row in rows]

    async def labelled_images(self, label: str) -> list[ImageInfo]:
        """Every image carrying ``label`` (any value), tagged or not (an image whose
        tags went to a newer build is listed too)."""
        with _request(f"list images labelled {label}"):
            rows = await self._docker.images.list(filters={"label": [label]})
        return [listed_image(row) for row in rows]

    async def pull(self, reference: str) -> None:
        """Pull ``reference``; the caller bounds the time."""
        with _request(f"pull {reference}", timeout=None):
            await self._docker.images.pull(reference)

    async def tag_image(self, image: str, repository: str, tag: str) -> None:
        with _request(f"tag {image}"):
            await self._docker.images.tag(image, repository, tag=tag)

    async def remove_image(self, reference: str) -> None:
        with _request(f"remove image {reference}"):
            await self._docker.images.delete(reference)

    @asynccontextmanager
    async def open_build(
        self, context: bytes, *, tag: str, labels: Mapping[str, str], use_cache: bool = True
    ) -> AsyncIterator[AsyncIterator[BuildLine]]:
        """Build from an in-memory tar ``context``; iterate the block's value for the
        output as it comes. The connection closes when the block is left.

        ``forcerm`` removes the intermediate containers of failed steps too. The
        last line carries ``error=True`` when the build failed.
        """
        stream = self._docker.images.build(
            fileobj=io.BytesIO(context),
            encoding="identity",
            tag=tag,
            labels=dict(labels),
            forcerm=True,
            nocache=not use_cache,
            stream=True,
        )
        try:
            yield _build_lines(stream)
        finally:
            with anyio.CancelScope(shield=True):
                await cast("AsyncGenerator[Any, None]", stream).aclose()

    # Containers

    async def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container with ``spec.files`` written into it; returns
        its id. Never pulls. A container its files could not go into is removed."""
        config = container_config(spec)
        try:
            with _request(f"create container {spec.name}"):
                container = await self._docker.containers.create(config, name=spec.name)
        except EngineError as exc:
            if exc.status == 404:
                raise missing_image(spec.image) from exc
            raise
        try:
            for file in spec.files:
                folder, archive = file_archive(file)
                with _request(f"write {file.path} into container {spec.name}"):
                    await container.put_archive(folder, archive)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(REQUEST_TIMEOUT):
                await self.remove(str(container.id), force=True)
            raise
        return str(container.id)

    async def start(self, container_id: str) -> None:
        with _request(f"start container {container_id[:12]}"):
            await self._docker.containers.container(container_id).start()

    async def stop(self, container_id: str, *, grace: int = 10) -> None:
        try:
            with _request(f"stop container {container_id[:12]}", timeout=REQUEST_TIMEOUT + grace):
                await self._docker.containers.container(container_id).stop(t=grace)
        except EngineError as exc:
            if exc.status not in (304, 404):  # already stopped, or gone
                raise

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        try:
            with _request(f"remove container {container_id[:12]}"):
                await self._docker.containers.container(container_id).delete(force=force)
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def inspect(self, container_id: str) -> ContainerState | None:
        """The container's state, or None when it does not exist."""
        try:
            with _request(f"inspect container {container_id[:12]}"):
                data = await self._docker.containers.container(container_id).show()
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return container_state(data)

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        """All containers (running or not) carrying ``labels`` (None: any value)."""
        label_filter = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        with _request("list containers"):
            rows = await self._docker.containers.list(
                all=True, filters=json.dumps({"label": label_filter})
            )
        return [container_state(listed_fields(row)) for row in rows]

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        """The last ``tail`` log entries of stdout (or stderr) (see :func:`._logs.last_texts`)."""
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

    @asynccontextmanager
    async def _log_stream(
        self, container_id: str, params: dict[str, Any], *, follow: bool
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        """A log response's entries; a stream not followed that stalls (each read waits
        at most :data:`REQUEST_TIMEOUT`) means the engine no longer answers. A local
        socket's is read off the socket (see :mod:`._rawhttp`), any other's through
        the client."""
        if (socket := self._endpoint.socket) is not None:
            async with open_socket_log(socket, container_id, params, follow=follow) as log:
                yield log
            return
        what = f"logs of {container_id[:12]}"
        stall = None if follow else REQUEST_TIMEOUT
        query = log_response(self._docker, container_id, params)
        with _request(what):
            response = await query.__aenter__()
        try:
            yield _mapped(entries(response.content.iter_any()), what, stall)
        finally:
            with anyio.CancelScope(shield=True):
                await query.__aexit__(None, None, None)

    @asynccontextmanager
    async def attach(self, container_id: str) -> AsyncIterator[OutputStream]:
        """The container's stdout and stderr from the moment of attaching: attach to a
        created container before starting it and nothing it prints is missed."""
        stream = self._docker.containers.container(container_id).attach(stdout=True, stderr=True)
        try:
            with _request(f"attach to {container_id[:12]}"):
                await stream.__aenter__()  # connect now, before the caller starts the container
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.close()
            raise
        try:
            yield _DockerOutput(stream, container_id)
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()

    async def wait(self, container_id: str) -> ContainerExit:
        """Wait for the container to stop (no time bound: the caller sets one)."""
        with _request(f"wait for {container_id[:12]}", timeout=None):
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
        with _request(f"exec in {container_id[:12]}"):
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
            with _request(f"inspect network {name}"):
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
        with _request(f"create network {name}"):
            made = await self._docker.networks.create(config)
            data = await made.show()
        return network_info(data)

    async def remove_network(self, name: str) -> None:
        """Remove the network; one already gone is no error."""
        try:
            with _request(f"remove network {name}"):
                await DockerNetwork(self._docker, name).delete()
        except EngineError as exc:
            if exc.status != 404:
                raise


def listed_fields(row: aiodocker.containers.DockerContainer) -> dict[str, Any]:
    """A listed container's fields that :func:`container_state` reads, through the
    row's public item access."""
    return {key: row[key] for key in LISTED_CONTAINER_FIELDS if key in row}


class _DockerOutput:
    """An attached container's output, chunk by chunk."""

    def __init__(self, stream: Any, container_id: str) -> None:
        self._stream = stream
        self._what = f"output of {container_id[:12]}"

    async def read(self) -> Output | None:
        """The next chunk (``stream`` 1 is stdout, 2 stderr), or None once it ended."""
        with _request(self._what, timeout=None):
            message = await self._stream.read_out()
        return None if message is None else Output(stream=message.stream, data=message.data)


async def _build_lines(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[BuildLine]:
    try:
        async for item in _mapped(stream, "build"):
            if "error" in item:
                yield BuildLine(str(item["error"]).rstrip("\n"), error=True)
                return
            if "stream" in item:
                for line in str(item["stream"]).splitlines():
                    yield BuildLine(line)
            elif "status" in item:
                yield BuildLine(str(item["status"]))
    except EngineError as exc:
        yield BuildLine(str(exc), error=True)


async def _mapped(
    stream: AsyncIterator[T], what: str, stall: float | None = None
) -> AsyncIterator[T]:
    """``stream`` with the client's errors turned into scad's, each item awaited at most
    ``stall`` seconds (no scope held across yield)."""
    while True:
        with _request(what, timeout=stall):
            try:
                entry = await stream.__anext__()
            except StopAsyncIteration:
                return
        yield entry


@asynccontextmanager
async def open_engine(
    *, max_connections: int = 100, endpoint: Endpoint | None = None
) -> AsyncIterator[Engine]:
    """Connect to ``endpoint``'s engine (default: the one the docker CLI would use:
    ``DOCKER_HOST`` with its TLS settings, a Docker context, or the local socket) and
    check it answers.

    The connection pool is sized by ``max_connections``: with more live streams
    than connections the next request would hang.
    """
    endpoint = endpoint or endpoint_of(os.environ)
    host = endpoint.host
    connector: aiohttp.BaseConnector
    try:
        if endpoint.socket is not None:
            # With a connector of our own, aiodocker wants the placeholder host it uses itself.
            connector = aiohttp.UnixConnector(endpoint.socket, limit=max_connections)
            docker = aiodocker.Docker(url="unix://localhost", connector=connector)
        elif host.startswith("tcp://"):
            tls: ssl.SSLContext | bool = False
            if endpoint.tls is not None:
                tls = await anyio.to_thread.run_sync(tls_context, endpoint.tls, endpoint.origin)
            connector = aiohttp.TCPConnector(ssl=tls, limit=max_connections)
            docker = aiodocker.Docker(url=endpoint.url, connector=connector)
        else:
            raise ValueError("scad speaks to an engine over unix:// or tcp:// only")
    except (ValueError, OSError) as exc:
        raise EngineUnavailable(f"cannot use {endpoint.origin} {host}: {exc}") from exc
    try:
        engine = DockerEngine(docker, endpoint)
        try:
            with anyio.fail_after(15):
                await engine.version()
        except (EngineUnavailable, TimeoutError) as exc:
            if tls_refused := _tls_refusal(exc):
                raise EngineUnavailable(
                    f"the Docker engine at {host} ({endpoint.origin}): {tls_refused}"
                ) from exc
            raise unreachable(host) from exc
        except EngineError as exc:
            hint = (
                "" if endpoint.tls else "; over TLS, set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"
            )
            raise EngineUnavailable(
                f"the Docker engine at {host} ({endpoint.origin}) refused scad: "
                f"{str(exc).strip().rstrip('.')}{hint}"
            ) from exc
        yield engine
    finally:
        with anyio.CancelScope(shield=True):
            await docker.close()
            await connector.close()  # ours, so aiodocker leaves it open


def _tls_refusal(exc: BaseException) -> str | None:
    """What TLS refused in ``exc``'s chain (a certificate not trusted, a client
    certificate the engine did not take), in one line; None when it was not TLS."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorCertificateError):
            cause = cause.certificate_error  # the ssl module's error, with its reason
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"its TLS certificate is not trusted ({cause.verify_message}); "
                "the CA file must be the one that signed it"
            )
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause}); check the CA, certificate and key"
        cause = cause.__cause__ or cause.__context__
    return None
