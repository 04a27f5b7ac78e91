"""The decision table: how an attempt's end decides its item."""

from __future__ import annotations

import pytest

from scad.batch.verdict import DETAIL_LIMIT, AttemptEnd, attempt_end
from scad.runs.outcomes import Outcome, Status


def ended(status: Status, *, detail: str | None = None, result: str | None = None) -> Outcome:
    return Outcome(run_id="r", outcome=status, detail=detail, result=result)


@pytest.mark.parametrize(
    ("outcome", "tries", "retries", "end"),
    [
        pytest.param(ended("succeeded", result="done"), 1, 0, AttemptEnd(status="succeeded", final=True), id="succeeded-done"),
        pytest.param(ended("failed", result="no"), 1, 3, AttemptEnd(status="failed", final=True, detail="no"), id="failed-never-retried"),
        pytest.param(ended("oom"), 1, 3, AttemptEnd(status="oom", final=True), id="oom-never-retried"),
        pytest.param(ended("timed-out"), 1, 3, AttemptEnd(status="timed-out", final=True), id="timed-out-never-retried"),
        pytest.param(ended("rate-limited"), 1, 1, AttemptEnd(status="rate-limited", final=False), id="rate-limited-retry"),
        pytest.param(ended("hung"), 2, 1, AttemptEnd(status="hung", final=True), id="hung-retries-used"),
        pytest.param(ended("crashed", detail="gone"), 2, 2, AttemptEnd(status="crashed", final=False, detail="gone"), id="crashed-retry"),
        pytest.param(ended("crashed"), 3, 2, AttemptEnd(status="crashed", final=True), id="crashed-retries-used"),
        pytest.param(ended("budget", detail="refused"), 1, 5, AttemptEnd(status="budget", final=True, detail="refused"), id="budget-never-retried"),
        pytest.param(ended("unknown", detail="?"), 1, 5, AttemptEnd(status="unknown", final=True, detail="?"), id="unknown-never-beside-itself"),
        pytest.param(ended("cancelled", detail="stopped: the budget is spent"), 1, 5, AttemptEnd(status="cancelled", final=True, detail="stopped: the budget is spent"), id="budget-cancelled"),
        pytest.param(ended("failed", detail="scad saw", result="claude said"), 1, 0, AttemptEnd(status="failed", final=True, detail="scad saw"), id="scad-detail-first"),
    ],
)  # fmt: skip
def test_an_attempts_end_decides_its_item(
    outcome: Outcome, tries: int, retries: int, end: AttemptEnd
) -> None:
    assert attempt_end(outcome, tries=tries, retries=retries) == end


def test_what_went_wrong_is_cut_to_the_limit() -> None:
    end = attempt_end(ended("failed", result="x" * (DETAIL_LIMIT + 5)), tries=1, retries=0)
    assert end.detail == "x" * DETAIL_LIMIT + "…"
