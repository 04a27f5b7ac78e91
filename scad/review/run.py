"""``review RUN``: one run's row, its full diff and what the agent said it did."""

from __future__ import annotations

import anyio

from ..batch.signals import GatewaySignals
from ..code.diff import diff_run
from ..home import Home
from ..runs.records import RunPaths, aload_run
from ..sessions.status import run_statuses
from .rows import ReviewRow, RunReview
from .runlog import read_log_review

__all__ = ["review_run"]


async def review_run(home: Home, run_id: str) -> RunReview:
    """Run ``run_id`` (a whole id): its row, each repo's diff against its base, the
    checks that judged it and Claude's last message.

    Its outcome, cost and duration are what ``session status`` and ``project status``
    show (its log's summary; the gateway's measured cost where it measured one), read
    from the logs alone: no engine is asked. Raises NotFound for an unknown run.
    """
    record = await aload_run(home, run_id)
    (status,) = await run_statuses(None, home, [record])
    spent = await anyio.to_thread.run_sync(GatewaySignals(home).measured_spend, [run_id])
    summary = status.summary
    row = ReviewRow(
        item=record.item,
        tag=record.tag,
        run_id=run_id,
        outcome=status.outcome if record.mode == "headless" else None,
        cost_usd=spent.get(run_id, summary.cost_usd),
        cost_estimated=run_id not in spent and summary.cost_estimated,
        duration_ms=summary.duration_ms,
    )
    log = await read_log_review(RunPaths(home, run_id))
    row.checks = log.checks
    row.changed_pinned = bool(row.checks.pinned)
    repos = await diff_run(home, record, detail=True)
    row.add_diffs(repos)
    return RunReview(rows=[row], repos=repos, checked=log.checked, last_message=log.last_message)
