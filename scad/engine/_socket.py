"""An engine on this host's socket: a container's life (create, attach, start, wait,
logs, stop, remove), the listing, and an image's lookup and tag asked straight on
the engine's unix socket; the full client opened only when something else is asked.

A batch's supervisor and the status views need little of the engine, and quickly:
the client library (aiodocker over aiohttp) takes about 0.2 s to import, and
aiohttp builds TLS contexts as it is imported, while one request over the socket
takes milliseconds. Builds, pulls, execs, networks and swarms go through the full
client (:func:`scad.engine.open_engine`), as does every request to an engine that
is not a local socket.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import anyio
import msgspec

from ..errors import EngineError, EngineUnavailable
from ._endpoint import Endpoint, endpoint_of
from ._frames import outputs
from ._logs import followed_params, last_texts, open_socket_log, tail_params
from ._rawhttp import REQUEST_TIMEOUT, ask, open_answer
from ._types import (
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
    container_config,
    container_state,
    file_archive,
    inspected_image,
    missing_image,
    unreachable,
)

__all__ = ["ClientOpener", "SocketEngine", "open_socket_engine"]

#: Opens the full client (:func:`scad.engine.open_engine`, unless a test gives its own).
ClientOpener = Callable[[], AbstractAsyncContextManager[Engine]]

T = TypeVar("T")

#: Time for the engine to answer that it is there.
PING_TIMEOUT = 15.0


class SocketEngine:
    """An engine that asks its socket what it can (see the module); every other
    method asks the full client, which :meth:`client` opens on first need, once, and
    keeps open until the block this engine was handed out in ends."""

    def __init__(
        self, stack: AsyncExitStack, endpoint: Endpoint, open_client: ClientOpener
    ) -> None:
        self._stack = stack
        self._endpoint = endpoint
        self._socket = endpoint.host.removeprefix("unix://")
        self._open_client = open_client
        self._client: Engine | None = None
        self._opening = anyio.Lock()

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    async def client(self) -> Engine:
        """The full client, opened now if it is not yet (importing it costs ~0.2 s)."""
        async with self._opening:
            if self._client is None:
                self._client = await self._stack.enter_async_context(self._open_client())
            return self._client

    async def _ask(
        self,
        method: str,
        target: str,
        what: str,
        *,
        body: bytes = b"",
        content_type: str = "application/json",
        grace: float = 0.0,
        bounded: bool = True,
    ) -> bytes:
        """The answer to a request that does not stream, within :data:`REQUEST_TIMEOUT`
        and ``grace`` seconds (unless not ``bounded``)."""
        within = REQUEST_TIMEOUT + grace if bounded else None
        return await ask(
            self._socket, method, target, what, body=body, content_type=content_type, within=within
        )

    # Asked on the socket

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        wanted = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        filters = quote(json.dumps({"label": wanted}))
        what = "list containers"
        body = await self._ask("GET", f"/containers/json?all=1&filters={filters}", what)
        return [container_state(row) for row in _decoded(body, list[dict[str, Any]], what)]

    async def _found(self, target: str, what: str) -> dict[str, Any] | None:
        """The engine's description at ``GET target``; None when it has no such thing."""
        try:
            body = await self._ask("GET", target, what)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return _decoded(body, dict[str, Any], what)

    async def image(self, reference: str) -> ImageInfo | None:
        found = await self._found(
            f"/images/{_quoted(reference)}/json", f"inspect image {reference}"
        )
        return None if found is None else inspected_image(found)

    async def tag_image(self, image: str, repository: str, tag: str) -> None:
        query = urlencode({"repo": repository, "tag": tag})
        await self._ask("POST", f"/images/{_quoted(image)}/tag?{query}", f"tag {image}")

    async def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container with ``spec.files`` written into it; returns
        its id. Never pulls. A container its files could not go into is removed."""
        config = msgspec.json.encode(container_config(spec))
        what = f"create container {spec.name}"
        target = f"/containers/create?{urlencode({'name': spec.name})}"
        try:
            created = await self._ask("POST", target, what, body=config)
        except EngineError as exc:
            if exc.status == 404:
                raise missing_image(spec.image) from exc
            raise
        container_id = _decoded(created, _Created, what).Id
        try:
            for file in spec.files:
                folder, archive = file_archive(file)
                await self._ask(
                    "PUT",
                    f"/containers/{_id(container_id)}/archive?{urlencode({'path': folder})}",
                    f"write {file.path} into container {spec.name}",
                    body=archive, content_type="application/x-tar",
                )  # fmt: skip
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(REQUEST_TIMEOUT):
                await self.remove(container_id, force=True)
            raise
        return container_id

    async def start(self, container_id: str) -> None:
        await self._ask(
            "POST", f"/containers/{_id(container_id)}/start", _said("start container", container_id)
        )

    async def stop(self, container_id: str, *, grace: int = 10) -> None:
        try:
            await self._ask(
                "POST", f"/containers/{_id(container_id)}/stop?t={grace}",
                _said("stop container", container_id), grace=grace,
            )  # fmt: skip
        except EngineError as exc:
            if exc.status != 404:  # gone already
                raise

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        try:
            await self._ask(
                "DELETE", f"/containers/{_id(container_id)}?force={int(force)}",
                _said("remove container", container_id),
            )  # fmt: skip
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def inspect(self, container_id: str) -> ContainerState | None:
        """The container's state, or None when it does not exist."""
        what = _said("inspect container", container_id)
        found = await self._found(f"/containers/{_id(container_id)}/json", what)
        return None if found is None else container_state(found)

    async def wait(self, container_id: str) -> ContainerExit:
        """Wait for the container to stop (no time bound: the caller sets one)."""
        what = _said("wait for", container_id)
        body = await self._ask("POST", f"/containers/{_id(container_id)}/wait", what, bounded=False)
        result = _decoded(body, _Waited, what)
        state = await self.inspect(container_id)
        return ContainerExit(
            exit_code=result.StatusCode,
            oom=bool(state and state.oom_killed),
            finished_at=state.finished_at if state else None,
            started_at=state.started_at if state else None,
        )

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        """The stdout (or stderr) entries among the last ``tail`` of the log (see
        :meth:`.Engine.logs`)."""
        params = tail_params(stderr=stderr, tail=tail)
        async with open_socket_log(self._socket, container_id, params, follow=False) as log:
            return await last_texts(log, tail)

    def open_logs(
        self, container_id: str, *, since: str | None = None, follow: bool = True
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        params = followed_params(since=since, follow=follow)
        return open_socket_log(self._socket, container_id, params, follow=follow)

    @asynccontextmanager
    async def attach(self, container_id: str) -> AsyncIterator[OutputStream]:
        """The container's stdout and stderr from the moment of attaching: attach to a
        created container before starting it and nothing it prints is missed."""
        what = _said("output of", container_id)
        target = f"/containers/{_id(container_id)}/attach?stream=1&stdout=1&stderr=1"
        async with open_answer(self._socket, "POST", target, what, upgrade=True) as body:
            yield _AttachedOutput(body)

    # Asked of the full client

    async def version(self) -> str:
        return await (await self.client()).version()

    async def info(self) -> EngineInfo:
        return await (await self.client()).info()

    async def images(self, repository: str) -> list[ImageInfo]:
        return await (await self.client()).images(repository)

    async def labelled_images(self, label: str) -> list[ImageInfo]:
        return await (await self.client()).labelled_images(label)

    async def pull(self, reference: str) -> None:
        await (await self.client()).pull(reference)

    async def remove_image(self, reference: str) -> None:
        await (await self.client()).remove_image(reference)

    @asynccontextmanager
    async def open_build(
        self, context: bytes, *, tag: str, labels: Mapping[str, str], use_cache: bool = True
    ) -> AsyncIterator[AsyncIterator[BuildLine]]:
        client = await self.client()
        async with client.open_build(context, tag=tag, labels=labels, use_cache=use_cache) as lines:
            yield lines

    async def exec(self, container_id: str, command: list[str], *, user: str = "") -> ExecResult:
        return await (await self.client()).exec(container_id, command, user=user)

    async def network(self, name: str) -> NetworkInfo | None:
        return await (await self.client()).network(name)

    async def create_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool = False
    ) -> NetworkInfo:
        return await (await self.client()).create_network(name, labels=labels, internal=internal)

    async def remove_network(self, name: str) -> None:
        await (await self.client()).remove_network(name)


