"""What a run's transcripts add up to: turns, tool calls, tokens, an estimated cost and
the last activity, each conversation apart, read within bounds on bytes and lines.
The tokens are the agent's word, priced by model and marked estimated.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from ... import agentfs
from ...errors import AgentFileError
from ...text import printable
from ..accounting import ClaudeSession, RunSummary, Usage, tool_call
from ..pricing import usage_cost
from ..streamjson import Block
from ..streamjson import Usage as MessageUsage
from ._files import Listing, open_transcript
from ._lines import Head, Lines, log_time, message_line

__all__ = ["BYTES_BUDGET", "MAX_LINES", "Counted", "count_transcripts"]

#: Bytes and lines read for one count, whatever the files hold.
BYTES_BUDGET = 256 << 20
MAX_LINES = 500_000
#: Conversations listed one by one; more still count in the totals.
MAX_SESSIONS = 100
_CHUNK = 1 << 20
#: A message Claude made up itself (an API error shown as a reply): no turn of the model's.
_SYNTHETIC = "<synthetic>"


class _Message(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    content: list[Block] = []
    usage: MessageUsage | None = None


class _AssistantLine(msgspec.Struct, gc=False):
    message: _Message = msgspec.field(default_factory=_Message)


_decode_assistant = msgspec.json.Decoder(_AssistantLine).decode


class _Priced(msgspec.Struct, kw_only=True):
    model: str | None
    usage: Usage
    session: ClaudeSession | None


class _Counter:
    """Totals over transcript lines fed in order. A message spans several lines (one
    a content block, each with the usage so far): its last usage counts, once; a
    conversation resumed into a new transcript repeats earlier messages, counted once."""

    def __init__(self) -> None:
        self.summary = RunSummary()
        self._messages: dict[str, _Priced] = {}
        self._tools: set[str] = set()
        self._sessions: dict[str, ClaudeSession] = {}
        self._latest: str | None = None

    def feed(self, line: bytes) -> None:
        head = message_line(line)
        if head is None:
            return
        ts = log_time(head.timestamp)
        if ts is not None and (self._latest is None or ts > self._latest):
            self._latest = ts
        if head.type != "assistant":
            return
        try:
            message = _decode_assistant(line).message
        except agentfs.JSON_ERRORS:
            return
        session = self._session(head, ts)
        for block in message.content:
            if block.type != "tool_use":
                continue
            if block.id is None or block.id not in self._tools:
                self.summary.tool_calls += 1
                self.summary.last_tool = printable(tool_call(block))
                if block.id is not None:
                    self._tools.add(block.id[:200])
        key = (message.id or "")[:200] or f"#{len(self._messages)}"
        usage = Usage()
        usage.add(message.usage)
        known = self._messages.get(key)
        if known is not None:
            known.usage = usage
        else:
            self._messages[key] = _Priced(model=message.model, usage=usage, session=session)

    def _session(self, head: Head, ts: str | None) -> ClaudeSession | None:
        session_id = printable((head.sessionId or "?")[:100])
        session = self._sessions.get(session_id)
        if session is None and len(self._sessions) < MAX_SESSIONS:
            session = ClaudeSession(session_id=session_id, started=ts or "", outcome="interactive")
            self._sessions[session_id] = session
        return session

    def result(self) -> RunSummary:
        summary = self.summary
        for priced in self._messages.values():
            usage = priced.usage
            cost = usage_cost(
                priced.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_creation_tokens=usage.cache_creation_tokens,
            )
            turn = int(priced.model != _SYNTHETIC)
            summary.turns += turn
            summary.usage.merge(usage)
            summary.cost_usd += cost
            if (session := priced.session) is not None:
                session.turns += turn
                session.usage.merge(usage)
                session.cost_usd += cost
                session.model = session.model or printable((priced.model or "")[:100]) or None
        summary.cost_estimated = summary.usage.total > 0
        summary.last_activity = self._latest
        summary.sessions = list(self._sessions.values())
        return summary


class Counted(msgspec.Struct, kw_only=True):
    """What a run's transcripts add up to."""

    summary: RunSummary
    #: Every listed file was read as listed: the count is what the listing names.
    whole: bool


def count_transcripts(claude_dir: Path, listing: Listing) -> Counted:
    """The turns, tool calls, tokens, estimated cost and last activity in the transcripts
    of ``listing`` (see :func:`find_transcripts`), each read up to its listed size and
    all within :data:`BYTES_BUDGET` and :data:`MAX_LINES`. Blocking."""
    counter = _Counter()
    problem = listing.problem
    whole = True
    budget, lines_left = BYTES_BUDGET, MAX_LINES
    for file in listing.files:
        splitter = Lines()
        done = 0
        try:
            with open_transcript(claude_dir, file) as fd:
                while done < file.size and budget > 0 and lines_left > 0:
                    chunk = os.pread(fd, min(_CHUNK, file.size - done, budget), done)
                    if not chunk:
                        whole = False  # it shrank: a count of the listing it is not
                        break
                    done += len(chunk)
                    budget -= len(chunk)
                    lines = splitter.feed(chunk)[:lines_left]
                    lines_left -= len(lines)
                    for line in lines:
                        counter.feed(line)
        except AgentFileError:
            whole = False
        if done < file.size and (budget <= 0 or lines_left <= 0):
            bound = f"{BYTES_BUDGET} bytes" if budget <= 0 else f"{MAX_LINES} lines"
            problem = problem or f"past the {bound} read from one run's transcripts"
            break
    summary = counter.result()
    summary.transcripts_unread = problem
    return Counted(summary=summary, whole=whole)
