"""``scad batch report``: a batch as one self-contained HTML file, to attach to a pull
request or a ticket: its header, its timeline, its items and each run's summary.
Gathered from the logs and scad's stores (:func:`gather_batch_report`), rendered
with no script and no outside reference (:func:`batch_report_html`, pure)."""

from __future__ import annotations

from ._gather import BatchReport, gather_batch_report
from ._html import batch_report_html

__all__ = ["BatchReport", "batch_report_html", "gather_batch_report"]
