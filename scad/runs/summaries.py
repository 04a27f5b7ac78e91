"""A run's event log summed up as it grows, kept beside it, and read on from where it stopped.

Status views look at every run, so a run's summary (:class:`LogSummary`) is
written to ``runs/<id>/summary.json`` with the place in the log it covers: the
log's inode, the offset of the end of the last complete line folded, and a
digest of the bytes before that offset. The fold it came from (every message
counted so far, and so on: many times the summary's size) is kept apart, in
``runs/<id>/fold.json``, with the same offset and digest. A look at a log
unchanged since (its size and modification time too) costs a ``stat`` and a
small read; a look at a log that grew reads the fold and folds only what
follows the offset; a log that is not the one the cache covers (another inode,
shorter than the offset, other bytes before it), or a fold that is not the
summary's, is read again whole. The writer keeps the summary when a container's
output ends (:func:`keep_summary`), so a look after a run rarely reads its log.

Only scad writes the run directory's root (the agent's container cannot reach
it), but the cache is still read as untrusted: without following a link, only a
regular file (a FIFO cannot block), up to a bound. One that does not decode, or
whose key does not match, is recomputed and replaced atomically.

An interactive run's Claude prints nothing to the log: its turns, tool calls,
tokens and cost are counted from its transcripts (:mod:`scad.runs.transcripts`)
and cached apart, in ``runs/<id>/transcripts.json``, keyed by a digest of every
transcript's identity: a count is reused only while no transcript changed. When
``session clean`` removes the run's Claude state, that cache is what remains of it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
from collections.abc import Collection

import anyio
import msgspec

from .. import agentfs
from ..errors import AgentFileError
from ..home import Home
from .accounting import RunSummary, RunTally, TallyState
from .envelopes import ClaudeLine, Envelope, decode_line
from .gatewaylog import refused_by_budget
from .lives import Life, RunLives, refused_payment
from .records import RunPaths
from .states import LifeStatus
from .streamjson import claude_event
from .transcripts import count_transcripts, find_transcripts

__all__ = [
    "CACHE_LIMIT",
    "SUMMARY_VERSION",
    "LogSummary",
    "keep_summary",
    "log_summaries",
    "log_summary",
    "summarise_log",
    "summarise_transcripts",
]

#: Bumped whenever what a summary holds, or how it is worked out, changes: caches
#: written by another version are recomputed.
SUMMARY_VERSION = 6
#: A cache file larger than this is not read (nor written): the log is read instead.
CACHE_LIMIT = 16 << 20
#: How much of the log one read takes: memory stays flat whatever its size.
_CHUNK = 4 << 20
#: How many bytes of the log's start, and of what precedes the offset a cache
#: covers, its digest is of.
_MARK_SPAN = 4096
_CACHE_NAME = "summary.json"
_FOLD_NAME = "fold.json"
_TRANSCRIPTS_CACHE_NAME = "transcripts.json"


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


class _LogKey(msgspec.Struct, frozen=True, array_like=True):
    """Which bytes a summary is of: the log's identity when it was read."""

    ino: int
    size: int
    mtime_ns: int


class _Fold(msgspec.Struct, kw_only=True):
    """Where a fold of the log stood, to go on from there."""

    tally: TallyState
    life: Life | None
    stopped: bool
    last_ts: str | None


class _Cache(msgspec.Struct, kw_only=True):
    version: int
    #: The log when it was folded: a log with this very key needs no reading at all.
    key: _LogKey
    log: LogSummary
    #: The end of the last complete line folded.
    offset: int = 0
    #: The digest of the log's bytes before ``offset`` (see :func:`_mark`).
    mark: str = ""


class _FoldCache(msgspec.Struct, kw_only=True):
    """The fold a :class:`_Cache` came from, read only to read on past its offset."""

    version: int
    #: The cache's own: a fold whose offset or mark differ is another summary's.
    offset: int
    mark: str
    fold: _Fold


class _TranscriptsCache(msgspec.Struct, kw_only=True):
    version: int
    #: Which transcripts were counted (see :meth:`scad.runs.transcripts.Listing.digest`).
    digest: str
    summary: RunSummary


_decode_cache = msgspec.json.Decoder(_Cache).decode
_decode_fold = msgspec.json.Decoder(_FoldCache).decode
_decode_transcripts_cache = msgspec.json.Decoder(_TranscriptsCache).decode
_encode = msgspec.json.Encoder().encode


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