class _Created(msgspec.Struct):
    Id: str


class _Waited(msgspec.Struct):
    StatusCode: int = -1


class _AttachedOutput:
    """An attached container's output, chunk by chunk, demultiplexed as it comes."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self._buffer = b""
        self._ready: deque[tuple[int, bytes]] = deque()

    async def read(self) -> Output | None:
        """The next chunk (``stream`` 1 is stdout, 2 stderr), or None once it ended."""
        while not self._ready:
            try:
                more = await self._body.__anext__()
            except StopAsyncIteration:
                return None  # a frame cut by the end is no output
            self._buffer += more
            whole, used = outputs(self._buffer)
            self._ready.extend(whole)
            self._buffer = self._buffer[used:]
        stream, data = self._ready.popleft()
        return Output(stream=stream, data=data)


def _decoded(answer: bytes, shape: type[T], what: str) -> T:
    """The engine's JSON answer as ``shape``; an answer that is not one is an error."""
    try:
        return msgspec.json.decode(answer, type=shape)
    except msgspec.DecodeError as exc:  # a ValidationError too
        raise EngineError(f"{what}: the engine's answer is not what it should be ({exc})") from exc


def _id(container_id: str) -> str:
    return quote(container_id, safe="")


def _said(doing: str, container_id: str) -> str:
    return f"{doing} {container_id[:12]}"


def _quoted(reference: str) -> str:
    """An image reference in a request's path (its ``/`` and ``:`` as they are)."""
    return quote(reference, safe="/:@")


def _open_client() -> AbstractAsyncContextManager[Engine]:
    from ._connect import open_engine  # aiodocker: imported when something needs it

    return open_engine()


@asynccontextmanager
async def open_socket_engine(open_client: ClientOpener = _open_client) -> AsyncIterator[Engine]:
    """An engine that asks its local socket what it can (see the module), and anything
    else through ``open_client``'s client; raises EngineUnavailable, as
    :func:`scad.engine.open_engine` does, when it does not answer. An engine that is
    not a local socket is ``open_client``'s client."""
    endpoint = endpoint_of(os.environ)
    if endpoint.socket is None:
        async with open_client() as client:
            yield client
        return
    try:
        await ask(endpoint.socket, "GET", "/_ping", "ping", within=PING_TIMEOUT)
    except EngineUnavailable as exc:
        raise unreachable(endpoint.host) from exc
    except EngineError as exc:  # something answers there, but not as an engine would
        raise EngineUnavailable(
            f"the Docker engine at {endpoint.host} ({endpoint.origin}) refused scad: "
            f"{str(exc).strip().rstrip('.')}"
        ) from exc
    async with AsyncExitStack() as stack:
        yield SocketEngine(stack, endpoint, open_client)
