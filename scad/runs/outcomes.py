"""How a run ended: what its supervisor saw of it, and the outcome that makes. Pure.

The supervisor (:mod:`scad.runs.supervisor`) keeps a :class:`Watch` of each run it
follows: its output's lines, the tail of its stderr, Claude's result, and
whether a watchdog stopped it; :func:`outcome_of` turns that and the engine's
exit into the run's :class:`Outcome`.
"""

from __future__ import annotations

from collections import deque

import anyio
import msgspec

from ..engine import ContainerExit
from .accounting import result_cost
from .catchup import STDERR_TAIL
from .envelopes import ClaudeLine, Exited
from .gatewaylog import BudgetRefused
from .lines import ChunkLines, event_time
from .lives import run_status
from .states import Status, Watchdog
from .streamjson import Result, claude_event, decode_event

__all__ = [
    "Outcome",
    "Status",
    "Watch",
    "exit_event",
    "outcome_of",
]


class Outcome(msgspec.Struct, kw_only=True):
    """How a supervised run ended."""

    run_id: str
    outcome: Status
    container_id: str | None = None
    exit_code: int | None = None
    #: Claude's final text (its answer, or what went wrong).
    result: str | None = None
    turns: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: int = 0
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
        #: The watchdog that stopped the run, once one did.
        self.stop: Watchdog | None = None

    def wait_for(self, idle_timeout: float | None, deadline: float | None) -> float | None:
        """How long to wait for output before a watchdog fires (None: for ever)."""
        if self.stop is not None:
            return None  # stopped already: wait for the end
        waits = [idle_timeout] if idle_timeout is not None else []
        if deadline is not None:
            waits.append(max(0.0, deadline - anyio.current_time()))
        return min(waits) if waits else None

    def expire(self, deadline: float | None) -> None:
        """A watchdog fired: the run took too long in all, or went quiet."""
        timed_out = deadline is not None and anyio.current_time() >= deadline
        self.stop = "timed-out" if timed_out else "hung"

    def saw(self, data: bytes) -> None:
        if b'"result"' in data:  # cheap filter before decoding
            event = decode_event(data.decode(errors="replace").encode())
            if isinstance(event, Result):
                self.result = event

    def saw_envelope(self, envelope: ClaudeLine) -> None:
        event = claude_event(envelope)
        if isinstance(event, Result):
            self.result = event


def exit_event(exit: ContainerExit, watch: Watch) -> Exited:
    """The ``exited`` event of a run's container: a failure's stderr, or the watchdog
    that stopped it."""
    stderr = "\n".join(watch.stderr) if exit.exit_code != 0 and watch.stderr else None
    if watch.stop is not None:
        stderr = None  # a stop's stderr says only that it was stopped
    return Exited(
        ts=event_time(exit.finished_at) if exit.finished_at else "",
        exit_code=exit.exit_code,
        oom=exit.oom,
        life=exit.started_at,
        stderr=stderr,
        stop=watch.stop,
    )


def outcome_of(
    run_id: str,
    container_id: str,
    exit: ContainerExit,
    watch: Watch,
    refusal: BudgetRefused | None = None,
    *,
    stopped: bool = False,
) -> Outcome:
    """The outcome of a run's container that ended with ``exit``; ``refusal``: the
    gateway's last refusal of the run for its budget, if its events hold one;
    ``stopped``: ``session stop`` stopped it (before Claude's result, it is
    ``cancelled``: its end is not the agent's)."""
    result = watch.result
    status = run_status(
        watch.stop, exit.exit_code, exit.oom, result, budget_refused=refusal is not None
    )
    if stopped and result is None:
        status = "cancelled"
    outcome = Outcome(
        run_id=run_id,
        outcome=status,
        container_id=container_id,
        exit_code=exit.exit_code,
        detail=("\n".join(watch.stderr) or None) if exit.exit_code != 0 else None,
    )
    if status == "budget" and refusal is not None:
        outcome.detail = refusal.describe()
    if result is not None:
        usage = result.usage
        outcome.result = result.result
        outcome.turns = int(result.num_turns or 0)
        outcome.cost_usd = result_cost(result)
        outcome.duration_ms = int(result.duration_ms or 0)
        outcome.input_tokens = int(usage.input_tokens or 0) if usage else 0
        outcome.output_tokens = int(usage.output_tokens or 0) if usage else 0
    return outcome
