"""The signals a batch paces itself by: rate limits and spend, behind one small interface.

Today they are read from the runs' event logs, that is from what Claude printed
in its container. A host-side model gateway would see them at the source, where
an agent cannot forge them, and plugs in as another :class:`SignalSource`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import msgspec

from ..home import Home
from ..runs.tallies import LogTallies

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
    """Signals read from the runs' event logs, each read on from where it stopped."""

    def __init__(self, home: Home) -> None:
        self._tallies = LogTallies(home)
        self._reported: dict[str, int] = {}  # rate-limit reports handed on, per run

    async def poll(self, run_ids: Collection[str]) -> list[RunSignals]:
        signals = []
        for run_id, tally in (await self._tallies.update(run_ids)).items():
            seen = self._reported.get(run_id, 0)
            self._reported[run_id] = len(tally.rate_limits)
            signals.append(
                RunSignals(
                    run_id=run_id,
                    spent_usd=tally.summary().cost_usd,
                    rate_limits=tuple(tally.rate_limits[seen:]),
                )
            )
        return signals
