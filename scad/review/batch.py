"""``review BATCH``: each prompt's final run side by side, those needing a person first."""

from __future__ import annotations

import anyio

from ..batch.view import BatchRow, BatchWatcher
from ..code.diff import diff_run
from ..errors import NotFound
from ..home import Home
from ..runs.records import RunPaths, aload_run
from ..taskgroups import open_task_group
from .rows import BatchReview, ReviewRow, needs_human_first
from .runlog import read_log_review

__all__ = ["PARALLEL_RUNS", "review_batch"]

#: Runs read at once (each runs git a few times in its stores).
PARALLEL_RUNS = 8


async def review_batch(home: Home, batch_id: str) -> BatchReview:
    """Each item of batch ``batch_id`` (a whole id) and its final run, ordered by
    :func:`~scad.review.rows.needs_human_first`.

    An item's outcome, cost and duration are what ``batch status`` shows (the batch's
    log and the runs' logs: the gateway's measured cost where it measured one); its
    checks come from its run's log, and what it changed from the run's clones, read
    in scad's stores (never with git in a clone). Raises NotFound for an unknown batch.
    """
    view = await BatchWatcher(home, batch_id).look()
    rows = [_row(row) for row in view.rows]
    limiter = anyio.CapacityLimiter(PARALLEL_RUNS)

    async def fill(row: ReviewRow, run_id: str) -> None:
        async with limiter:
            await _fill(home, row, run_id)

    async with open_task_group() as tg:
        for row in rows:
            if row.run_id is not None:
                tg.start_soon(fill, row, row.run_id)
    return BatchReview(
        batch_id=view.batch_id,
        config=view.config,
        running=view.supervisor == "running",
        rows=needs_human_first(rows),
    )


def _row(row: BatchRow) -> ReviewRow:
    return ReviewRow(
        item=row.item,
        tag=row.tag,
        run_id=row.run_id,
        outcome=row.outcome,
        cost_usd=row.cost_usd,
        cost_estimated=row.cost_estimated,
        duration_ms=row.duration_ms,
        detail=row.detail,
    )


async def _fill(home: Home, row: ReviewRow, run_id: str) -> None:
    """The run's checks and what it changed, into its row."""
    try:
        record = await aload_run(home, run_id)
    except NotFound as exc:  # gc collected it, or its record is unreadable
        row.problem = str(exc)
        return
    log = await read_log_review(RunPaths(home, run_id))
    row.checks = log.checks
    row.changed_pinned = bool(row.checks.pinned)
    row.add_diffs(await diff_run(home, record, detail=False))
