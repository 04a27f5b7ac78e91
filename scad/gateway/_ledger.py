"""What each run and each batch has spent, as one gateway process knows it.

A run's spend is read from its event file the first time the gateway sees the run
(a restarted gateway forgets nothing), then kept as its answers end. A batch's is
the sum over its runs: the first time a batch is seen, every run registered with it
is read, revoked ones too (what a finished run spent still counts).
"""

from __future__ import annotations

import anyio

from ..home import Home
from ._events import gateway_usage
from ._registry import Registration, events_path, registered_runs

__all__ = ["Ledger"]


class Ledger:
    def __init__(self, home: Home) -> None:
        self._home = home
        self._runs: dict[str, float] = {}
        self._batches: dict[str, set[str]] = {}
        self._loading = anyio.Lock()

    async def spent(self, registration: Registration) -> tuple[float, float]:
        """What the run and its batch (0 without one) have spent so far, in US dollars."""
        run_id, batch = registration.run_id, registration.batch
        if run_id not in self._runs or (batch is not None and batch not in self._batches):
            async with self._loading:
                await anyio.to_thread.run_sync(self._load, registration)
        if batch is None:
            return self._runs[run_id], 0.0
        members = self._batches[batch]
        members.add(run_id)
        return self._runs[run_id], sum(self._runs.get(member, 0.0) for member in members)

    def add(self, run_id: str, cost_usd: float) -> None:
        """An answer of the run ended, costing ``cost_usd`` (the run was seen before)."""
        self._runs[run_id] = self._runs.get(run_id, 0.0) + cost_usd

    def _load(self, registration: Registration) -> None:
        """Read what is not known yet (under the lock, in a worker thread)."""
        self._read_run(registration.run_id)
        batch = registration.batch
        if batch is not None and batch not in self._batches:
            members = {r.run_id for r in registered_runs(self._home) if r.batch == batch}
            for member in members:
                self._read_run(member)
            self._batches[batch] = members

    def _read_run(self, run_id: str) -> None:
        if run_id not in self._runs:
            self._runs[run_id] = gateway_usage([events_path(self._home, run_id)]).cost_usd