class _LogScan:
    """Everything a :class:`LogSummary` needs, fed the log's complete lines in order.

    Claude's lines of a kind the tally ignores (tool results, mostly: the bulk of
    a log) are not handed to the tally: it would only take their time as the last
    activity, which :meth:`result` sets. Tool results are told by their first bytes
    and not decoded at all while the last life's output goes on (a line after its
    end would say the container was restarted: that one is decoded); only the
    last of them, when no other line follows, is, for its time.
    """

    def __init__(self, fold: _Fold | None = None) -> None:
        self.tally = RunTally() if fold is None else RunTally.resume(fold.tally)
        self.lives = RunLives()
        self.last_ts: str | None = None
        if fold is not None:
            self.lives.last, self.lives.stopped = fold.life, fold.stopped
            self.last_ts = fold.last_ts

    def fold(self) -> _Fold:
        """Where the scan stands, to go on from there later."""
        return _Fold(
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


def _fold_bytes(fd: int, scan: _LogScan, start: int, size: int) -> int | None:
    """Feed ``scan`` the complete lines of the log's bytes from ``start`` up to
    ``size``; the offset after the last of them, or None when fewer than ``size``
    bytes were there (the log shrank while read: it should not)."""
    pending: list[bytes] = []  # the start of a line longer than a chunk
    done = start
    fed = start
    while done < size:
        chunk = os.pread(fd, min(_CHUNK, size - done), done)
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


def _mark(fd: int, offset: int) -> str:
    """A digest of the log's first bytes and of those just before ``offset``: a log
    rewritten, or another log, is told from the one a cache covers."""
    head = os.pread(fd, min(_MARK_SPAN, offset), 0)
    before = os.pread(fd, min(_MARK_SPAN, offset), max(0, offset - _MARK_SPAN))
    digest = hashlib.blake2b(b"%d:" % offset, digest_size=16)
    digest.update(head)
    digest.update(before)
    return digest.hexdigest()


def _cached(paths: RunPaths) -> _Cache | None:
    try:
        cache = _decode_cache(agentfs.read_file(paths.root / _CACHE_NAME, limit=CACHE_LIMIT))
    except (AgentFileError, *agentfs.JSON_ERRORS):
        return None  # missing, a link, a FIFO, too large or not ours: recomputed
    return cache if cache.version == SUMMARY_VERSION else None


def _cached_fold(paths: RunPaths, cache: _Cache) -> _Fold | None:
    """The fold ``cache`` came from; None when the fold kept is not that one."""
    try:
        kept = _decode_fold(agentfs.read_file(paths.root / _FOLD_NAME, limit=CACHE_LIMIT))
    except (AgentFileError, *agentfs.JSON_ERRORS):
        return None
    if (kept.version, kept.offset, kept.mark) != (SUMMARY_VERSION, cache.offset, cache.mark):
        return None  # a fold of other bytes, or one a writer left as it was replaced
    return kept.fold


def _resumed(paths: RunPaths, fd: int, key: _LogKey, cache: _Cache | None) -> tuple[_LogScan, int]:
    """The scan to go on with and the offset to read on from: the cache's, when it
    covers the start of this very log and its fold is kept, else a new one from the
    start."""
    if cache is None or cache.key.ino != key.ino or not 0 < cache.offset <= key.size:
        return _LogScan(), 0
    if cache.mark != _mark(fd, cache.offset):
        return _LogScan(), 0  # not the bytes the cache was folded from
    fold = _cached_fold(paths, cache)
    if fold is None:
        return _LogScan(), 0
    return _LogScan(fold), cache.offset


def _store(paths: RunPaths, fd: int, key: _LogKey, scan: _LogScan, offset: int) -> LogSummary:
    """Keep the fold, then the summary: a reader that finds the new summary finds
    its fold (or, should the second write fail, an old summary a fold no longer fits)."""
    log = scan.result()
    mark = _mark(fd, offset)
    fold = _FoldCache(version=SUMMARY_VERSION, offset=offset, mark=mark, fold=scan.fold())
    _write_cache(paths, _FOLD_NAME, _encode(fold))
    cache = _Cache(version=SUMMARY_VERSION, key=key, log=log, offset=offset, mark=mark)
    _write_cache(paths, _CACHE_NAME, _encode(cache))
    return log


def _write_cache(paths: RunPaths, name: str, data: bytes) -> None:
    """Write a cache atomically: a reader sees the old file or the new, whole."""
    if len(data) > CACHE_LIMIT:
        return  # it would not be read back
    tmp = paths.root / f".{name}.{secrets.token_hex(6)}"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, paths.root / name)
    except OSError:
        # A folder in the way, a full disk, a run being removed: the summary stands
        # without its cache, and the next look tries again.
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _key(info: os.stat_result) -> _LogKey:
    return _LogKey(ino=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns)


def summarise_log(paths: RunPaths, *, transcripts: bool = False) -> LogSummary:
    """The summary of the run's event log, from its cache when the log is unchanged,
    else read (and cached). With ``transcripts`` (an interactive run), Claude's
    figures are its transcripts' (see :func:`summarise_transcripts`). Blocking: call
    it in a worker thread. A missing log is an empty summary."""
    log = _summarise_log(paths)
    if transcripts:
        log.summary = _with_transcripts(log.summary, summarise_transcripts(paths))
    return log


