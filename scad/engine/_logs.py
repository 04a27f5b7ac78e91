"""A container's log as both engines read it: the query, its entries as they come,
and the last few as text. The bytes come from the socket or from the client; what
is made of them is the same."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode

import anyio

from ..errors import EngineUnavailable, LogUnavailable
from ..text import printable
from ._frames import LogTexts, frames
from ._rawhttp import REQUEST_TIMEOUT, open_answer

__all__ = ["entries", "followed_params", "last_texts", "open_socket_log", "tail_params"]


def tail_params(*, stderr: bool, tail: int) -> dict[str, Any]:
    """The query for the stdout (or stderr) entries among the last ``tail`` (a tail
    the engine counts over both streams)."""
    return {"stdout": not stderr, "stderr": stderr, "tail": str(tail)}


def followed_params(*, since: str | None, follow: bool) -> dict[str, Any]:
    """The query for timestamped stdout entries since the UNIX time ``since``."""
    params: dict[str, Any] = {"stdout": True, "follow": follow, "timestamps": True}
    if since is not None:
        params["since"] = since
    return params


@asynccontextmanager
async def open_socket_log(
    socket: str, container_id: str, params: dict[str, Any], *, follow: bool
) -> AsyncIterator[AsyncIterator[list[bytes]]]:
    """The log's entries read straight off the engine's unix socket at ``socket``; a
    log not followed that stalls (each read waits at most :data:`REQUEST_TIMEOUT`)
    means the engine no longer answers."""
    what = f"logs of {container_id[:12]}"
    target = _log_target(container_id, params)
    async with open_answer(socket, "GET", target, what) as body:
        yield _bounded(entries(body), what, None if follow else REQUEST_TIMEOUT)


async def _bounded(
    stream: AsyncIterator[list[bytes]], what: str, stall: float | None
) -> AsyncIterator[list[bytes]]:
    """``stream``, each item awaited at most ``stall`` seconds (no scope held across
    yield)."""
    while True:
        try:
            with anyio.fail_after(stall):
                try:
                    item = await stream.__anext__()
                except StopAsyncIteration:
                    return
        except TimeoutError as exc:
            raise EngineUnavailable(
                f"{what}: the Docker engine did not answer within {stall:.0f} s"
            ) from exc
        yield item


def _log_target(container_id: str, params: dict[str, Any]) -> str:
    """The path and query of the log request with ``params``."""
    query = urlencode({k: _param(v) for k, v in params.items()})
    return f"/containers/{quote(container_id, safe='')}/logs?{query}"


def _param(value: str | bool) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else value


async def entries(body: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """The entries of a log response's body, demultiplexed here as they arrive, those
    of each read together (a general client's reader makes two small reads per
    entry, which cost most of a long catch-up); each stays bytes, for its reader to
    decode once. The engine's own word that it could not read the log ends it:
    :class:`~scad.errors.LogUnavailable`."""
    buffer = b""
    async for chunk in body:
        buffer += chunk
        complete = frames(buffer)
        buffer = buffer[complete.used :]
        if complete.payloads:
            yield complete.payloads
        if complete.said is not None:  # the engine's own word ends the log: nothing after it
            said = complete.said.decode(errors="replace").strip()
            raise LogUnavailable(printable(said)[:300])


async def last_texts(log: AsyncIterator[list[bytes]], tail: int) -> list[str]:
    """The last ``tail`` entries of ``log`` as text: the engine was asked for no more,
    and no more are kept whatever it sends. Entries are not lines: a long line
    comes as several entries, only the last of which ends in a newline."""
    kept: deque[str] = deque(maxlen=tail)
    texts = LogTexts()
    async for some in log:
        kept.extend(texts.decode(some))
    if kept and (cut := texts.finish()):
        kept[-1] += cut
    return list(kept)
