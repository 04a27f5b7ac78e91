"""What the server reads and acts through: the home, and the ways to the engine that
the command line's own commands use. Handlers find it on the application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio
from aiohttp import web

from ..batch.view import BatchWatcher
from ..errors import EngineUnavailable
from ..home import Home
from ._follow import LogFollowers
from ._security import Bound, Secrets

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["SERVED", "Served", "Sources", "served", "with_engine_if_up"]

T = TypeVar("T")
OpenEngine = Callable[[], AbstractAsyncContextManager["Engine"]]

#: Batches whose watchers are kept (each reads its logs on from where it stopped).
WATCHED_BATCHES = 64


@dataclass(frozen=True)
class Sources:
    """The home, the engine the actions use, and the socket engine the views use."""

    home: Home
    open_engine: OpenEngine
    open_socket_engine: OpenEngine


@dataclass
class Served:
    """One server's state: its sources, secrets and address, its batches' watchers and
    its live streams."""

    sources: Sources
    secrets: Secrets
    bound: Bound
    watchers: dict[str, BatchWatcher] = field(default_factory=dict)
    #: Set when the server stops: its live streams end.
    closing: anyio.Event = field(default_factory=anyio.Event)
    #: Every live stream's log, looked at together.
    followers: LogFollowers = field(init=False)

    def __post_init__(self) -> None:
        self.followers = LogFollowers(self.closing)

    def watcher(self, batch_id: str) -> BatchWatcher:
        """The batch's watcher, made on first use; the oldest is let go past a bound."""
        watcher = self.watchers.pop(batch_id, None) or BatchWatcher(self.sources.home, batch_id)
        self.watchers[batch_id] = watcher  # last: the most recently used
        while len(self.watchers) > WATCHED_BATCHES:
            del self.watchers[next(iter(self.watchers))]
        return watcher


SERVED = web.AppKey("served", Served)


def served(request: web.Request) -> Served:
    return request.app[SERVED]


async def with_engine_if_up(
    opener: OpenEngine, work: Callable[[Engine | None], Awaitable[T]]
) -> tuple[T, str | None]:
    """``work(engine)``, or ``work(None)`` when the engine cannot be reached; with why
    not, for the page to say."""
    try:
        async with opener() as engine:
            return await work(engine), None
    except EngineUnavailable as exc:
        return await work(None), str(exc)
