"""Blocking work off the event loop: the async twin of a store's blocking function.

A store keeps its core synchronous (plain functions over files: testable on their
own) and gives async code a twin of each, ``a``-prefixed, that runs it on anyio's
worker threads. So an fsync, a lock, a folder scan or a whole record read never
holds up the event loop that streams every run's output. Reads of logs, a chunk
at a time, are such calls too: cancelled, one still closes what it opened.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial, wraps
from typing import Any, ParamSpec, TypeVar

import anyio

__all__ = ["async_twin"]

P = ParamSpec("P")
T = TypeVar("T")


def async_twin(blocking: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``blocking``, awaited on a worker thread (anyio's default limiter bounds them
    to 40 at once). Cancelling waits for the call to end: store calls are short."""

    @wraps(blocking)
    async def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return await anyio.to_thread.run_sync(partial(blocking, *args, **kwargs))

    return twin
