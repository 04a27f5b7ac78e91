"""An attempt's way to its start: a place among the runs made ready ahead of a free
slot, then a slot.

A batch makes its next runs (clones, Claude state, a created container) while its
slots are busy, so that a slot that frees only has to start one. The runs made
ahead are bounded, so that a budget spent or a batch stopped throws little away.
"""

from __future__ import annotations

import anyio

__all__ = ["Turn"]


class Turn:
    """One attempt's claim on the batch's limits, given back once, however it ends."""

    def __init__(self, slots: anyio.CapacityLimiter, ready: anyio.CapacityLimiter) -> None:
        self._slots = slots
        self._ready = ready
        self._held: list[anyio.CapacityLimiter] = []

    async def get_ready(self) -> None:
        """Wait for a place among the runs made ahead of a slot."""
        await self._take(self._ready)

    async def take_slot(self) -> None:
        """Wait for a slot: they go to turns in the order they asked."""
        await self._take(self._slots)

    def let_go(self) -> None:
        """It is starting: its place among the runs made ahead goes to the next."""
        self._give_back(self._ready)

    def leave(self) -> None:
        """The attempt ended: everything it holds goes back."""
        for limiter in list(self._held):
            self._give_back(limiter)

    async def _take(self, limiter: anyio.CapacityLimiter) -> None:
        await limiter.acquire_on_behalf_of(self)
        self._held.append(limiter)

    def _give_back(self, limiter: anyio.CapacityLimiter) -> None:
        if limiter in self._held:
            self._held.remove(limiter)
            limiter.release_on_behalf_of(self)
