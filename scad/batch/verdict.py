"""How an attempt's end decides its item: the status the batch logs, whether
another attempt follows, and what the log says of it. Pure: the decision table
the scheduler follows, tested directly."""

from __future__ import annotations

import msgspec

from ..runs.outcomes import Outcome, Status
from .events import CheckFailure
from .fixes import named, output_tail

__all__ = [
    "BUDGET_NOT_STARTED",
    "BUDGET_STOPPED",
    "DETAIL_LIMIT",
    "NOT_CHECKED",
    "NO_TIME_FOR_CHECKS",
    "RETRYABLE",
    "AttemptEnd",
    "attempt_end",
    "checked_end",
    "shorten",
]

#: Outcomes worth another attempt: the next may well go through. ``unknown`` is
#: not: its container may still run, and nothing starts beside it.
RETRYABLE: frozenset[Status] = frozenset({"rate-limited", "hung", "crashed"})
#: How much of what went wrong the batch's log keeps (an agent's result can be huge).
DETAIL_LIMIT = 2000
#: Why an attempt the budget ended ended: its run was stopped, or never started.
BUDGET_STOPPED = "stopped: the budget is spent"
BUDGET_NOT_STARTED = "not started: the budget is spent"
#: Why an attempt that succeeded was not checked, or not checked in full.
NOT_CHECKED = "committed nothing: no checks ran"
NO_TIME_FOR_CHECKS = "its time limit ran out before its checks could run"


class AttemptEnd(msgspec.Struct, frozen=True, kw_only=True):
    """What the batch logs of an attempt that ended."""

    status: Status
    #: No further attempt follows.
    final: bool
    detail: str | None = None


def attempt_end(outcome: Outcome, *, tries: int, retries: int) -> AttemptEnd:
    """The end of an attempt that ended with ``outcome``, the item's ``tries``-th
    (this one counted) of the ``retries`` + 1 it may have: a retryable outcome
    with tries left is tried again; a failure says why (what scad saw, else
    Claude's last word), cut to :data:`DETAIL_LIMIT`."""
    failed = outcome.outcome != "succeeded"
    final = outcome.outcome not in RETRYABLE or tries > retries
    return AttemptEnd(
        status=outcome.outcome,
        final=final,
        detail=shorten(outcome.detail or (outcome.result if failed else None)),
    )


def checked_end(
    failing: list[CheckFailure] | None,
    *,
    out_of_time: bool,
    fixes: int,
    fix_attempts: int,
    budget_spent: bool,
) -> AttemptEnd:
    """The end of an attempt Claude finished, once the checks judged what it
    committed (``failing`` None: it committed nothing, nothing was judged). It
    succeeded only if every check passed; a check the time limit stopped means the
    attempt took too long in all (``timed-out``); else its checks failed, and a fix
    attempt follows while fewer than ``fix_attempts`` were made and money is left."""
    if failing is None:
        return AttemptEnd(status="succeeded", final=True, detail=NOT_CHECKED)
    if not failing:
        return AttemptEnd(status="succeeded", final=True)
    if out_of_time and any(failure.stop for failure in failing):
        detail = f"its time limit ran out during its checks: {named(failing)}"
        return AttemptEnd(status="timed-out", final=True, detail=detail)
    final = budget_spent or fixes >= fix_attempts
    if not final:
        note = f"; fix attempt {fixes + 1} of {fix_attempts} follows"
    elif fixes < fix_attempts:
        note = "; no fix attempt: the budget is spent"
    elif fix_attempts:
        note = f"; no fix attempts left ({fixes} made)"
    else:
        note = ""
    detail = f"checks failed: {named(failing)}{note}"
    if tail := output_tail(failing[0]):
        detail += "\n" + tail
    return AttemptEnd(status="checks-failed", final=final, detail=shorten(detail))


def shorten(text: str | None) -> str | None:
    """``text``, cut to :data:`DETAIL_LIMIT`."""
    return text if text is None or len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"
