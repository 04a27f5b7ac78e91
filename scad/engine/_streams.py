"""What the aiodocker client streams: an image build's output, an attached container's
output and a container's log, each handed out by ``async with``.

The connection is open in the block and closed, shielded, however the block is
left; each read is bounded (a build's and an attached container's by the caller's
scope) and its errors are scad's (:func:`._requests.mapped`).
"""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import aiodocker
import anyio

from ..errors import EngineError
from ._internals import log_response
from ._logs import entries
from ._rawhttp import REQUEST_TIMEOUT
from ._requests import mapped, request
from ._types import BuildLine, Output, OutputStream

__all__ = ["open_attached", "open_build_lines", "open_client_log"]


@asynccontextmanager
async def open_build_lines(
    docker: aiodocker.Docker,
    context: bytes,
    *,
    tag: str,
    labels: Mapping[str, str],
    use_cache: bool,
) -> AsyncIterator[AsyncIterator[BuildLine]]:
    """A build from the in-memory tar ``context``, its output line by line as it comes.

    ``forcerm`` removes the intermediate containers of failed steps too. The
    last line carries ``error=True`` when the build failed.
    """
    stream = docker.images.build(
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


async def _build_lines(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[BuildLine]:
    try:
        async for item in mapped(stream, "build"):
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


@asynccontextmanager
async def open_attached(docker: aiodocker.Docker, container_id: str) -> AsyncIterator[OutputStream]:
    """The container's stdout and stderr from the moment of attaching."""
    stream = docker.containers.container(container_id).attach(stdout=True, stderr=True)
    try:
        with request(f"attach to {container_id[:12]}"):
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


class _DockerOutput:
    """An attached container's output, chunk by chunk."""

    def __init__(self, stream: Any, container_id: str) -> None:
        self._stream = stream
        self._what = f"output of {container_id[:12]}"

    async def read(self) -> Output | None:
        """The next chunk (``stream`` 1 is stdout, 2 stderr), or None once it ended."""
        with request(self._what, timeout=None):
            message = await self._stream.read_out()
        return None if message is None else Output(stream=message.stream, data=message.data)


@asynccontextmanager
async def open_client_log(
    docker: aiodocker.Docker, container_id: str, params: dict[str, Any], *, follow: bool
) -> AsyncIterator[AsyncIterator[list[bytes]]]:
    """A log response's entries, read through the client; a stream not followed that
    stalls (each read waits at most :data:`REQUEST_TIMEOUT`) means the engine no
    longer answers."""
    what = f"logs of {container_id[:12]}"
    stall = None if follow else REQUEST_TIMEOUT
    query = log_response(docker, container_id, params)
    with request(what):
        response = await query.__aenter__()
    try:
        yield mapped(entries(response.content.iter_any()), what, stall)
    finally:
        with anyio.CancelScope(shield=True):
            await query.__aexit__(None, None, None)
