"""How a run ended: what its supervisor saw of it, and the outcome that makes. Pure.

The supervisor (:mod:`scad.runs.supervisor`) keeps a :class:`Watch` of each run it
follows: its output's lines, the tail of its stderr, Claude's result, and
whether a watchdog stopped it; :func:`outcome_of` turns that and the engine's
exit into the run's :class:`Outcome`.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import anyio
import msgspec

from ..engine._types import ContainerExit
from .accounting import RATE_LIMIT_STATUSES, result_cost
from .catchup import STDERR_TAIL
from .events import Envelope, Exit
from .lines import ChunkLines, event_time
from .streamjson import Result, claude_event, decode_event

__all__ = [
    "HUNG_DETAIL",
    "TIMED_OUT_DETAIL",
    "Outcome",
    "Status",
    "Watch",
    "exit_event",
    "outcome_of",
]

#: ``unknown``: the engine stopped answering mid-run, and whether the run's
#: container still runs is not known (it is never tried again beside it).
Status = Literal[
    "succeeded",
    "failed",
    "timed-out",
    "hung",
    "rate-limited",
    "crashed",
    "oom",
    "cancelled",
    "unknown",
]


class Outcome(msgspec.Struct, kw_only=True):
    """How a supervised run ended."""

    run_id: str
    status: Status
    container_id: str | None = None
    exit_code: int | None = None
    #: Claude's final text (its answer, or what went wrong).
    result: str | None = None
    turns: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: float = 0.0
    #: What scad saw go wrong: the error that kept the run from starting, stderr, ...
    detail: str | None = None


class Watch:
    """What the supervisor keeps of a run's output while streaming it."""

    def __init__(self) -> None:
        self.stdout = ChunkLines()
        self.stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        self.next_line = 0
        self.result: Result | None = None
        self.started = False
        self.hung = False
        self.timed_out = False

    def wait_for(self, idle_timeout: float | None, deadline: float | None) -> float | None:
        """How long to wait for output before a watchdog fires (None: for ever)."""
        if self.hung or self.timed_out:
            return None  # stopped already: wait for the end
        waits = [idle_timeout] if idle_timeout is not None else []
        if deadline is not None:
            waits.append(max(0.0, deadline - anyio.current_time()))
        return min(waits) if waits else None

    def expire(self, deadline: float | None) -> None:
        """A watchdog fired: the run took too long in all, or went quiet."""
        if deadline is not None and anyio.current_time() >= deadline:
            self.timed_out = True
        else:
            self.hung = True

    def saw(self, text: str) -> None:
        if '"result"' in text:  # cheap filter before decoding
            event = decode_event(text.encode())
            if isinstance(event, Result):
                self.result = event

    def saw_envelope(self, envelope: Envelope) -> None:
        event = claude_event(envelope)
        if isinstance(event, Result):
            self.result = event


#: The ``detail`` of the ``exited`` event of a run a watchdog stopped: a reader of
#: the log tells ``hung`` and ``timed-out`` from the other exits by it.
HUNG_DETAIL = "stopped: no output for longer than the idle timeout"
TIMED_OUT_DETAIL = "stopped: the run took longer than its timeout"


def exit_event(exit: ContainerExit, watch: Watch) -> Exit:
    """The ``exited`` event of a run's container."""
    detail = "\n".join(watch.stderr) if exit.exit_code != 0 and watch.stderr else None
    if watch.hung:
        detail = HUNG_DETAIL
    elif watch.timed_out:
        detail = TIMED_OUT_DETAIL
    at = event_time(exit.finished_at) if exit.finished_at else None
    return Exit(exit_code=exit.exit_code, oom=exit.oom, detail=detail, at=at, life=exit.started_at)


def outcome_of(run_id: str, container_id: str, exit: ContainerExit, watch: Watch) -> Outcome:
    """The outcome of a run's container that ended with ``exit``."""
    result = watch.result
    outcome = Outcome(
        run_id=run_id,
        status=_status(exit, watch),
        container_id=container_id,
        exit_code=exit.exit_code,
        detail=("\n".join(watch.stderr) or None) if exit.exit_code != 0 else None,
    )
    if result is not None:
        usage = result.usage
        outcome.result = result.result
        outcome.turns = int(result.num_turns or 0)
        outcome.cost_usd = result_cost(result)
        outcome.duration_ms = float(result.duration_ms or 0.0)
        outcome.input_tokens = int(usage.input_tokens or 0) if usage else 0
        outcome.output_tokens = int(usage.output_tokens or 0) if usage else 0
    return outcome


def _status(exit: ContainerExit, watch: Watch) -> Status:
    """A run that hit its memory limit is ``oom`` even when Claude went on to a result
    (the kernel may have killed a tool, not Claude): its work ran short of memory, and
    the exit code and result say how far it got."""
    result = watch.result
    if watch.hung:
        return "hung"
    if watch.timed_out:
        return "timed-out"
    if exit.oom:
        return "oom"
    if exit.exit_code == 0 and result is not None and not result.is_error:
        return "succeeded"
    if result is None:
        return "crashed"
    if result.is_error and result.api_error_status in RATE_LIMIT_STATUSES:
        return "rate-limited"
    return "failed"
