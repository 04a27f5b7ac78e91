"""A batch's log (``batches/<batch-id>/events.jsonl``), typed: one Struct a kind of
event, told apart by its ``event`` tag, as Claude's own lines are by ``type``.

The supervisor writes them (:func:`~scad.batch.store.append_batch_event`); every
view folds them into where the batch stands (:func:`~scad.batch.state.batch_state`).
A line of a kind this version does not know is left unread.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ..notify.notice import NoticeKind
from ..runs.states import ItemStatus

__all__ = [
    "AttemptChecked",
    "AttemptEnded",
    "AttemptStarted",
    "BatchEvent",
    "BudgetSpent",
    "CheckFailure",
    "Ended",
    "Fetched",
    "ItemStatus",
    "LimitCause",
    "LimitMoved",
    "Notified",
    "NotifyFailed",
    "Requeued",
    "Stopping",
    "SupervisorTook",
]


class _Event(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="event"):
    #: When it happened; stamped as it is written.
    ts: str = ""


class SupervisorTook(_Event, tag="supervisor", kw_only=True):
    """A supervisor process took the batch."""

    pid: int


class AttemptStarted(_Event, tag="started", kw_only=True):
    """An attempt's container started."""

    item: int
    run_id: str
    attempt: int


class AttemptEnded(_Event, tag="attempt", kw_only=True):
    """An attempt ended (``final``: no further attempt will follow)."""

    item: int
    run_id: str | None = None
    attempt: int
    status: ItemStatus
    final: bool
    detail: str | None = None
    cost_usd: float | None = None
    #: Seconds it waits before its next attempt (a retry's backoff); None: none.
    backoff_s: float | None = None


class CheckFailure(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A check that failed an attempt: enough to name it, and to show its agent what
    went wrong in a fix attempt."""

    name: str
    #: Its exit code; None when it was stopped or could not start.
    exit_code: int | None = None
    #: ``timed-out``: it ran past its time limit and was stopped.
    stop: Literal["timed-out"] | None = None
    #: The end of what it printed (bounded).
    output: str | None = None


class AttemptChecked(_Event, tag="checked", kw_only=True):
    """The config's checks judged what an attempt that succeeded committed."""

    item: int
    run_id: str
    attempt: int
    #: The checks that passed, by name, and those that failed, in config order.
    passed: list[str] = []
    failed: list[CheckFailure] = []


#: Why the concurrency limit is where it is: the ceiling the batch was given (as a
#: supervisor begins), halved for the API's rate limits, or one up for a run that
#: succeeded.
LimitCause = Literal["ceiling", "rate-limited", "run-succeeded"]


class LimitMoved(_Event, tag="concurrency", kw_only=True):
    """How many may run at once, and why it moved (``cause``; None in the logs of
    earlier versions, whose ``detail`` alone says)."""

    limit: int
    cause: LimitCause | None = None
    #: The answer's HTTP status (429, 529) when the API's rate limits cut it.
    status: int | None = None
    detail: str | None = None


class Fetched(_Event, tag="fetched", kw_only=True):
    """A run that succeeded brought its branches home (or said why not)."""

    item: int
    run_id: str
    detail: str | None = None


class BudgetSpent(_Event, tag="budget", kw_only=True):
    """The budget is spent: what runs is stopped, nothing more starts."""

    cost_usd: float
    detail: str | None = None


class Requeued(_Event, tag="requeued", kw_only=True):
    """Items put back in the queue for a new supervisor (resume, retry)."""

    items: list[int]


class Stopping(_Event, tag="stopping", kw_only=True):
    """A stop was asked for."""

    detail: str | None = None


class Notified(_Event, tag="notified", kw_only=True):
    """A notice was claimed, just before it is delivered: a supervisor that picks
    the batch up sends only the notices no earlier one claimed (``item`` and
    ``attempt`` name the attempt a ``run-needs-attention`` is about)."""

    kind: NoticeKind
    item: int | None = None
    attempt: int | None = None


class NotifyFailed(_Event, tag="notify-failed", kw_only=True):
    """A notifier did not take a notice (it failed, or its time ran out)."""

    kind: NoticeKind
    target: str
    detail: str | None = None


class Ended(_Event, tag="ended", kw_only=True):
    """The supervisor is done with the batch."""


BatchEvent = (
    SupervisorTook
    | AttemptStarted
    | AttemptChecked
    | AttemptEnded
    | LimitMoved
    | Fetched
    | BudgetSpent
    | Requeued
    | Stopping
    | Notified
    | NotifyFailed
    | Ended
)
