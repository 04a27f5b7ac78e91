"""Has a container's life ended, and how: the one fold of a run's log that says so. Pure.

Every reader that asks goes through :class:`Life`: where a writer stands
(:func:`scad.runs.events.position`), the summaries, a batch picking up its runs,
the supervisor reading an outcome back. A life begins at its ``started`` (or
``resumed``); its ``exited`` or ``lost`` ends its output, a ``cancelled`` ends
it for scad; a line it prints after its exit is a restart (its life goes on).
A ``checked`` after its exit judges what it committed: a life that succeeded
with a check failing ended ``checks-failed``; the next life is judged anew.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from .accounting import RATE_LIMIT_STATUSES
from .envelopes import (
    Cancelled,
    Checked,
    ClaudeLine,
    Envelope,
    Exited,
    Lost,
    Resumed,
    Started,
    Stopped,
)
from .gatewaylog import BUDGET_STATUS
from .states import LifeStatus, Status, Watchdog
from .streamjson import Result, StreamEvent

__all__ = ["Life", "RunLives", "begins_life", "last_life", "refused_payment", "run_status"]


class Life(msgspec.Struct, kw_only=True):
    """One container's life, as its run's log tells it: fed its events in order."""

    #: The container (its id's first 12 characters); None for a run cancelled
    #: before a container of its own started.
    cid: str | None
    #: Its exit, once the log holds all it printed.
    exit: Exited | None = None
    #: It went before all its output was read.
    lost: Lost | None = None
    #: scad gave it up (stopped, caught up as far as it could, removed).
    cancelled: bool = False
    #: ``session stop`` stopped it: an exit with no result of Claude's is not the agent's.
    stopped: bool = False
    #: Claude's last result in this life (fed by the reader that decodes it).
    result: Result | None = None
    #: Whether each check (by name) passed, as last judged after this life's exit.
    checks: dict[str, bool] = msgspec.field(default_factory=dict)

    def feed(self, envelope: Envelope) -> None:
        """One line of the log about this life (lines of other containers are the caller's
        to leave out; ``stopped`` names none, and counts for the life it follows)."""
        match envelope:
            case Exited():
                self.exit = envelope
            case Lost():
                self.lost = envelope
            case Cancelled():
                self.cancelled = True
            case Stopped():
                self.stopped = True
            case Checked() if self.output_ended:
                self.checks[envelope.name] = envelope.passed
            case ClaudeLine() if self.exit is not None or self.lost is not None:
                self.exit = self.lost = None  # printing again: the container was restarted

    def saw(self, event: StreamEvent | None) -> None:
        """One of Claude's events in this life: its last result is kept."""
        if isinstance(event, Result):
            self.result = event

    @property
    def output_ended(self) -> bool:
        """Nothing more comes from it: its exit (or its loss) is in the log."""
        return self.exit is not None or self.lost is not None

    @property
    def over(self) -> bool:
        """Nobody need watch it any more: its output ended, or scad gave it up."""
        return self.output_ended or self.cancelled

    def status(self) -> LifeStatus:
        """How it ended (``running`` while its end is not in the log). A life scad
        stopped (``session stop``) before Claude's result is ``cancelled``; one the
        gateway refused for its budget reads ``failed`` here (the summaries, which
        read the gateway's events too, say ``budget``). One that succeeded and whose
        commits a check then failed is ``checks-failed``."""
        if self.lost is not None:
            return "crashed"
        if self.cancelled:
            return "cancelled"
        exit = self.exit
        if exit is None:
            return "running"
        if self.stopped and self.result is None:
            return "cancelled"
        status = run_status(exit.stop, exit.exit_code, exit.oom, self.result)
        if status == "succeeded" and not all(self.checks.values()):
            return "checks-failed"
        return status


def begins_life(envelope: Envelope) -> bool:
    """Whether the line starts a container's life."""
    return isinstance(envelope, Started | Resumed)


class RunLives:
    """A run's lives, folded from its whole log in order: the last is the run's."""

    def __init__(self) -> None:
        self.last: Life | None = None
        #: The last ``started``, ``resumed`` or ``stopped`` is ``stopped``: scad stopped
        #: the run (its container's exit is not the agent's doing).
        self.stopped = False

    def feed(self, envelope: Envelope) -> Life | None:
        """Fold one line in; returns the life it is about (None: none, or an earlier one)."""
        life = self.last
        if begins_life(envelope):
            self.last = Life(cid=envelope.cid)
            self.stopped = False
            return self.last
        if isinstance(envelope, Stopped):
            self.stopped = True
        elif isinstance(envelope, Checked):
            pass  # about the run's commits, not a container: it judges the last life
        elif isinstance(envelope, Cancelled) and envelope.cid is None:
            # Cancelled before a container of its own started (or with its id unknown).
            life = self.last = life or Life(cid=None)
        elif life is None or envelope.cid != life.cid:
            return None
        if life is not None:
            life.feed(envelope)
        return life


def last_life(envelopes: Iterable[Envelope]) -> Life | None:
    """The run's last container's life, folded from the whole log (Claude's results
    left out: a caller that needs them feeds them)."""
    lives = RunLives()
    for envelope in envelopes:
        lives.feed(envelope)
    return lives.last


#: How Claude's text reports a 402 it met outside its own turns (compacting).
_REFUSED_TEXT = f"API Error: {BUDGET_STATUS} "


def refused_payment(result: Result | None) -> bool:
    """Claude's result says the API refused it with 402, as the gateway refuses a
    run past its budget. The run's own word: anything it printed can say so. A call
    refused while Claude compacts its conversation leaves the 402 in its text alone."""
    if result is None or not result.is_error:
        return False
    return result.api_error_status == BUDGET_STATUS or _REFUSED_TEXT in (result.result or "")


def run_status(
    stop: Watchdog | None,
    exit_code: int,
    oom: bool,
    result: Result | None,
    *,
    budget_refused: bool = False,
) -> Status:
    """How a run whose container ended ends. One that hit its memory limit is ``oom``
    even when Claude went on to a result (the kernel may have killed a tool, not
    Claude): its work ran short of memory, and the exit code and result say how far
    it got. A 402 in the result is ``budget`` only when ``budget_refused``: the
    gateway's own events hold the refusal (the run's word alone is a failure)."""
    if stop is not None:
        return stop
    if oom:
        return "oom"
    if exit_code == 0 and result is not None and not result.is_error:
        return "succeeded"
    if result is None:
        return "crashed"
    if budget_refused and refused_payment(result):
        return "budget"
    if result.is_error and result.api_error_status in RATE_LIMIT_STATUSES:
        return "rate-limited"
    return "failed"
