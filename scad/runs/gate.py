"""The pause between a supervised container's creation and its start.

A caller that spaces its starts out (a batch) holds each run here: the run says
it was made (:attr:`StartGate.created`), the caller lets it go or refuses it, and
the run says it started (:attr:`StartGate.started`). Everything passes as events,
so the supervisor never calls back into the code that steers it.
"""

from __future__ import annotations

import anyio

from ..errors import ScadError

__all__ = ["StartGate", "StartRefused"]


class StartRefused(ScadError):
    """Raised by a supervised run whose start its gate refused (it never started)."""


class StartGate:
    """One run's gate: set by its supervisor, opened or refused by its caller."""

    def __init__(self) -> None:
        #: The container is made and waits at the gate.
        self.created = anyio.Event()
        #: The container started.
        self.started = anyio.Event()
        self._decided = anyio.Event()
        self._refusal: str | None = None

    def open(self) -> None:
        """Let the run start."""
        self._decided.set()

    def refuse(self, why: str) -> None:
        """Keep the run from starting: it raises :class:`StartRefused` saying ``why``."""
        self._refusal = why
        self._decided.set()

    async def passed(self) -> None:
        """The supervisor's side: wait at the gate until it opens (raise if refused)."""
        self.created.set()
        await self._decided.wait()
        if self._refusal is not None:
            raise StartRefused(self._refusal)
