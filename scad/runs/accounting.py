"""Summing up what runs did and cost, from their event logs. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import msgspec

from . import streamjson
from .envelopes import Checked, ClaudeLine, Envelope, Exited, Lost, Resumed, Retried, Started
from .pricing import usage_ceiling, usage_cost

__all__ = [
    "RATE_LIMIT_STATUSES",
    "CheckVerdict",
    "ClaudeSession",
    "RunSummary",
    "RunTally",
    "TallyState",
    "Usage",
    "check_verdict",
    "result_cost",
    "summarise",
    "tool_call",
]


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
    #: success, error (with the subtype), or running while no result came (also
    #: when its container ended without one: its cost is then its usage's price);
    #: interactive when counted from its transcript (Claude in a terminal writes no
    #: result: its cost is its usage's price).
    outcome: str = "running"
    result: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    duration_ms: int = 0


class RunSummary(msgspec.Struct, kw_only=True):
    turns: int = 0
    #: Finished conversations at the cost Claude Code reported; one still going at
    #: its usage priced by model (see ``cost_estimated``).
    cost_usd: float = 0.0
    cost_estimated: bool = False
    usage: Usage = msgspec.field(default_factory=Usage)
    duration_ms: int = 0
    tool_calls: int = 0
    #: The last tool the agent called, and on what (a command, a file).
    last_tool: str | None = None
    api_retries: int = 0
    last_activity: str | None = None
    exit_code: int | None = None
    #: The swarm node the latest attempt runs (or ran) on, as the engine named it;
    #: None for a run on the local engine, and between an attempt and the next.
    node: str | None = None
    #: The config's checks of the latest attempt's commits: each one's verdict
    #: (``passed``, ``failed``, ``timed-out``); empty until they run.
    checks: dict[str, CheckVerdict] = {}
    sessions: list[ClaudeSession] = []
    #: Why some of an interactive run's transcripts were not counted (see
    #: :mod:`scad.runs.transcripts`): its figures are then a part of the whole.
    transcripts_unread: str | None = None


#: What a check said of a run's commits.
CheckVerdict = Literal["passed", "failed", "timed-out"]


def check_verdict(checked: Checked) -> CheckVerdict:
    """A check's verdict: passed only on exit 0."""
    if checked.stop == "timed-out":
        return "timed-out"
    return "passed" if checked.exit_code == 0 else "failed"


#: The HTTP statuses that say the API is rate-limited or overloaded.
RATE_LIMIT_STATUSES = (429, 529)


class TallyState(msgspec.Struct, kw_only=True):
    """All a :class:`RunTally` needs to carry on from where it stopped (the rate-limit
    reports left out: a tally taken up from this state holds only those it sees), but
    the ids of the messages counted: many, and needed only when one more comes (see
    :meth:`RunTally.resume`)."""

    summary: RunSummary
    sessions: list[ClaudeSession]
    #: The last of ``sessions`` is still going (no exit since its start).
    in_session: bool


