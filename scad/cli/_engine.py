"""For commands that show what they can without the engine: ask it when it answers,
go on without it when it does not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, TypeVar

import asyncclick as click

from ..errors import EngineUnavailable

__all__ = ["STATES_UNKNOWN", "STATE_UNKNOWN", "with_engine_if_up"]

if TYPE_CHECKING:
    from ..engine import Engine

T = TypeVar("T")

#: What a status view lacks without the engine, and what one run's lacks.
STATES_UNKNOWN = "states are unknown and totals are as last read"
STATE_UNKNOWN = "its state is unknown and its totals are as last read"


async def with_engine_if_up(
    work: Callable[[Engine | None], Awaitable[T]],
    opener: Callable[[], AbstractAsyncContextManager[Engine]],
    *,
    lacking: str | None,
) -> T:
    """``work(engine)`` with the engine ``opener`` opens; when it cannot be reached
    (then, or midway, also from within a task group), ``work(None)``, after a
    warning that says so and what that leaves out (``lacking``; no warning when
    None). Any other error goes on up."""
    try:
        async with opener() as engine:
            return await work(engine)
    except EngineUnavailable as unavailable:
        if lacking is not None:
            click.echo(f"warning: {unavailable}; {lacking}", err=True)
    return await work(None)
