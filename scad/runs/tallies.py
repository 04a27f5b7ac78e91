"""Runs' totals kept up to date from their event logs, each read on from where it stopped."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import anyio

from ..home import Home
from .accounting import RunTally
from .events import read_events_blocking
from .records import RunPaths

__all__ = ["LogTallies"]


class LogTallies:
    """One :class:`~scad.runs.accounting.RunTally` per run, fed what its log gained since.

    Views and the batch's monitor look at every run about once a second: one trip
    to a worker thread looks at every log's size and reads on only those that grew,
    so a look at ten thousand runs of which one moved costs ten thousand ``stat``\\s.
    """

    def __init__(self, home: Home) -> None:
        self.home = home
        self._tallies: dict[str, RunTally] = {}
        self._offsets: dict[str, int] = {}
        self._logs: dict[str, Path] = {}
        #: The runs that had no log at the last update (their folders gone, say).
        self.missing: set[str] = set()

    async def update(self, run_ids: Collection[str]) -> dict[str, RunTally]:
        """The tallies of ``run_ids``, brought up to date."""
        await anyio.to_thread.run_sync(self._read_on, list(run_ids))
        return {run_id: self._tallies.setdefault(run_id, RunTally()) for run_id in run_ids}

    def _read_on(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            log = self._logs.get(run_id)
            if log is None:
                log = self._logs[run_id] = RunPaths(self.home, run_id).events
            try:
                size = os.stat(log).st_size
                self.missing.discard(run_id)
            except FileNotFoundError:
                self.missing.add(run_id)
                continue
            offset = self._offsets.get(run_id, 0)
            tally = self._tallies.setdefault(run_id, RunTally())
            while offset < size:
                envelopes, after = read_events_blocking(log, offset)
                if after == offset:
                    break  # a partial last line: its end comes later
                tally.feed(envelopes)
                offset = after
            self._offsets[run_id] = offset
