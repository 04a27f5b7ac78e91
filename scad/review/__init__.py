"""Review: a batch's results side by side, worst first (:mod:`.batch`), one run's full
diff and last message (:mod:`.run`), and the passed runs' branches merged into one
(:mod:`.merge`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .batch import review_batch
    from .merge import (
        BatchMerge,
        ChosenRuns,
        LeftOutRun,
        MergedRun,
        RepoMerge,
        choose_runs,
        merge_batch,
    )
    from .rows import BatchReview, ReviewRow, RunReview, needs_human_first
    from .run import review_run
    from .runlog import CheckResults

__all__ = [
    "BatchMerge",
    "BatchReview",
    "CheckResults",
    "ChosenRuns",
    "LeftOutRun",
    "MergedRun",
    "RepoMerge",
    "ReviewRow",
    "RunReview",
    "choose_runs",
    "merge_batch",
    "needs_human_first",
    "review_batch",
    "review_run",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "BatchMerge": "merge",
        "BatchReview": "rows",
        "CheckResults": "runlog",
        "ChosenRuns": "merge",
        "LeftOutRun": "merge",
        "MergedRun": "merge",
        "RepoMerge": "merge",
        "ReviewRow": "rows",
        "RunReview": "rows",
        "choose_runs": "merge",
        "merge_batch": "merge",
        "needs_human_first": "rows",
        "review_batch": "batch",
        "review_run": "run",
    },
)
