"""What each run and each batch has spent, as one gateway process knows it.

A run's spend is read from its event file the first time the gateway sees the run
(a restarted gateway forgets nothing), then kept as its answers end. A batch's is
the sum over its runs: the first time a batch is seen, every run registered with it
is read, revoked ones too (what a finished run spent still counts).

A model call holds its ceiling against both budgets while it runs, and a run has at
most :data:`MAX_CALLS` in flight: a call that would not fit waits for the others to
settle, unless nothing of its run or batch is in flight (a budget is then overrun by
at most one call's ceiling).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from ..home import Home
from ._budget import Overspent, overspent
from ._events import gateway_usage
from ._registry import Registration, events_path, registered_runs

__all__ = ["MAX_CALLS", "Ledger"]

#: Model calls one run may have in flight; more wait their turn.
MAX_CALLS = 4


class Ledger:
    def __init__(self, home: Home) -> None:
        self._home = home
        self._runs: dict[str, float] = {}
        self._batches: dict[str, set[str]] = {}
        self._loading = anyio.Lock()
        self._held: dict[str, list[float]] = {}  # each call in flight: its ceiling
        self._settled = anyio.Event()

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

    @asynccontextmanager
    async def call(
        self, registration: Registration, ceiling_usd: float
    ) -> AsyncIterator[Overspent | None]:
        """Hold ``ceiling_usd`` for one model call while the block runs; what it yields
        is the budget that refuses the call, or None when the call may go."""
        while True:
            over, fits = await self._admission(registration, ceiling_usd)
            if over is not None:
                yield over
                return
            if fits:
                break
            await self._settled.wait()
        held = self._held.setdefault(registration.run_id, [])
        held.append(ceiling_usd)
        try:
            yield None
        finally:
            held.remove(ceiling_usd)
            self._settled.set()
            self._settled = anyio.Event()

    async def _admission(
        self, registration: Registration, ceiling_usd: float
    ) -> tuple[Overspent | None, bool]:
        run_spent, batch_spent = await self.spent(registration)
        over = overspent(registration, run_spent, batch_spent)
        run_held = self._held.get(registration.run_id, [])
        if over is not None or len(run_held) >= MAX_CALLS:
            return over, False
        batch_held = (
            [c for member in self._batches[registration.batch] for c in self._held.get(member, [])]
            if registration.batch is not None
            else run_held
        )
        if not batch_held:
            return None, True
        committed = overspent(
            registration,
            run_spent + sum(run_held) + ceiling_usd,
            batch_spent + sum(batch_held) + ceiling_usd,
        )
        return None, committed is None

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
