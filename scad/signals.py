"""The signals a batch paces itself by: rate limits and spend, behind one small interface.

Today they are read from the runs' event logs, that is from what Claude printed
in its container. A host-side model gateway would see them at the source, where
an agent cannot forge them, and plugs in as another :class:`SignalSource`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import msgspec

from .accounting import RunTally
from .events import read_events
from .home import Home
from .runs import RunPaths

__all__ = ["LogSignals", "RunSignals", "SignalSource"]


class RunSignals(msgspec.Struct, frozen=True, kw_only=True):
    """What one run told the fleet since it was last asked."""

    run_id: str
    #: Everything the run has cost so far, over all its attempts (US dollars).
    spent_usd: float
    #: HTTP statuses of the rate-limit reports (429, 529) seen since the last poll.
    rate_limits: tuple[int, ...] = ()


class SignalSource(Protocol):
    async def poll(self, run_ids: Collection[str]) -> list[RunSignals]:
        """The signals of ``run_ids`` since the previous poll."""
        ...


class LogSignals:
    """Signals read from the runs' event logs, each read from where it was left."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._tallies: dict[str, RunTally] = {}
        self._offsets: dict[str, int] = {}

    async def poll(self, run_ids: Collection[str]) -> list[RunSignals]:
        signals = []
        for run_id in run_ids:
            tally = self._tallies.setdefault(run_id, RunTally())
            seen = len(tally.rate_limits)
            offset = self._offsets.get(run_id, 0)
            while True:
                envelopes, after = await read_events(RunPaths(self.home, run_id), offset)
                if after == offset:
                    break
                tally.feed(envelopes)
                offset = after
            self._offsets[run_id] = offset
            signals.append(
                RunSignals(
                    run_id=run_id,
                    spent_usd=tally.summary().cost_usd,
                    rate_limits=tuple(tally.rate_limits[seen:]),
                )
            )
        return signals
