"""What a review shows: a row a run, and the order that puts what needs a person first."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from ..code.diff import RepoDiff
from ..runs.envelopes import Checked
from ..runs.states import ItemStatus
from .runlog import CheckResults

__all__ = ["ATTENTION", "BatchReview", "ReviewRow", "RunReview", "needs_human_first"]


class ReviewRow(msgspec.Struct, kw_only=True):
    """One run: how it ended, how its checks went, and what it changed."""

    #: The batch item it is the final run of (from 1); None for a run of no batch.
    item: int | None = None
    tag: str
    #: None: the item has no run yet.
    run_id: str | None = None
    #: How it ended (or where its item stands); None for a run never started, or an
    #: interactive one (Claude in a terminal reports no result).
    outcome: ItemStatus | None = None
    checks: CheckResults = msgspec.field(default_factory=CheckResults)
    #: A check pinned paths to the base's version and the run had changed them.
    changed_pinned: bool = False
    #: Commits, files, lines added and removed against the base: all its repos together.
    ahead: int = 0
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    cost_usd: float = 0.0
    #: The cost counts a conversation still going at its usage's price.
    cost_estimated: bool = False
    duration_ms: int | None = None
    #: What the batch said of the item (why it ended so).
    detail: str | None = None
    #: Why what it changed is not known (each repo's problem, joined).
    problem: str | None = None

    @property
    def changed(self) -> bool:
        return self.ahead > 0 or self.files_changed > 0

    def add_diffs(self, diffs: Iterable[RepoDiff]) -> None:
        problems = []
        for diff in diffs:
            self.ahead += diff.ahead
            self.files_changed += diff.files_changed
            self.insertions += diff.insertions
            self.deletions += diff.deletions
            if diff.problem:
                problems.append(f"{diff.key}: {diff.problem}")
        self.problem = "; ".join(problems) or None


class BatchReview(msgspec.Struct, kw_only=True):
    """`review BATCH`: each prompt's final run, those needing a person first."""

    batch_id: str
    config: str
    #: The batch's supervisor still runs: rows may change.
    running: bool
    rows: list[ReviewRow]


class RunReview(msgspec.Struct, kw_only=True):
    """`review RUN`: its row, what each repo's diff holds, its checks and the agent's
    last message."""

    rows: list[ReviewRow]
    repos: list[RepoDiff]
    #: The checks that judged its last commits, with the tail of their output.
    checked: list[Checked]
    #: The text of Claude's last result: what the agent said it did.
    last_message: str | None = None


#: Outcomes that want a person, most urgent first: its own work judged wrong, then
#: a run that ended badly, then one stopped from outside, then what is not over.
ATTENTION: tuple[str | None, ...] = (
    "checks-failed",
    "failed",
    "crashed",
    "oom",
    "hung",
    "timed-out",
    "budget",
    "rate-limited",
    "unknown",
    "cancelled",
    "running",
    "retrying",
    "queued",
    None,
)


def _rank(row: ReviewRow) -> int:
    if row.checks.failed or row.changed_pinned:
        return 0  # judged wrong, or it rewrote what judges it: as checks-failed
    if row.outcome != "succeeded":
        known = row.outcome in ATTENTION
        return ATTENTION.index(row.outcome if known else "unknown")
    if row.problem:
        return ATTENTION.index("unknown")  # succeeded, but what it changed cannot be read
    return len(ATTENTION) + (0 if row.changed else 1)


def needs_human_first(rows: Iterable[ReviewRow]) -> list[ReviewRow]:
    """``rows`` in the order a person should look at them. Pure.

    First any run whose checks failed or that changed a pinned path (as
    ``checks-failed``); then by outcome in :data:`ATTENTION`'s order: failed,
    crashed, oom, hung, timed-out, budget, rate-limited, unknown (and a succeeded
    run whose clones could not be read), cancelled, then those not over (running,
    retrying, queued) and those with no outcome; then succeeded runs that changed
    something, and last succeeded runs that changed nothing. Rows of one rank keep
    their order (a batch's: its items').
    """
    return sorted(rows, key=_rank)
