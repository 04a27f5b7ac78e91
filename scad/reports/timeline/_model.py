"""A batch's timeline, as data: what a page or a report draws, JSON-encodable.

Every time is in seconds since the batch was made (its manifest's ``created``).
Text that an agent could have written (a run's detail) is carried as it is, to be
escaped where it is drawn.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ...batch.events import LimitCause
from ...runs.states import ItemStatus

__all__ = ["Bar", "Lane", "Mark", "Segment", "SpendPoint", "Step", "Timeline"]


class _Base(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


class Bar(_Base):
    """One attempt, from its preparation to its end (``end`` None: still going)."""

    attempt: int
    start: float
    end: float | None = None
    #: When its container started and exited (None: not, or not known).
    started: float | None = None
    exited: float | None = None
    #: How it ended; ``running`` while it goes.
    status: ItemStatus = "running"
    run_id: str | None = None
    detail: str | None = None


class Segment(_Base):
    """An item waiting: for a slot, or out a backoff before its next attempt."""

    kind: Literal["wait", "backoff"]
    start: float
    end: float | None = None


class Lane(_Base):
    """One prompt of the batch: its attempts and its waits."""

    item: int
    tag: str
    status: ItemStatus = "queued"
    run_id: str | None = None
    bars: list[Bar] = []
    waits: list[Segment] = []


class Step(_Base):
    """The concurrency limit from ``t`` on, and why it moved there."""

    t: float
    limit: int
    cause: LimitCause | None = None
    #: The API's answer's status when its rate limits cut it.
    status: int | None = None
    label: str = ""


class SpendPoint(_Base):
    """What the batch had spent in all by ``t`` (US dollars)."""

    t: float
    usd: float


class Mark(_Base):
    """Something the batch did at one moment: its budget spent, a stop asked for, a
    supervisor taking it, its end."""

    t: float
    kind: Literal["budget", "stopping", "supervisor", "ended"]
    label: str = ""


class Timeline(_Base):
    batch_id: str
    config: str
    #: How long it covers: to the batch's end, or to now while it runs.
    duration: float
    #: The ceiling of runs at once the batch was given, and its budget.
    parallel: int
    ended: bool = False
    budget_usd: float | None = None
    #: Spend is the gateway's measure for every run (else Claude's for some).
    spend_measured: bool = True
    lanes: list[Lane] = []
    steps: list[Step] = []
    spend: list[SpendPoint] = []
    marks: list[Mark] = []
