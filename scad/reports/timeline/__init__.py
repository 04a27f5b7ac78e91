"""A batch's timeline: one lane a prompt, each attempt a bar, the waits between, the
concurrency limit over time and the spend against the budget. Folded from the logs
(:mod:`._fold`, pure; :func:`read_timeline` reads them) and drawn as inline SVG
(:func:`timeline_svg`, pure)."""

from __future__ import annotations

from ._fold import TimelineFold, fold_timeline
from ._model import Bar, Lane, Mark, Segment, SpendPoint, Step, Timeline
from ._read import read_timeline
from ._svg import timeline_svg

__all__ = [
    "Bar",
    "Lane",
    "Mark",
    "Segment",
    "SpendPoint",
    "Step",
    "Timeline",
    "TimelineFold",
    "fold_timeline",
    "read_timeline",
    "timeline_svg",
]
