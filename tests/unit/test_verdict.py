"""The decision table: how an attempt's end decides its item."""

from __future__ import annotations

import pytest

from scad.batch.events import CheckFailure
from scad.batch.verdict import DETAIL_LIMIT, NOT_CHECKED, AttemptEnd, attempt_end, checked_end
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


TESTS = CheckFailure(name="tests", exit_code=1, output="a\nb\nc\nd\ne\nf\n1 failed")
HUNG = CheckFailure(name="tests", stop="timed-out", output="running...")


@pytest.mark.parametrize(
    ("failing", "out_of_time", "fixes", "fix_attempts", "budget_spent", "end"),
    [
        pytest.param([], False, 0, 0, False, AttemptEnd(status="succeeded", final=True), id="checks-passed"),
        pytest.param(None, False, 0, 2, False, AttemptEnd(status="succeeded", final=True, detail=NOT_CHECKED), id="nothing-committed"),
        pytest.param([TESTS], False, 0, 0, False, AttemptEnd(status="checks-failed", final=True, detail="checks failed: tests (exit 1)\nc\nd\ne\nf\n1 failed"), id="failed-no-fixes"),
        pytest.param([TESTS], False, 0, 2, False, AttemptEnd(status="checks-failed", final=False, detail="checks failed: tests (exit 1); fix attempt 1 of 2 follows\nc\nd\ne\nf\n1 failed"), id="failed-fix-follows"),
        pytest.param([TESTS], False, 2, 2, False, AttemptEnd(status="checks-failed", final=True, detail="checks failed: tests (exit 1); no fix attempts left (2 made)\nc\nd\ne\nf\n1 failed"), id="failed-fixes-used"),
        pytest.param([TESTS], False, 0, 2, True, AttemptEnd(status="checks-failed", final=True, detail="checks failed: tests (exit 1); no fix attempt: the budget is spent\nc\nd\ne\nf\n1 failed"), id="failed-budget-spent"),
        pytest.param([HUNG], False, 0, 1, False, AttemptEnd(status="checks-failed", final=False, detail="checks failed: tests (timed out); fix attempt 1 of 1 follows\nrunning..."), id="check-hung-on-its-own"),
        pytest.param([HUNG], True, 0, 1, False, AttemptEnd(status="timed-out", final=True, detail="its time limit ran out during its checks: tests (timed out)"), id="time-limit-ran-out-in-checks"),
        pytest.param([TESTS], True, 0, 1, False, AttemptEnd(status="checks-failed", final=False, detail="checks failed: tests (exit 1); fix attempt 1 of 1 follows\nc\nd\ne\nf\n1 failed"), id="failed-then-out-of-time"),
        pytest.param([CheckFailure(name="lint", exit_code=None)], False, 0, 0, False, AttemptEnd(status="checks-failed", final=True, detail="checks failed: lint (could not run)"), id="check-could-not-run"),
    ],
)  # fmt: skip
def test_checks_decide_an_attempt_claude_finished(
    failing: list[CheckFailure] | None,
    out_of_time: bool,
    fixes: int,
    fix_attempts: int,
    budget_spent: bool,
    end: AttemptEnd,
) -> None:
    assert (
        checked_end(
            failing, out_of_time=out_of_time, fixes=fixes, fix_attempts=fix_attempts,
            budget_spent=budget_spent,
        )
        == end
    )  # fmt: skip
