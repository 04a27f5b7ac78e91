"""A request through the aiodocker client, bounded in time, its errors scad's.

aiodocker's and aiohttp's errors become :class:`EngineUnavailable` (the engine did
not answer) or :class:`EngineError` (it refused) here and nowhere else, for the
engine's containers and images (``_client``) and its swarm (``_swarm``) alike; a
stream's items are read one by one the same way (:func:`mapped`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TypeVar

import aiodocker
import aiohttp
import anyio

from ..errors import EngineError, EngineUnavailable
from ._rawhttp import REQUEST_TIMEOUT

__all__ = ["mapped", "request"]

T = TypeVar("T")

#: aiodocker reports a connection failure as a DockerError with this status.
_NO_CONNECTION = 900


@contextmanager
def request(what: str, timeout: float | None = REQUEST_TIMEOUT) -> Iterator[None]:
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


async def mapped(
    stream: AsyncIterator[T], what: str, stall: float | None = None
) -> AsyncIterator[T]:
    """``stream`` with the client's errors turned into scad's, each item awaited at most
    ``stall`` seconds (no scope held across yield)."""
    while True:
        with request(what, timeout=stall):
            try:
                entry = await stream.__anext__()
            except StopAsyncIteration:
                return
        yield entry
