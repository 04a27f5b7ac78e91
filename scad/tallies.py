"""Runs' totals kept up to date from their event logs, each read on from where it stopped."""

from __future__ import annotations

from .accounting import RunTally
from .events import read_events
from .home import Home
from .runs import RunPaths

__all__ = ["LogTallies"]


class LogTallies:
    """One :class:`~scad.accounting.RunTally` per run, fed what its log gained since."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._tallies: dict[str, RunTally] = {}
        self._offsets: dict[str, int] = {}

    async def read(self, run_id: str) -> RunTally:
        tally = self._tallies.setdefault(run_id, RunTally())
        offset = self._offsets.get(run_id, 0)
        while True:
            envelopes, after = await read_events(RunPaths(self.home, run_id), offset)
            if after == offset:
                break
            tally.feed(envelopes)
            offset = after
        self._offsets[run_id] = offset
        return tally
