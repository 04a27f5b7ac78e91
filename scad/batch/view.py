"""What a batch looks like now, from its logs alone: one row a prompt, and totals.

Views (the live table, `batch status`, `--json`) only read: the manifest, the
batch's event log and the runs' event logs, each log read on from where the
last look left it (the batch's folded on from the state that look left), so
looking again at a batch of ten thousand prompts costs what is new and a
``stat`` of each run's logs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Literal

import anyio
import msgspec

from ..home import Home
from ..runs.accounting import RunSummary
from ..runs.ledger import Collected, collected_run
from ..runs.records import RunPaths, parse_iso
from ..runs.states import ItemStatus
from ..runs.tallies import LogTallies
from .signals import GatewaySignals
from .state import BatchLogFollower, ItemState
from .store import BatchManifest, BatchPaths, aload_manifest, asupervisor_pid

__all__ = ["BatchRow", "BatchTotals", "BatchView", "BatchWatcher", "SupervisorState"]

#: ``dead``: not running and the batch not ended (killed, or never started).
SupervisorState = Literal["running", "ended", "dead"]


class BatchRow(msgspec.Struct, kw_only=True):
    item: int
    tag: str
    outcome: ItemStatus
    run_id: str | None = None
    attempts: int = 0
    #: Of its attempts, those made to fix what its checks failed.
    fix_attempts: int = 0
    #: The checks that failed it, when it ended ``checks-failed``.
    failing_checks: list[str] = []
    turns: int = 0
    last_tool: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    #: The cost counts a conversation still going at its usage's price.
    cost_estimated: bool = False
    #: The cost is what the model gateway measured (else what Claude reported).
    cost_measured: bool = False
    #: How long it ran (so far, while it runs).
    duration_ms: int | None = None
    #: The swarm node its latest attempt runs (or ran) on; None on the local engine.
    node: str | None = None
    detail: str | None = None


class BatchTotals(msgspec.Struct, kw_only=True):
    prompts: int = 0
    outcomes: dict[str, int] = {}
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class BatchView(msgspec.Struct, kw_only=True):
    batch_id: str
    config: str
    supervisor: SupervisorState
    #: The live supervisor's pid.
    pid: int | None = None
    parallel: int
    #: How many may run at once now (lowered under rate limits).
    limit: int | None = None
    budget_usd: float | None = None
    budget_spent: bool = False
    notes: list[str] = []
    rows: list[BatchRow]
    totals: BatchTotals

    @property
    def done(self) -> bool:
        """Nothing more will happen unless someone resumes or retries the batch."""
        return self.supervisor != "running"

    @property
    def succeeded(self) -> bool:
        return self.supervisor == "ended" and all(r.outcome == "succeeded" for r in self.rows)


class BatchWatcher:
    """Looks at one batch again and again, reading each log on from where it stopped."""

    def __init__(self, home: Home, batch_id: str) -> None:
        self.home = home
        self.batch_id = batch_id
        #: Read at the first look (it never changes).
        self.manifest: BatchManifest | None = None
        self.paths = BatchPaths(home, batch_id)
        self._tallies = LogTallies(home)
        self._gateway = GatewaySignals(home)
        self._ledger: dict[str, Collected | None] = {}
        self._follower: BatchLogFollower | None = None

    async def look(self) -> BatchView:
        if self.manifest is None or self._follower is None:
            self.manifest = await aload_manifest(self.home, self.batch_id)
            self._follower = BatchLogFollower(self.paths, self.manifest)
        manifest = self.manifest
        # The follower's own state, changed by the next look: what the view keeps is copied.
        state = await anyio.to_thread.run_sync(self._follower.read)
        pid = await asupervisor_pid(self.paths)
        supervisor: SupervisorState = "ended" if state.ended else "dead"
        if pid is not None:
            supervisor = "running"
        tallies = await self._tallies.update(state.run_ids)
        summaries = {run_id: tally.summary() for run_id, tally in tallies.items()}
        summaries |= await anyio.to_thread.run_sync(self._collected, self._tallies.missing)
        spent = await anyio.to_thread.run_sync(self._gateway.measured_spend, state.run_ids)
        rows = [
            _row(item, summaries.get(item.run_id or ""), spent.get(item.run_id or ""))
            for item in state.items
        ]
        return BatchView(
            batch_id=manifest.batch_id,
            config=manifest.config,
            supervisor=supervisor,
            pid=pid if pid and pid > 0 else None,
            parallel=manifest.options.parallel,
            limit=state.limit,
            budget_usd=manifest.options.budget_usd,
            budget_spent=state.budget_spent,
            notes=list(state.notes),
            rows=rows,
            totals=_totals(rows),
        )

    def _collected(self, run_ids: Collection[str]) -> dict[str, RunSummary]:
        """The ledger's figures for the runs whose folders gc collected, of those
        with no log (looked up once each: a collected run does not come back)."""
        for run_id in run_ids:
            if run_id not in self._ledger and not RunPaths(self.home, run_id).root.is_dir():
                self._ledger[run_id] = collected_run(self.home, run_id)
        return {
            run_id: entry.log.summary for run_id, entry in self._ledger.items() if entry is not None
        }


def _row(item: ItemState, summary: RunSummary | None, measured_usd: float | None) -> BatchRow:
    """The item's row: Claude's figures from its log, its cost the gateway's where
    the gateway measured it (what a run printed is anyone's to write)."""
    row = BatchRow(
        item=item.index,
        tag=item.tag,
        outcome=item.status,
        run_id=item.run_id,
        attempts=item.attempts,
        fix_attempts=item.fixes,
        failing_checks=[f.name for f in item.failing] if item.status == "checks-failed" else [],
        detail=item.detail,
        duration_ms=_duration_ms(item.started, item.finished),
    )
    if summary is None:
        return row
    row.turns = summary.turns
    row.last_tool = summary.last_tool
    row.node = summary.node
    row.input_tokens = summary.usage.input_tokens
    row.output_tokens = summary.usage.output_tokens
    row.cost_usd = summary.cost_usd
    row.cost_estimated = summary.cost_estimated
    if measured_usd is not None:
        row.cost_usd, row.cost_estimated, row.cost_measured = measured_usd, False, True
    return row


def _duration_ms(started: str | None, finished: str | None) -> int | None:
    if started is None:
        return None
    end = parse_iso(finished) if finished else datetime.now(UTC)
    return max(0, round((end - parse_iso(started)).total_seconds() * 1000))


def _totals(rows: list[BatchRow]) -> BatchTotals:
    return BatchTotals(
        prompts=len(rows),
        outcomes=dict(Counter(row.outcome for row in rows)),
        turns=sum(row.turns for row in rows),
        input_tokens=sum(row.input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        cost_usd=sum(row.cost_usd for row in rows),
    )
