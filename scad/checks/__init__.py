"""Checks: what a run committed, judged by the config's commands in a fresh container
of the config's image, never in the run's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .commits import check_commits
    from .report import CheckReport, CheckSource
    from .run import check_run

__all__ = ["CheckReport", "CheckSource", "check_commits", "check_run"]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "CheckReport": "report",
        "CheckSource": "report",
        "check_commits": "commits",
        "check_run": "run",
    },
)