class RunTally:
    """A run's totals, brought up to date as its log grows: feed it new envelopes.

    Results count once; a conversation still going counts the usage of the
    assistant messages seen so far.
    """

    def __init__(self) -> None:
        self._summary = RunSummary()
        self._sessions: list[ClaudeSession] = []
        self._seen_messages: set[str | None] | None = set()
        #: Where the ids come from when they were left out of the state resumed.
        self._load_seen: Callable[[], set[str | None]] = set
        self._current: ClaudeSession | None = None
        #: Statuses of the rate-limit reports seen, in order (retries and results).
        self.rate_limits: list[int] = []

    def feed(self, envelopes: Iterable[Envelope]) -> None:
        summary = self._summary
        for envelope in envelopes:
            summary.last_activity = envelope.ts
            if not isinstance(envelope, ClaudeLine):
                if isinstance(envelope, Exited):
                    summary.exit_code = envelope.exit_code
                if isinstance(envelope, Started | Resumed | Retried):
                    # Each attempt says where it runs: a local one (resumed ones are) nowhere.
                    summary.node = envelope.node if isinstance(envelope, Started) else None
                    summary.checks = {}  # its checks judge its own commits
                if isinstance(envelope, Checked):
                    summary.checks = {**summary.checks, envelope.name: check_verdict(envelope)}
                if isinstance(envelope, Exited | Lost):
                    self._current = None  # a conversation with no result ends with its container
                continue
            # Unknown kinds and lines that do not fit (the agent writes them) count nothing.
            match streamjson.claude_event(envelope):
                case streamjson.Init() as init:
                    # Each start of Claude counts apart, a resumed conversation (same id) too.
                    self._current = ClaudeSession(
                        session_id=init.session_id or "", started=envelope.ts, model=init.model
                    )
                    self._sessions.append(self._current)
                case streamjson.ApiRetry() as retry:
                    summary.api_retries += 1
                    if retry.error_status in RATE_LIMIT_STATUSES:
                        self.rate_limits.append(retry.error_status)
                case streamjson.Assistant(message=message) if self._current is not None:
                    self._assistant(message)
                case streamjson.Result() as result if self._current is not None:
                    _close(self._current, result)
                    if result.api_error_status in RATE_LIMIT_STATUSES:
                        self.rate_limits.append(result.api_error_status)

    def state(self) -> TallyState:
        """What the tally holds, to take it up again later (see :meth:`resume`)."""
        return TallyState(
            summary=self._summary,
            sessions=self._sessions,
            in_session=self._current is not None,
        )

    def counted_messages(self) -> set[str | None] | None:
        """The ids of the messages counted; None when none came since :meth:`resume`
        (they are still those it was given)."""
        return self._seen_messages

    @classmethod
    def resume(cls, state: TallyState, messages: Callable[[], set[str | None]]) -> RunTally:
        """A tally that goes on from ``state`` (it is the tally's from then on), and
        from the ids of the messages it counted: ``messages`` gives them, called only
        when a message comes that they may hold (whatever it raises, ``feed`` does)."""
        tally = cls()
        tally._summary = state.summary
        tally._sessions = state.sessions
        tally._seen_messages = None
        tally._load_seen = messages
        tally._current = state.sessions[-1] if state.in_session and state.sessions else None
        return tally

    def _assistant(self, message: streamjson.AssistantMessage) -> None:
        current = self._current
        assert current is not None
        for block in message.content:
            if block.type == "tool_use":
                self._summary.tool_calls += 1
                self._summary.last_tool = tool_call(block)
        if current.outcome != "running":
            return
        if self._seen_messages is None:
            self._seen_messages = self._load_seen()
        if message.id not in self._seen_messages:
            self._seen_messages.add(message.id)
            current.usage.add(message.usage)

    def summary(self) -> RunSummary:
        """The totals so far (a new Struct each call)."""
        summary = msgspec.structs.replace(self._summary, usage=Usage(), sessions=[])
        for session in self._sessions:
            summary.turns += session.turns
            summary.duration_ms += session.duration_ms
            summary.usage.merge(session.usage)
            if session.outcome == "running":
                summary.cost_usd += _priced(session)
                summary.cost_estimated |= session.usage.total > 0
            else:
                summary.cost_usd += session.cost_usd
        summary.sessions = list(self._sessions)
        return summary


def tool_call(block: streamjson.Block) -> str:
    """A tool call in a few words: the tool, and what it works on (a command, a file)."""
    tool_input = block.input or streamjson.ToolInput()
    target = tool_input.command or tool_input.file_path or tool_input.pattern
    name = (block.name or "?")[:100]
    return f"{name}: {str(target)[:200]}" if target else name


def summarise(envelopes: Iterable[Envelope]) -> RunSummary:
    """Totals over a run's log (see :class:`RunTally`)."""
    tally = RunTally()
    tally.feed(envelopes)
    return tally.summary()


def _priced(session: ClaudeSession) -> float:
    usage = session.usage
    return usage_cost(
        session.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
    )


def result_cost(result: streamjson.Result) -> float:
    """What a result says its conversation cost, counted for no more than its tokens
    could cost at the dearest prices: the figure is the agent's word (any process in
    its container can print a result)."""
    usage = Usage()
    usage.add(result.usage)
    ceiling = usage_ceiling(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
    )
    return min(result.total_cost_usd or 0.0, ceiling)


def _close(session: ClaudeSession, result: streamjson.Result) -> None:
    """A conversation's result replaces what its messages added up to."""
    session.turns = result.num_turns or 0
    session.duration_ms = int(result.duration_ms or 0)
    session.usage = Usage()
    session.usage.add(result.usage)
    session.cost_usd = result_cost(result)
    session.outcome = "error" if result.is_error else "success"
    if result.is_error and result.subtype not in (None, "success"):
        session.outcome = f"error ({result.subtype})"
    session.result = result.result
