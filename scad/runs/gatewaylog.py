"""The gateway's own events about a run, and what they add up to.

``runs/<id>/gateway/events.jsonl``: one JSON object a line, each a typed event told
apart by its ``event`` tag, written by the gateway process alone (no agent can write
there, so nothing in it is forged). :func:`gateway_usage` folds such files into one
figure; it reads a partial last line, malformed lines and unknown events as nothing.
They sit with the run's other logs, below the gateway that writes them, because how
a run ended (:mod:`scad.runs.lives`) and what it spent are read from them too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

from ..agentfs import JSON_ERRORS

__all__ = [
    "BUDGET_STATUS",
    "EVENTS_FILE",
    "GATEWAY_DIR",
    "MODEL_CALL",
    "RATE_LIMIT_STATUSES",
    "BudgetRefused",
    "Exchange",
    "GatewayEvent",
    "GatewayUsage",
    "NotifyFailed",
    "add_usage",
    "encode_event",
    "fold",
    "gateway_usage",
    "read_gateway_events",
    "read_gateway_events_from",
    "refused_by_budget",
]

#: The run's folder of the gateway's (no container mounts it), and its events there.
GATEWAY_DIR = "gateway"
EVENTS_FILE = "events.jsonl"
#: The gateway's answer to a run past its budget: Claude Code ends at once on it (a
#: 401 it would retry ten times).
BUDGET_STATUS = 402
#: The one call that costs money: Claude's turn.
MODEL_CALL = ("POST", "/v1/messages")
#: Answers that say the API is limiting: rate limited, overloaded.
RATE_LIMIT_STATUSES = (429, 529)
#: How much of a file one incremental read takes at most.
_READ_LIMIT = 4 << 20


class _Event(msgspec.Struct, kw_only=True, tag_field="event"):
    ts: str


class Exchange(_Event, tag="exchange"):
    """One request passed to the model API, and what its answer said it used."""

    method: str
    path: str
    status: int
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    #: The answer ran to its end (a stream's ``message_stop``, a body read whole).
    complete: bool = False
    error: str | None = None
    retry_after: float | None = None
    ratelimit: dict[str, str] = {}
    ms: int = 0

    @property
    def throttled(self) -> bool:
        """A model call the API rate-limited (429) or found itself overloaded for
        (529). A free call (``count_tokens``, ``models``) has limits of its own: its
        429 says nothing of the runs' pace."""
        return (self.method, self.path) == MODEL_CALL and self.status in RATE_LIMIT_STATUSES


class BudgetRefused(_Event, tag="budget"):
    """A request refused (402) because the run's or its batch's budget was spent."""

    scope: Literal["run", "batch"]
    spent_usd: float
    cap_usd: float

    def describe(self) -> str:
        return (
            f"the gateway refused its next request: the {self.scope}'s budget is spent "
            f"(${self.spent_usd:.4f} of ${self.cap_usd:.2f})"
        )


class NotifyFailed(_Event, tag="notify-failed"):
    """A notice the run asked for (its session waits for its user) that a notifier did
    not take: it failed, or its time ran out."""

    kind: str
    target: Literal["command", "url"]
    detail: str


GatewayEvent = Exchange | BudgetRefused | NotifyFailed

_encoder = msgspec.json.Encoder()
_decode_event = msgspec.json.Decoder(GatewayEvent).decode


def encode_event(event: GatewayEvent) -> bytes:
    return _encoder.encode(event) + b"\n"


class GatewayUsage(msgspec.Struct, kw_only=True):
    """What the gateway measured for one or more runs."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    rate_limited: int = 0
    """Answers with status 429 (rate limited) or 529 (overloaded)."""
    #: The wait the last 429 or 529 asked for.
    last_retry_after_ms: int | None = None
    budget_refusals: int = 0


def fold(events: Iterable[GatewayEvent], into: GatewayUsage | None = None) -> GatewayUsage:
    """Add ``events`` up. Pure."""
    usage = into or GatewayUsage()
    for event in events:
        if isinstance(event, BudgetRefused):
            usage.budget_refusals += 1
            continue
        if not isinstance(event, Exchange):
            continue
        usage.requests += 1
        usage.input_tokens += event.input_tokens
        usage.output_tokens += event.output_tokens
        usage.cache_read_tokens += event.cache_read_tokens
        usage.cache_creation_tokens += event.cache_creation_tokens
        usage.cost_usd += event.cost_usd
        if event.status in RATE_LIMIT_STATUSES:
            usage.rate_limited += 1
        if event.retry_after is not None:
            usage.last_retry_after_ms = round(event.retry_after * 1000)
    return usage


def add_usage(total: GatewayUsage, other: GatewayUsage) -> GatewayUsage:
    """``other`` added into ``total`` (returned)."""
    total.requests += other.requests
    total.input_tokens += other.input_tokens
    total.output_tokens += other.output_tokens
    total.cache_read_tokens += other.cache_read_tokens
    total.cache_creation_tokens += other.cache_creation_tokens
    total.cost_usd += other.cost_usd
    total.rate_limited += other.rate_limited
    total.budget_refusals += other.budget_refusals
    if other.last_retry_after_ms is not None:
        total.last_retry_after_ms = other.last_retry_after_ms
    return total


def gateway_usage(paths: Iterable[Path]) -> GatewayUsage:
    """What the gateway's event files at ``paths`` add up to (a missing one adds nothing)."""
    usage = GatewayUsage()
    for path in paths:
        fold(read_gateway_events(path), usage)
    return usage


def read_gateway_events(path: Path) -> Iterator[GatewayEvent]:
    """The events of one file, in order; a link or a missing file reads as none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    with open(fd, "rb") as lines:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        for line in lines:
            if not line.endswith(b"\n"):
                return  # being written
            if (event := _decoded(line)) is not None:
                yield event


def read_gateway_events_from(path: Path, offset: int) -> tuple[list[GatewayEvent], int]:
    """The complete lines of one file from byte ``offset`` on (at most a few MB of
    them), and the offset after the last; a link or a missing file reads as none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return [], offset
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return [], offset
        file.seek(offset)
        data = file.read(_READ_LIMIT)
    whole = data[: data.rfind(b"\n") + 1]  # what follows is being written
    events = [e for line in whole.splitlines() if (e := _decoded(line)) is not None]
    return events, offset + len(whole)


def refused_by_budget(path: Path) -> BudgetRefused | None:
    """The gateway's last refusal of the run for its budget, in its events at ``path``."""
    refusal = None
    for event in read_gateway_events(path):
        if isinstance(event, BudgetRefused):
            refusal = event
    return refusal


def _decoded(line: bytes) -> GatewayEvent | None:
    try:
        return _decode_event(line)
    except (*JSON_ERRORS, msgspec.ValidationError):
        return None
