"""Claude's transcripts in a run: what an interactive run did and cost, counted and followed.

Claude in a terminal prints no stream-json: what it did is only in the transcripts it
writes, ``claude/projects/<cwd with non-alphanumerics as '-'>/<session>.jsonl``, one
JSON object a line (``assistant`` lines hold the model's messages with their usage,
``user`` lines the prompts and what the tools answered).

Those are the agent's files, read as scad reads any (see :mod:`scad.agentfs`): no link
is followed, only regular files are read, opened without blocking; files and folders
looked at, bytes and lines read are all bounded, and a line too long, nested too deep
or malformed is skipped. What was left out is said (``Listing.problem``), never
silently counted as the whole. The agent can write anything there, so the figures
are its word: tokens priced by model, marked estimated, as for a conversation still
going.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import anyio
import msgspec

from .. import agentfs
from ..errors import AgentFileError, AgentFileMissing, TooManyEntries
from ..text import printable
from ._jsondepth import MAX_NESTING, nests_within
from .accounting import ClaudeSession, RunSummary, Usage, tool_call
from .envelopes import ClaudeLine, Envelope
from .pricing import usage_cost
from .records import parse_iso
from .streamjson import Block
from .streamjson import Usage as MessageUsage

__all__ = [
    "BYTES_BUDGET",
    "MAX_FILES",
    "MAX_FOLDER_ENTRIES",
    "MAX_LINE",
    "MAX_LINES",
    "Counted",
    "Listing",
    "TranscriptFollower",
    "count_transcripts",
    "emit_transcripts",
    "find_transcripts",
    "follow_transcripts",
]

#: How deep below ``claude/projects`` transcripts are looked for (Claude keeps a
#: conversation's subagents in ``<project>/<session>/subagents/``).
MAX_DEPTH = 4
#: Entries one folder may hold for it to be looked into, and entries looked at in all.
MAX_FOLDER_ENTRIES = 1000
MAX_ENTRIES = 10_000
#: Transcripts read for one run.
MAX_FILES = 1000
#: Bytes and lines read for one count, whatever the files hold.
BYTES_BUDGET = 256 << 20
MAX_LINES = 500_000
#: A longer line is skipped without being held (Claude's message lines are small;
#: what a tool read or wrote can be large, and is not counted anyway).
MAX_LINE = 4 << 20
#: Conversations listed one by one; more still count in the totals.
MAX_SESSIONS = 100
#: What one look of a follower reads, in all its files.
FOLLOW_BYTES = 8 << 20
#: How often a follower looks for new lines.
POLL_SECONDS = 0.5
_CHUNK = 1 << 20
#: A message Claude made up itself (an API error shown as a reply): no turn of the model's.
_SYNTHETIC = "<synthetic>"
#: Lines of these kinds are decoded, every other line is only counted: Claude writes
#: its keys without spaces, and a line that hides its kind counts nothing.
_MESSAGE_KINDS = (b'"type":"assistant"', b'"type":"user"')
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


class TranscriptFile(msgspec.Struct, frozen=True, kw_only=True):
    """One transcript as listed: where (folder names below ``projects``) and which bytes."""

    parts: tuple[str, ...]
    dev: int
    ino: int
    size: int
    mtime_ns: int
    #: The change time, which no one can set: a file rewritten to the same size and
    #: modification time still reads as changed.
    ctime_ns: int


class Listing(msgspec.Struct, kw_only=True):
    """The transcripts in a run, found within the bounds."""

    files: list[TranscriptFile] = []
    #: The first reason something was left out, when something was.
    problem: str | None = None
    entries_seen: int = 0

    def left_out(self, problem: str) -> None:
        if self.problem is None:
            self.problem = printable(problem)

    def digest(self) -> str:
        """What the listing names, in a few bytes: a count made of it holds while this is
        the same (a key for a cache)."""
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(os.fsencode("/".join(file.parts)) + b"\0")
            numbers = (file.dev, file.ino, file.size, file.mtime_ns, file.ctime_ns)
            digest.update(b"%d %d %d %d %d\n" % numbers)
        digest.update((self.problem or "").encode(errors="replace"))
        return digest.hexdigest()


def find_transcripts(claude_dir: Path) -> Listing:
    """The ``*.jsonl`` files under ``claude_dir/projects`` (regular files only, links
    not followed), within :data:`MAX_FILES` and the bounds on entries looked at."""
    listing = Listing()
    try:
        with (
            agentfs.open_folder(claude_dir) as claude,
            agentfs.open_folder("projects", dir_fd=claude) as projects,
        ):
            _walk(projects, (), listing)
    except AgentFileMissing:
        pass  # none yet: nothing left out
    except AgentFileError as exc:
        listing.left_out(f"claude/projects {exc.problem}")
    return listing


def _walk(folder: int, parts: tuple[str, ...], listing: Listing) -> None:
    label = "/".join(("claude/projects", *parts))
    try:
        entries = agentfs.list_dir(folder, label=label, limit=MAX_FOLDER_ENTRIES)
    except TooManyEntries as exc:
        listing.left_out(str(exc))
        return
    for name, kind in sorted(entries):
        listing.entries_seen += 1
        if listing.entries_seen > MAX_ENTRIES:
            listing.left_out(f"past the {MAX_ENTRIES} entries looked at under claude/projects")
            return
        if kind == stat.S_IFDIR:
            if len(parts) + 1 >= MAX_DEPTH:
                continue  # deeper than Claude writes
            try:
                with agentfs.open_folder(name, dir_fd=folder) as sub:
                    _walk(sub, (*parts, name), listing)
            except AgentFileError:
                continue  # replaced by a link meanwhile: not followed
        elif name.endswith(".jsonl"):
            if kind != stat.S_IFREG:
                listing.left_out(f"{label}/{name} is not a regular file; not read")
                continue
            if len(listing.files) >= MAX_FILES:
                listing.left_out(f"past the {MAX_FILES} transcripts read for one run")
                return
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISREG(info.st_mode):
                listing.files.append(
                    TranscriptFile(
                        parts=(*parts, name),
                        dev=info.st_dev,
                        ino=info.st_ino,
                        size=info.st_size,
                        mtime_ns=info.st_mtime_ns,
                        ctime_ns=info.st_ctime_ns,
                    )
                )


@contextmanager
def _open_transcript(claude_dir: Path, file: TranscriptFile) -> Iterator[int]:
    """A descriptor of ``file``, opened as :mod:`scad.agentfs` opens an agent's files.
    Raises AgentFileError when it is no longer the regular file that was listed."""
    *folders, name = file.parts
    with (
        agentfs.open_folder(claude_dir) as claude,
        agentfs.open_folder(Path("projects", *folders), dir_fd=claude) as folder,
        agentfs.open_regular_at(folder, name) as fd,
    ):
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (file.dev, file.ino):
            raise AgentFileError(name, "changed since it was listed")
        yield fd


class _Lines:
    """A file's complete lines, from chunks read in order; a line over :data:`MAX_LINE`
    is dropped as it comes, never held whole."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        pieces = chunk.split(b"\n")
        lines: list[bytes] = []
        if len(pieces) > 1:
            first = b"".join([*self._pending, pieces[0]])
            if not self._skipping and len(first) <= MAX_LINE:
                lines.append(first)
            self._pending, self._pending_size, self._skipping = [], 0, False
            lines.extend(piece for piece in pieces[1:-1] if len(piece) <= MAX_LINE)
        tail = pieces[-1]
        if not self._skipping:
            self._pending.append(tail)
            self._pending_size += len(tail)
            if self._pending_size > MAX_LINE:
                self._pending, self._pending_size, self._skipping = [], 0, True
        return lines


