"""An engine for quick commands: the container listing and an image's lookup and
tag straight from the engine's unix socket, the full client opened only when
something else is asked.

``session status`` and ``project status`` mostly need one answer from the engine:
which run containers exist, in what state; making a batch needs its image looked up
(and tagged ``latest``) when it is built already. The client library (aiodocker over
aiohttp) takes about 0.3 s to import; one HTTP/1.0 request over the socket takes
milliseconds. When a run must be caught up from the engine's log, or the engine is
not a local socket, the full client (:func:`scad.engine.open_engine`) does the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import msgspec

from ..errors import EngineError
from ._endpoint import Endpoint, endpoint_of
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
    OutputStream,
)
from ._wire import container_state, inspected_image, unreachable

__all__ = ["ClientOpener", "StatusEngine", "ask", "get", "open_status_engine"]

#: Opens the full client (:func:`scad.engine.open_engine`, unless a test gives its own).
ClientOpener = Callable[[], AbstractAsyncContextManager[Engine]]

RESPONSE_LIMIT = 64 << 20
TIMEOUT = 15.0


async def get(socket: str, path: str) -> bytes:
    """The body of ``GET path`` on the engine's unix socket."""
    status, status_line, body = await ask(socket, "GET", path)
    if status != 200:
        raise EngineError(f"GET {path}: the engine answered {status_line!r}")
    return body


async def ask(socket: str, method: str, path: str) -> tuple[int, str, bytes]:
    """``method path`` (no body) on the engine's unix socket: the answer's status,
    its status line and its body."""
    request = f"{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"
    try:
        with anyio.fail_after(TIMEOUT):
            stream = await anyio.connect_unix(socket)
            async with stream:
                await stream.send(request.encode())
                response = bytearray()
                async for chunk in stream:
                    response += chunk
                    if len(response) > RESPONSE_LIMIT:
                        raise EngineError(f"{method} {path}: the engine's answer is too long")
    except (OSError, TimeoutError, anyio.BrokenResourceError) as exc:
        raise unreachable(f"unix://{socket}") from exc
    head, _, body = bytes(response).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    code = status_line.split(" ")[1:2]
    return (int(code[0]) if code and code[0].isdigit() else 0), status_line, body


def _refused(what: str, status: int, status_line: str, body: bytes) -> EngineError:
    """The engine's refusal, in its own words when it gave them (as the client says it)."""
    try:
        message = msgspec.json.decode(body, type=_Refusal).message
    except msgspec.DecodeError:
        message = f"the engine answered {status_line!r}"
    return EngineError(f"{what}: {message}", status=status)


class _Refusal(msgspec.Struct):
    message: str


class StatusEngine:
    """:meth:`containers` from the socket; every other method asks the full client,
    which :meth:`client` opens on first need, once, and keeps open until the block
    this engine was handed out in ends."""

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

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        wanted = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        filters = quote(json.dumps({"label": wanted}))
        body = await get(self._socket, f"/containers/json?all=1&filters={filters}")
        return [container_state(row) for row in msgspec.json.decode(body, type=list[dict])]

    async def client(self) -> Engine:
        """The full client, opened now if it is not yet (importing it costs ~0.3 s)."""
        async with self._opening:
            if self._client is None:
                self._client = await self._stack.enter_async_context(self._open_client())
            return self._client

    async def version(self) -> str:
        return await (await self.client()).version()

    async def info(self) -> EngineInfo:
        return await (await self.client()).info()

    async def image(self, reference: str) -> ImageInfo | None:
        found = await ask(self._socket, "GET", f"/images/{_quoted(reference)}/json")
        if found[0] == 404:
            return None
        if found[0] != 200:
            raise _refused(f"inspect image {reference}", *found)
        return inspected_image(msgspec.json.decode(found[2], type=dict[str, Any]))

    async def images(self, repository: str) -> list[ImageInfo]:
        return await (await self.client()).images(repository)

    async def labelled_images(self, label: str) -> list[ImageInfo]:
        return await (await self.client()).labelled_images(label)

    async def pull(self, reference: str) -> None:
        await (await self.client()).pull(reference)

    async def tag_image(self, image: str, repository: str, tag: str) -> None:
        query = urlencode({"repo": repository, "tag": tag})
        tagged = await ask(self._socket, "POST", f"/images/{_quoted(image)}/tag?{query}")
        if tagged[0] != 201:
            raise _refused(f"tag {image}", *tagged)

    async def remove_image(self, reference: str) -> None:
        await (await self.client()).remove_image(reference)

    @asynccontextmanager
    async def open_build(
        self, context: bytes, *, tag: str, labels: Mapping[str, str], use_cache: bool = True
    ) -> AsyncIterator[AsyncIterator[BuildLine]]:
        client = await self.client()
        async with client.open_build(context, tag=tag, labels=labels, use_cache=use_cache) as lines:
            yield lines

    async def create_container(self, spec: ContainerSpec) -> str:
        return await (await self.client()).create_container(spec)

    async def start(self, container_id: str) -> None:
        await (await self.client()).start(container_id)

    async def stop(self, container_id: str, *, grace: int = 10) -> None:
        await (await self.client()).stop(container_id, grace=grace)

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        await (await self.client()).remove(container_id, force=force)

    async def inspect(self, container_id: str) -> ContainerState | None:
        return await (await self.client()).inspect(container_id)

    async def logs(self, container_id: str, *, stderr: bool = False, tail: int) -> list[str]:
        return await (await self.client()).logs(container_id, stderr=stderr, tail=tail)

    @asynccontextmanager
    async def open_logs(
        self, container_id: str, *, since: str | None = None, follow: bool = True
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        client = await self.client()
        async with client.open_logs(container_id, since=since, follow=follow) as entries:
            yield entries

    @asynccontextmanager
    async def attach(self, container_id: str) -> AsyncIterator[OutputStream]:
        async with (await self.client()).attach(container_id) as output:
            yield output

    async def wait(self, container_id: str) -> ContainerExit:
        return await (await self.client()).wait(container_id)

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


def _quoted(reference: str) -> str:
    """An image reference in a request's path (its ``/`` and ``:`` as they are)."""
    return quote(reference, safe="/:@")


def _open_client() -> AbstractAsyncContextManager[Engine]:
    from ._client import open_engine  # aiodocker: imported when a status view needs it

    return open_engine()


@asynccontextmanager
async def open_status_engine(open_client: ClientOpener = _open_client) -> AsyncIterator[Engine]:
    """An engine that answers container listings from its socket (see the module),
    and anything else through ``open_client``'s client; raises EngineUnavailable, as
    :func:`scad.engine.open_engine` does, when it does not answer."""
    endpoint = endpoint_of(os.environ)
    if not endpoint.host.startswith("unix://"):
        async with open_client() as client:
            yield client
        return
    await get(endpoint.host.removeprefix("unix://"), "/_ping")
    async with AsyncExitStack() as stack:
        yield StatusEngine(stack, endpoint, open_client)
