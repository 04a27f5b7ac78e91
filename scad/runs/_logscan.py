"""A run's event log read line by line into what the status views show of it.

:class:`LogScan` is fed the log's complete lines in order, from its start or from
where an earlier scan stopped (its :meth:`~LogScan.fold`), and says what they add up
to (:class:`LogSummary`). Most of a log's bytes are Claude's tool results, which
count for nothing: they are told by their first bytes and not decoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import msgspec

from .accounting import RunSummary, RunTally, TallyState
from .envelopes import ClaudeLine, Envelope, decode_line
from .lives import Life, RunLives, refused_payment
from .states import LifeStatus
from .streamjson import claude_event

__all__ = ["LogScan", "LogSummary", "ScanFold", "fold_bytes"]

#: How much of the log one read takes: memory stays flat whatever its size.
CHUNK = 4 << 20


class LogSummary(msgspec.Struct, kw_only=True):
    """What a run's event log says, as the status views need it."""

    summary: RunSummary = msgspec.field(default_factory=RunSummary)
    #: The last of the ``started``/``resumed``/``stopped`` events is ``stopped``:
    #: scad stopped the run (its container's exit is not the agent's doing).
    stopped: bool = False
    #: How the last container's life ended (see :meth:`scad.runs.lives.Life.status`);
    #: None when none ever started.
    outcome: LifeStatus | None = None
    #: The container of the last start (its id's first 12 characters).
    container: str | None = None
    #: That container's exit (or its loss) is in the log: it prints nothing more
    #: unless started again.
    container_ended: bool = False
    #: The last life ended ``failed`` saying the API refused it with 402: ``budget``
    #: when the gateway's events hold the refusal (read apart: they change on their own).
    refused_payment: bool = False

    def ended(self, container_id: str) -> bool:
        """Whether the log holds the end of container ``container_id``'s output."""
        return self.container_ended and self.container == container_id[:12]


class ScanFold(msgspec.Struct, kw_only=True):
    """Where a fold of the log stood, to go on from there."""

    tally: TallyState
    life: Life | None
    stopped: bool
    last_ts: str | None


#: How Claude's objects begin: their kind first (``{"type":"assistant",...``). A name
#: with an escape, or spaces, does not match: such an object is decoded in full.
_KIND = re.compile(rb'\{"type":"([a-z_]{1,32})"')
#: Kinds the tally counts: Claude's objects are decoded as a union tagged by the first
#: ``type`` key, and only these tags can give an event the tally takes.
_TALLIED = frozenset({b"assistant", b"result", b"system"})


#: How a line of Claude's tool results (``"type":"user"``, most of a log's bytes)
#: opens as the writer writes it: the envelope's own fields, all scad's, then
#: ``data``, Claude's object, its kind first. The writer stores as ``data`` only
#: one JSON value with nothing after it, so no later field can override these.
_TOOL_RESULT = re.compile(
    rb'\{"seq":\d{1,20},"ts":"[\w:.+-]{0,64}","src":"claude"(?:,"cid":"\w{0,64}")?'
    rb'(?:,"n":\d{1,20})?(?:,"end":"[\w:.+-]{0,64}")?(?:,"k":\d{1,20})?'
    rb',"data":\{"type":"user"[,}]'
)
#: The most bytes those fields take, and what a look for them searches.
_TOOL_RESULT_HEAD = 400
_TOOL_RESULT_DATA = b',"data":{"type":"user"'


def _kind(data: msgspec.Raw) -> bytes | None:
    """The kind of a Claude object, read off its first key; None when it cannot be
    told at a glance."""
    found = _KIND.match(data)
    return found[1] if found else None


class LogScan:
    """Everything a :class:`LogSummary` needs, fed the log's complete lines in order.

    Claude's lines of a kind the tally ignores (tool results, mostly: the bulk of
    a log) are not handed to the tally: it would only take their time as the last
    activity, which :meth:`result` sets. Tool results are told by their first bytes
    and not decoded at all while the last life's output goes on (a line after its
    end would say the container was restarted: that one is decoded); only the
    last of them, when no other line follows, is, for its time.
    """

    def __init__(
        self,
        fold: ScanFold | None = None,
        messages: Callable[[], set[str | None]] = set,
    ) -> None:
        """A scan from the log's start, or from where ``fold`` stood; ``messages``
        gives the ids of the messages that fold counted (see :meth:`RunTally.resume`)."""
        self.tally = RunTally() if fold is None else RunTally.resume(fold.tally, messages)
        self.lives = RunLives()
        self.last_ts: str | None = None
        if fold is not None:
            self.lives.last, self.lives.stopped = fold.life, fold.stopped
            self.last_ts = fold.last_ts

    def fold(self) -> ScanFold:
        """Where the scan stands, to go on from there later."""
        return ScanFold(
            tally=self.tally.state(),
            life=self.lives.last,
            stopped=self.lives.stopped,
            last_ts=self.last_ts,
        )

    def feed(self, data: bytes) -> None:
        envelopes: list[Envelope] = []
        passed_over: list[bytes] = []  # tool results since the last line decoded
        # Lines end at \n only, as the log's readers split them.
        for line in data.split(b"\n"):
            if (
                line.find(_TOOL_RESULT_DATA, 0, _TOOL_RESULT_HEAD) > 0
                and ((last := self.lives.last) is None or not last.output_ended)
                and _TOOL_RESULT.match(line, 0, _TOOL_RESULT_HEAD) is not None
            ):
                passed_over.append(line)
                continue
            envelope = decode_line(line)
            if envelope is None:
                continue  # blank, or damaged: skipped, not fatal
            if passed_over:
                passed_over = []
            self.last_ts = envelope.ts
            life = self.lives.feed(envelope)
            if not isinstance(envelope, ClaudeLine):
                envelopes.append(envelope)
                continue
            kind = _kind(envelope.data)
            if kind is None or kind in _TALLIED:
                envelopes.append(envelope)
            may_be_result = kind == b"result" or (kind is None and b'"result"' in line)
            if life is not None and may_be_result:
                life.saw(claude_event(envelope))
        self.tally.feed(envelopes)
        for line in reversed(passed_over):  # the last line's time, should it be one
            if (envelope := decode_line(line)) is not None:
                self.last_ts = envelope.ts
                break

    def result(self) -> LogSummary:
        life = self.lives.last
        summary = self.tally.summary()
        summary.last_activity = self.last_ts  # the tally saw every line but those it ignores
        return LogSummary(
            summary=summary,
            stopped=self.lives.stopped,
            outcome=life.status() if life is not None else None,
            container=life.cid if life is not None else None,
            container_ended=life is not None and life.output_ended,
            refused_payment=life is not None
            and life.status() == "failed"
            and refused_payment(life.result),
        )


def fold_bytes(fd: int, scan: LogScan, start: int, size: int) -> int | None:
    """Feed ``scan`` the complete lines of the log's bytes from ``start`` up to
    ``size``; the offset after the last of them, or None when fewer than ``size``
    bytes were there (the log shrank while read: it should not)."""
    pending: list[bytes] = []  # the start of a line longer than a chunk
    done = start
    fed = start
    while done < size:
        chunk = os.pread(fd, min(CHUNK, size - done), done)
        if not chunk:
            return None
        done += len(chunk)
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            pending.append(chunk)
            continue
        scan.feed(b"".join([*pending, chunk[:cut]]) if pending else chunk[:cut])
        fed = done - len(chunk) + cut
        pending = [chunk[cut:]] if cut < len(chunk) else []
    # What follows the last \n is a line still being written: the readers skip it too.
    return fed
