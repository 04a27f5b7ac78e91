"""Runs' totals kept up to date from their event logs, each read on from where it stopped."""

from __future__ import annotations

import os
from collections.abc import Collection

import anyio

from ..home import Home
from .accounting import RunTally
from .logread import READ_CHUNK, envelopes_in, read_events_blocking

__all__ = ["LogTallies"]


class LogTallies:
    """One :class:`~scad.runs.accounting.RunTally` per run, fed what its log gained since.

    Views and the batch's monitor look at every run about once a second: one trip
    to a worker thread looks at every log's size and reads on only those that grew,
    so a look at ten thousand runs of which one moved costs ten thousand ``stat``\\s.
    A log's path is made once; what a log gained is read in one ``pread`` when it is
    no more than a read takes (a run's whole log, mostly, at the first look).
    """

    def __init__(self, home: Home) -> None:
        self.home = home
        self._tallies: dict[str, RunTally] = {}
        self._offsets: dict[str, int] = {}
        self._runs = os.fspath(home.runs)
        self._logs: dict[str, str] = {}
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
                log = self._logs[run_id] = f"{self._runs}/{run_id}/events.jsonl"
            try:
                size = os.stat(log).st_size
            except FileNotFoundError:
                self.missing.add(run_id)
                continue
            self.missing.discard(run_id)
            offset = self._offsets.get(run_id, 0)
            if offset < size:
                self._offsets[run_id] = self._read_on_from(run_id, log, offset, size)

    def _read_on_from(self, run_id: str, log: str, offset: int, size: int) -> int:
        """Feed the run's tally what its log gained past ``offset``; the offset after."""
        tally = self._tallies.setdefault(run_id, RunTally())
        if size - offset <= READ_CHUNK:
            try:
                fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return offset
            try:
                data = os.pread(fd, size - offset, offset)
            finally:
                os.close(fd)
            envelopes, offset = envelopes_in(data, offset)
            tally.feed(envelopes)
            return offset
        while offset < size:
            envelopes, after = read_events_blocking(log, offset)
            if after == offset:
                break  # a partial last line: its end comes later
            tally.feed(envelopes)
            offset = after
        return offset
