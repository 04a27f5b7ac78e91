"""How an attempt's end decides its item: the status the batch logs, whether
another attempt follows, and what the log says of it. Pure: the decision table
the scheduler follows, tested directly."""

from __future__ import annotations

import msgspec

from ..runs.outcomes import Outcome, Status

__all__ = [
    "BUDGET_NOT_STARTED",
    "BUDGET_STOPPED",
    "DETAIL_LIMIT",
    "RETRYABLE",
    "AttemptEnd",
    "attempt_end",
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


def shorten(text: str | None) -> str | None:
    """``text``, cut to :data:`DETAIL_LIMIT`."""
    return text if text is None or len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"
