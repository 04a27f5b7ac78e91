"""The one vocabulary of where runs stand: how a run ended, where a container's life
is, where a batch's prompt is, and a session's state. Every layer above says these
words from here, as ``Literal`` types, never as sentences."""

from __future__ import annotations

from typing import Literal

__all__ = ["ItemStatus", "LifeStatus", "SessionState", "Status", "Watchdog"]

#: How a run ended. ``unknown``: the engine stopped answering mid-run, and whether
#: the run's container still runs is not known (it is never tried again beside it).
#: ``budget``: the gateway refused its next model call, its own or its batch's
#: budget spent (its result says 402, and the gateway's events hold the refusal).
#: ``checks-failed``: Claude finished, and a check of what it committed failed.
Status = Literal[
    "succeeded",
    "checks-failed",
    "failed",
    "timed-out",
    "hung",
    "rate-limited",
    "budget",
    "crashed",
    "oom",
    "cancelled",
    "unknown",
]

#: Which watchdog stopped a run: it went quiet for longer than its idle timeout, or
#: ran longer than its time limit in all.
Watchdog = Literal["hung", "timed-out"]

#: Where a container's life stands in its run's log: going, or how it ended.
LifeStatus = Literal["running"] | Status

#: Where one prompt of a batch stands: waiting, going, or its run's outcome.
ItemStatus = Literal["queued", "running", "retrying"] | Status

#: A session as the status views show it: its container's state as the engine tells
#: it (``stopped``: scad stopped it), ``missing`` (its container is gone), ``cleaned``,
#: or ``unknown`` (the engine did not answer).
SessionState = Literal[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
    "stopped",
    "missing",
    "cleaned",
    "unknown",
]
