"""A run's transcripts followed as Claude writes them: their new ``assistant`` and
``user`` lines as the event log's Claude lines, a bounded read at a time (what
``session logs`` shows of an interactive run).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import msgspec

from ...errors import AgentFileError
from ..envelopes import ClaudeLine, Envelope
from ._files import find_transcripts, open_transcript
from ._lines import Lines, log_time, message_line

__all__ = ["TranscriptFollower", "emit_transcripts", "follow_transcripts"]

#: What one look of a follower reads, in all its files.
FOLLOW_BYTES = 8 << 20
#: How often a follower looks for new lines.
POLL_SECONDS = 0.5


class _Followed:
    def __init__(self) -> None:
        self.offset = 0
        self.lines = Lines()


class TranscriptFollower:
    """New lines of a run's transcripts as they are written, as the event log's Claude
    lines (``assistant`` and ``user``), a bounded read at a time."""

    def __init__(self, claude_dir: Path) -> None:
        self._claude_dir = claude_dir
        self._files: dict[tuple[int, int], _Followed] = {}
        self._last_ts = ""
        #: The first reason some transcript is not followed, when one is.
        self.problem: str | None = None
        #: The last read stopped at its bound: more is there to read now.
        self.behind = False

    def read(self) -> list[Envelope]:
        """What was written since the last read, up to :data:`FOLLOW_BYTES` (what is
        left waits for the next). Blocking."""
        listing = find_transcripts(self._claude_dir)
        self.problem = self.problem or listing.problem
        found: list[Envelope] = []
        budget = FOLLOW_BYTES
        for file in listing.files:
            followed = self._files.setdefault((file.dev, file.ino), _Followed())
            if file.size < followed.offset:  # rewritten shorter: read again from its start
                self._files[file.dev, file.ino] = followed = _Followed()
            size = min(file.size - followed.offset, budget)
            if size <= 0:
                continue
            try:
                with open_transcript(self._claude_dir, file) as fd:
                    chunk = os.pread(fd, size, followed.offset)
            except AgentFileError:
                continue
            followed.offset += len(chunk)
            budget -= len(chunk)
            found.extend(self._envelopes(followed.lines.feed(chunk)))
        self.behind = budget <= 0
        return found

    def _envelopes(self, lines: list[bytes]) -> Iterator[ClaudeLine]:
        for line in lines:
            head = message_line(line)
            if head is None:
                continue
            self._last_ts = log_time(head.timestamp) or self._last_ts
            yield ClaudeLine(seq=0, ts=self._last_ts, src="claude", data=msgspec.Raw(line))


Emit = Callable[[list[Envelope], bool], None]


async def emit_transcripts(follower: TranscriptFollower, emit: Emit, *, live: bool) -> None:
    """Hand ``emit`` what the transcripts hold that it was not given yet, a bounded read
    at a time."""
    while True:
        if lines := await anyio.to_thread.run_sync(follower.read):
            emit(lines, live)
        if not follower.behind:
            return


async def follow_transcripts(follower: TranscriptFollower, emit: Emit, done: anyio.Event) -> None:
    """Hand ``emit`` the transcripts' new lines as they are written, until ``done`` is
    set and the rest is read."""
    while True:
        finished = done.is_set()
        await emit_transcripts(follower, emit, live=True)
        if finished:
            return
        with anyio.move_on_after(POLL_SECONDS):
            await done.wait()
