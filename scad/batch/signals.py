"""The signals a batch paces itself by: rate limits and spend, behind one small interface.

:class:`GatewaySignals` reads them where an agent cannot forge them: the model
gateway's own events about each run (the status of every answer, what it cost).
What a run printed in its container (``api_retry`` lines, a ``result``'s cost) is
anyone's to write there, and counts only for a run the gateway never knew (one
made by a version of scad before it): :class:`LogSignals`.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Protocol

import anyio
import msgspec

from ..gateway import load_registration
from ..home import Home
from ..runs.gatewaylog import GATEWAY_DIR, BudgetRefused, Exchange, read_gateway_events_from
from ..runs.records import RunPaths
from ..runs.tallies import LogTallies

__all__ = ["GatewaySignals", "LogSignals", "RunSignals", "SignalSource"]


class RunSignals(msgspec.Struct, frozen=True, kw_only=True):
    """What one run told the fleet since it was last asked."""

    run_id: str
    #: Everything the run has cost so far, over all its attempts (US dollars).
    spent_usd: float
    #: HTTP statuses of the rate-limit reports (429, 529) seen since the last poll.
    rate_limits: tuple[int, ...] = ()
    #: What the batch had spent as the gateway counted it, when it refused the run a
    #: request for the batch's budget (None: it did not).
    batch_refused_at_usd: float | None = None


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


class GatewaySignals:
    """Signals the gateway measured, each run's events read on from where they
    stopped; a run with no registration (made before the gateway) by its log."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._log = LogSignals(home)
        self._registered: set[str] = set()
        self._runs = os.fspath(home.runs)
        self._folders: dict[str, str] = {}  # each run's gateway folder, its path made once
        self._offsets: dict[str, int] = {}
        self._spent: dict[str, float] = {}

    async def poll(self, run_ids: Collection[str]) -> list[RunSignals]:
        measured, unregistered = await anyio.to_thread.run_sync(self._measured, list(run_ids))
        return measured + (await self._log.poll(unregistered) if unregistered else [])

    def measured_spend(self, run_ids: Collection[str]) -> dict[str, float]:
        """What the gateway measured each registered run of ``run_ids`` to have cost so
        far; the others are left out. Blocks (reads files)."""
        measured, _ = self._measured(list(run_ids))
        return {signals.run_id: signals.spent_usd for signals in measured}

    def _measured(self, run_ids: list[str]) -> tuple[list[RunSignals], list[str]]:
        """The signals of the registered runs, and which runs have no registration."""
        measured, unregistered = [], []
        for run_id in run_ids:
            if run_id not in self._registered:
                # No gateway folder, no registration: a stat, not a read, for each
                # run that has none (a run not yet prepared, or made before the gateway).
                gateway = self._folders.get(run_id)
                if gateway is None:
                    gateway = self._folders[run_id] = f"{self._runs}/{run_id}/{GATEWAY_DIR}"
                if not os.path.lexists(gateway) or load_registration(self.home, run_id) is None:
                    unregistered.append(run_id)
                    continue
                self._registered.add(run_id)
            measured.append(self._read_on(run_id))
        return measured, unregistered

    def _read_on(self, run_id: str) -> RunSignals:
        path = RunPaths(self.home, run_id).gateway_events
        offset = self._offsets.get(run_id, 0)
        limits: list[int] = []
        refused_at = None
        while True:
            events, after = read_gateway_events_from(path, offset)
            for event in events:
                if isinstance(event, Exchange):
                    self._spent[run_id] = self._spent.get(run_id, 0.0) + event.cost_usd
                    if event.throttled:
                        limits.append(event.status)
                elif isinstance(event, BudgetRefused) and event.scope == "batch":
                    refused_at = event.spent_usd
            if after == offset:
                break  # all read, or a partial last line whose end comes later
            offset = after
        self._offsets[run_id] = offset
        return RunSignals(
            run_id=run_id, spent_usd=self._spent.get(run_id, 0.0), rate_limits=tuple(limits),
            batch_refused_at_usd=refused_at,
        )  # fmt: skip