def keep_summary(paths: RunPaths) -> None:
    """Bring the run's cached summary up to the log's end (what the writer calls as a
    container's output ends, so that the next look reads no log). Blocking. A summary
    that cannot be kept (a full disk) is the next look's to fold."""
    with contextlib.suppress(OSError):
        _summarise_log(paths)


def _summarise_log(paths: RunPaths) -> LogSummary:
    try:
        key = _key(os.stat(paths.events))
    except FileNotFoundError:
        return LogSummary()
    cache = _cached(paths)
    if cache is not None and cache.key == key:
        return _with_gateway(paths, cache.log)
    try:
        fd = os.open(paths.events, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return LogSummary()
    try:
        # Keyed by what this descriptor held when read began: the log only grows, so
        # its first st_size bytes are what that key names, whatever is appended meanwhile.
        key = _key(os.fstat(fd))
        scan, start = _resumed(paths, fd, key, cache)
        end = _fold_bytes(fd, scan, start, key.size)
        if end is None:
            return _with_gateway(paths, scan.result())  # not worth keeping
        log = _store(paths, fd, key, scan, end)
    finally:
        os.close(fd)
    return _with_gateway(paths, log)


def _with_gateway(paths: RunPaths, log: LogSummary) -> LogSummary:
    """The summary with its outcome ``budget`` when the gateway's events say it
    refused the run that its log says was refused."""
    if log.refused_payment and refused_by_budget(paths.gateway_events) is not None:
        return msgspec.structs.replace(log, outcome="budget")
    return log


def summarise_transcripts(paths: RunPaths) -> RunSummary:
    """What the run's transcripts add up to, from their cache while no transcript
    changed, else counted (and cached). A run whose Claude state is gone (cleaned)
    has the count made before it went. Blocking."""
    if not os.path.lexists(paths.claude_dir):
        cache = _cached_transcripts(paths)
        return cache.summary if cache is not None else RunSummary()
    listing = find_transcripts(paths.claude_dir)
    digest = listing.digest()
    cache = _cached_transcripts(paths)
    if cache is not None and cache.digest == digest:
        return cache.summary
    counted = count_transcripts(paths.claude_dir, listing)
    if counted.whole:
        cache = _TranscriptsCache(version=SUMMARY_VERSION, digest=digest, summary=counted.summary)
        _write_cache(paths, _TRANSCRIPTS_CACHE_NAME, _encode(cache))
    return counted.summary


def _cached_transcripts(paths: RunPaths) -> _TranscriptsCache | None:
    try:
        data = agentfs.read_file(paths.root / _TRANSCRIPTS_CACHE_NAME, limit=CACHE_LIMIT)
        cache = _decode_transcripts_cache(data)
    except (AgentFileError, *agentfs.JSON_ERRORS):
        return None  # missing, a link, a FIFO, too large or not ours: recounted
    return cache if cache.version == SUMMARY_VERSION else None


def _with_transcripts(log: RunSummary, counted: RunSummary) -> RunSummary:
    """An interactive run's totals: what its log holds (scad's events; Claude's lines,
    should its terminal's Claude ever print any) and what its transcripts add up to."""
    usage = msgspec.structs.replace(log.usage)
    usage.merge(counted.usage)
    return msgspec.structs.replace(
        log,
        turns=log.turns + counted.turns,
        tool_calls=log.tool_calls + counted.tool_calls,
        last_tool=counted.last_tool or log.last_tool,
        usage=usage,
        cost_usd=log.cost_usd + counted.cost_usd,
        cost_estimated=log.cost_estimated or counted.cost_estimated,
        last_activity=max(filter(None, (log.last_activity, counted.last_activity)), default=None),
        sessions=[*log.sessions, *counted.sessions],
        transcripts_unread=counted.transcripts_unread,
    )


async def log_summary(paths: RunPaths, *, transcripts: bool = False) -> LogSummary:
    """:func:`summarise_log` in a worker thread."""
    return await anyio.to_thread.run_sync(
        functools.partial(summarise_log, paths, transcripts=transcripts)
    )


async def log_summaries(
    home: Home, run_ids: Collection[str], *, interactive: Collection[str] = ()
) -> dict[str, LogSummary]:
    """The summaries of many runs' logs, in one trip to a worker thread; those of the
    runs in ``interactive`` with their transcripts' figures."""

    def summarise_all() -> dict[str, LogSummary]:
        return {
            run_id: summarise_log(RunPaths(home, run_id), transcripts=run_id in interactive)
            for run_id in run_ids
        }

    return await anyio.to_thread.run_sync(summarise_all)
