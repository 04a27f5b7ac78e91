"""Summing up what runs did and cost, from their event logs. Pure."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from . import streamjson
from .events import Envelope

__all__ = ["ClaudeSession", "RunSummary", "Usage", "summarise"]


class Usage(msgspec.Struct, kw_only=True):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    def add(self, usage: streamjson.Usage | None) -> None:
        if usage is None:
            return
        self.input_tokens += usage.input_tokens or 0
        self.output_tokens += usage.output_tokens or 0
        self.cache_read_tokens += usage.cache_read_input_tokens or 0
        self.cache_creation_tokens += usage.cache_creation_input_tokens or 0

    def merge(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_creation_tokens += other.cache_creation_tokens

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_creation_tokens
        )


class ClaudeSession(msgspec.Struct, kw_only=True):
    """One Claude conversation within a run (a run resumed has several)."""

    session_id: str
    started: str
    model: str | None = None
    turns: int = 0
    cost_usd: float = 0.0
    #: success, error (with the subtype), or running while no result came.
    outcome: str = "running"
    result: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    duration_ms: int = 0


class RunSummary(msgspec.Struct, kw_only=True):
    turns: int = 0
    cost_usd: float = 0.0
    usage: Usage = msgspec.field(default_factory=Usage)
    duration_ms: int = 0
    tool_calls: int = 0
    api_retries: int = 0
    last_activity: str | None = None
    exit_code: int | None = None
    sessions: list[ClaudeSession] = []


def summarise(envelopes: Iterable[Envelope]) -> RunSummary:
    """Totals over a run's log: results count once; a conversation still going
    counts the usage of the assistant messages seen so far."""
    summary = RunSummary()
    sessions: list[ClaudeSession] = []
    seen_messages: set[str | None] = set()
    current: ClaudeSession | None = None
    for envelope in envelopes:
        summary.last_activity = envelope.ts
        if envelope.src == "scad":
            if envelope.event == "exited":
                summary.exit_code = envelope.exit_code
            continue
        # Unknown kinds and lines that do not fit (the agent writes them) count nothing.
        match streamjson.claude_event(envelope):
            case streamjson.Init() as init:
                # Each start of Claude counts apart, a resumed conversation (same id) too.
                current = ClaudeSession(
                    session_id=init.session_id or "", started=envelope.ts, model=init.model
                )
                sessions.append(current)
            case streamjson.ApiRetry():
                summary.api_retries += 1
            case streamjson.Assistant(message=message) if current is not None:
                summary.tool_calls += sum(1 for b in message.content if b.type == "tool_use")
                if message.id not in seen_messages and current.outcome == "running":
                    seen_messages.add(message.id)
                    current.usage.add(message.usage)
            case streamjson.Result() as result if current is not None:
                _close(current, result)
    for session in sessions:
        summary.turns += session.turns
        summary.cost_usd += session.cost_usd
        summary.duration_ms += session.duration_ms
        summary.usage.merge(session.usage)
    summary.sessions = sessions
    return summary


def _close(session: ClaudeSession, result: streamjson.Result) -> None:
    """A conversation's result replaces what its messages added up to."""
    session.turns = result.num_turns or 0
    session.cost_usd = result.total_cost_usd or 0.0
    session.duration_ms = int(result.duration_ms or 0)
    session.usage = Usage()
    session.usage.add(result.usage)
    session.outcome = "error" if result.is_error else "success"
    if result.is_error and result.subtype not in (None, "success"):
        session.outcome = f"error ({result.subtype})"
    session.result = result.result
