"""What a run's log says for a review: how its checks went and the agent's last word."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from ..runs.envelopes import Checked, ClaudeLine, Envelope, Resumed, Started
from ..runs.logread import each_event
from ..runs.records import RunPaths
from ..runs.streamjson import Result, claude_event
from ..text import printable

__all__ = ["MAX_MESSAGE_CHARS", "CheckResults", "LogReview", "read_log_review", "review_log"]

#: Characters of the agent's last message kept (its container printed it: any size).
MAX_MESSAGE_CHARS = 64 << 10


class CheckResults(msgspec.Struct, kw_only=True):
    """The checks that judged the run's last commits, by name (escaped, as shown)."""

    passed: list[str] = []
    failed: list[str] = []
    #: Pinned paths the run's commits changed (set back before its checks ran).
    pinned: list[str] = []


class LogReview(msgspec.Struct, kw_only=True):
    #: The ``checked`` events since the run's last container started, the last of
    #: each name (checks judge what a life committed, after it ended).
    checked: list[Checked] = []
    #: The text of the last result Claude printed (cut at ``MAX_MESSAGE_CHARS``).
    last_message: str | None = None

    @property
    def checks(self) -> CheckResults:
        pinned = {printable(path) for event in self.checked for path in event.pinned}
        return CheckResults(
            passed=[printable(e.name) for e in self.checked if e.passed],
            failed=[printable(e.name) for e in self.checked if not e.passed],
            pinned=sorted(pinned),
        )


class _Reader:
    """Reads a log in order, keeping what a review needs."""

    def __init__(self) -> None:
        self.checked: dict[str, Checked] = {}
        self.message: str | None = None

    def feed(self, envelope: Envelope) -> None:
        match envelope:
            case Started() | Resumed():
                self.checked = {}  # a new life: what judged the last one is about older commits
            case Checked():
                self.checked.pop(envelope.name, None)  # a check run again counts where it ran
                self.checked[envelope.name] = envelope
            case ClaudeLine():
                event = claude_event(envelope)
                if isinstance(event, Result) and event.result is not None:
                    self.message = event.result[: MAX_MESSAGE_CHARS + 1]

    def review(self) -> LogReview:
        message = self.message
        if message is not None and len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + "\n[... cut: longer than scad shows]"
        return LogReview(checked=list(self.checked.values()), last_message=message)


def review_log(envelopes: Iterable[Envelope]) -> LogReview:
    """The checks and last message ``envelopes`` (a whole log, in order) hold. Pure."""
    reader = _Reader()
    for envelope in envelopes:
        reader.feed(envelope)
    return reader.review()


async def read_log_review(paths: RunPaths) -> LogReview:
    """:func:`review_log` of the run's log, read a chunk at a time (memory stays flat)."""
    reader = _Reader()
    async for envelope in each_event(paths):
        reader.feed(envelope)
    return reader.review()
