"""Runs' totals kept up to date from their event logs, each read on from where it stopped."""

from __future__ import annotations

import os
from collections.abc import Collection

import anyio

from ..home import Home
from .accounting import RunTally
from .events import read_events
from .records import RunPaths

__all__ = ["LogTallies"]


class LogTallies:
    """One :class:`~scad.runs.accounting.RunTally` per run, fed what its log gained since.

    Views and the batch's monitor look at every run about once a second; one
    look at the logs' sizes (a single trip to a worker thread) tells which grew,
    and only those are read.
    """

    def __init__(self, home: Home) -> None:
        self.home = home
        self._tallies: dict[str, RunTally] = {}
        self._offsets: dict[str, int] = {}

    async def update(self, run_ids: Collection[str]) -> dict[str, RunTally]:
        """The tallies of ``run_ids``, brought up to date."""
        sizes = await anyio.to_thread.run_sync(self._sizes, list(run_ids))
        for run_id, size in sizes.items():
            tally = self._tallies.setdefault(run_id, RunTally())
            offset = self._offsets.get(run_id, 0)
            while offset < size:
                envelopes, after = await read_events(RunPaths(self.home, run_id), offset)
                if after == offset:
                    break  # a partial last line: its end comes later
                tally.feed(envelopes)
                offset = after
            self._offsets[run_id] = offset
        return {run_id: self._tallies.setdefault(run_id, RunTally()) for run_id in run_ids}

    def _sizes(self, run_ids: list[str]) -> dict[str, int]:
        sizes = {}
        for run_id in run_ids:
            try:
                sizes[run_id] = os.stat(RunPaths(self.home, run_id).events).st_size
            except FileNotFoundError:
                sizes[run_id] = 0
        return sizes
