"""What a batch's report shows, gathered: the view ``batch status`` shows, the
review ``scad review`` shows, the timeline, and each run's last message."""

from __future__ import annotations

import anyio
import msgspec

from ...batch.store import BatchManifest, aload_manifest
from ...batch.view import BatchView, BatchWatcher
from ...home import Home
from ...review import BatchReview, review_batch
from ...review.runlog import read_log_review
from ...runs.records import RunPaths, now_iso
from ...taskgroups import open_task_group
from ..timeline import Timeline, read_timeline

__all__ = ["MESSAGE_CHARS", "BatchReport", "gather_batch_report"]

#: Characters of a run's last message a report keeps (the review keeps more).
MESSAGE_CHARS = 4000
#: Run logs read at once.
_PARALLEL_RUNS = 8


class BatchReport(msgspec.Struct, kw_only=True):
    manifest: BatchManifest
    view: BatchView
    review: BatchReview
    timeline: Timeline
    #: Claude's last message of each run, by run id (cut to :data:`MESSAGE_CHARS`).
    last_messages: dict[str, str] = {}
    #: When it was gathered.
    made: str


async def gather_batch_report(home: Home, batch_id: str) -> BatchReport:
    """Batch ``batch_id`` (a whole id), as its logs and scad's stores hold it now.
    Raises NotFound for an unknown batch."""
    manifest = await aload_manifest(home, batch_id)
    view = await BatchWatcher(home, batch_id).look()
    review = await review_batch(home, batch_id)
    timeline = await read_timeline(home, batch_id)
    messages: dict[str, str] = {}
    limiter = anyio.CapacityLimiter(_PARALLEL_RUNS)

    async def last_message(run_id: str) -> None:
        async with limiter:
            said = (await read_log_review(RunPaths(home, run_id))).last_message
        if said is not None:
            cut = len(said) > MESSAGE_CHARS
            messages[run_id] = said[:MESSAGE_CHARS] + ("\n[... cut]" if cut else "")

    async with open_task_group() as tg:
        for row in review.rows:
            if row.run_id is not None:
                tg.start_soon(last_message, row.run_id)
    return BatchReport(
        manifest=manifest, view=view, review=review, timeline=timeline,
        last_messages=messages, made=now_iso(),
    )  # fmt: skip
