"""Review: a batch's results side by side, worst first, a run's full diff, and the
passed runs' branches merged into one (:mod:`.merge`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .merge import (
        BatchMerge,
        ChosenRuns,
        LeftOutRun,
        MergedRun,
        RepoMerge,
        choose_runs,
        merge_batch,
    )

__all__ = [
    "BatchMerge",
    "ChosenRuns",
    "LeftOutRun",
    "MergedRun",
    "RepoMerge",
    "choose_runs",
    "merge_batch",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "BatchMerge": "merge",
        "ChosenRuns": "merge",
        "LeftOutRun": "merge",
        "MergedRun": "merge",
        "RepoMerge": "merge",
        "choose_runs": "merge",
        "merge_batch": "merge",
    },
)
