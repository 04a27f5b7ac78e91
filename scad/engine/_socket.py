"""An engine for status commands: the container listing read straight from the
engine's unix socket, the full client opened only when something else is asked.

``session status`` and ``project status`` mostly need one answer from the engine:
which run containers exist, in what state. The client library (aiodocker over
aiohttp) takes about 0.3 s to import; one HTTP/1.0 request over the socket takes
milliseconds. When a run must be caught up from the engine's log, or the engine is
not a local socket, the full client (:func:`scad.engine.open_engine`) does the rest.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import anyio
import msgspec

from ..errors import EngineError
from ._types import ContainerState
from ._wire import container_state, engine_host, unreachable

if TYPE_CHECKING:
    from ._types import Engine

__all__ = ["get", "open_status_engine"]

#: The client's methods that hand out a stream as an async context manager.
_STREAMS = frozenset({"open_build", "open_logs", "attach"})
RESPONSE_LIMIT = 64 << 20
TIMEOUT = 15.0


async def get(socket: str, path: str) -> bytes:
    """The body of ``GET path`` on the engine's unix socket."""
    try:
        with anyio.fail_after(TIMEOUT):
            stream = await anyio.connect_unix(socket)
            async with stream:
                await stream.send(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
                response = bytearray()
                async for chunk in stream:
                    response += chunk
                    if len(response) > RESPONSE_LIMIT:
                        raise EngineError(f"GET {path}: the engine's answer is too long")
    except (OSError, TimeoutError, anyio.BrokenResourceError) as exc:
        raise unreachable(f"unix://{socket}") from exc
    head, _, body = bytes(response).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if status_line.split(" ")[1:2] != ["200"]:
        raise EngineError(f"GET {path}: the engine answered {status_line!r}")
    return body


class _StatusEngine:
    """:meth:`containers` from the socket; any other method opens the full client."""

    def __init__(self, stack: AsyncExitStack, socket: str) -> None:
        self._stack = stack
        self._socket = socket
        self._client: Engine | None = None
        self._opening = anyio.Lock()

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        wanted = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        filters = quote(json.dumps({"label": wanted}))
        body = await get(self._socket, f"/containers/json?all=1&filters={filters}")
        return [container_state(row) for row in msgspec.json.decode(body, type=list[dict])]

    async def _open(self) -> Engine:
        async with self._opening:
            if self._client is None:
                from ._client import open_engine

                self._client = await self._stack.enter_async_context(open_engine())
            return self._client

    def __getattr__(self, name: str) -> Any:
        if name in _STREAMS:

            @asynccontextmanager
            async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                async with getattr(await self._open(), name)(*args, **kwargs) as opened:
                    yield opened

            return stream

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await getattr(await self._open(), name)(*args, **kwargs)

        return call


@asynccontextmanager
async def open_status_engine() -> AsyncIterator[Engine]:
    """An engine that answers container listings from its socket (see the module);
    raises EngineUnavailable, as :func:`scad.engine.open_engine` does, when it does
    not answer."""
    host = engine_host()
    if not host.startswith("unix://"):
        from ._client import open_engine

        async with open_engine() as client:
            yield client
        return
    socket = host.removeprefix("unix://")
    await get(socket, "/_ping")
    async with AsyncExitStack() as stack:
        yield cast("Engine", _StatusEngine(stack, socket))