class _Head(msgspec.Struct, gc=False):
    type: str | None = None
    timestamp: str | None = None
    sessionId: str | None = None


class _Message(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    content: list[Block] = []
    usage: MessageUsage | None = None


class _AssistantLine(msgspec.Struct, gc=False):
    message: _Message = msgspec.field(default_factory=_Message)


_decode_head = msgspec.json.Decoder(_Head).decode
_decode_assistant = msgspec.json.Decoder(_AssistantLine).decode


def _message_line(line: bytes) -> _Head | None:
    """The head of an ``assistant`` or ``user`` line fit to decode; None for any other."""
    if not any(kind in line for kind in _MESSAGE_KINDS) or not nests_within(line, MAX_NESTING):
        return None
    try:
        head = _decode_head(line)
    except agentfs.JSON_ERRORS:
        return None
    return head if head.type in ("assistant", "user") else None


def _time(value: str | None) -> str | None:
    """A transcript's timestamp in the event log's form, or None when it is not one."""
    if value is None or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = parse_iso(value).astimezone(UTC)
    except ValueError:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        head = _message_line(line)
        if head is None:
            return
        ts = _time(head.timestamp)
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

    def _session(self, head: _Head, ts: str | None) -> ClaudeSession | None:
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
        splitter = _Lines()
        done = 0
        try:
            with _open_transcript(claude_dir, file) as fd:
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


class _Followed:
    def __init__(self) -> None:
        self.offset = 0
        self.lines = _Lines()


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
                with _open_transcript(self._claude_dir, file) as fd:
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
            head = _message_line(line)
            if head is None:
                continue
            self._last_ts = _time(head.timestamp) or self._last_ts
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
