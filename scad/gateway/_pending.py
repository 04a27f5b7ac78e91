"""Connections that have not yet said what they want: at most so many wait, and
when one more comes the oldest of them is cut.

Anyone who reaches a listener can open connections and say nothing. Were the
silent ones to hold their places until a timeout, enough of them would shut the
listener to every run; a client with something to say says it at once, so it is
never the oldest for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = ["Pending"]


class Pending:
    """The connections still to say what they want, oldest first, at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._waiting: dict[int, anyio.CancelScope] = {}  # insertion order: oldest first

    @contextmanager
    def waiting(self) -> Iterator[anyio.CancelScope]:
        """A scope for reading a connection's request: cancelled (``cancelled_caught``)
        when ``limit`` newer connections came while it waited."""
        scope = anyio.CancelScope()
        self._waiting[id(scope)] = scope
        while len(self._waiting) > self._limit:
            self._waiting.pop(next(iter(self._waiting))).cancel()
        try:
            with scope:
                yield scope
        finally:
            self._waiting.pop(id(scope), None)
