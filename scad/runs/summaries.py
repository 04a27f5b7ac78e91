"""A run's event log summed up as it grows, kept beside it, and read on from where it stopped.

Status views look at every run, so a run's summary (:class:`LogSummary`) is
written to ``runs/<id>/summary.json`` with the place in the log it covers: the
log's inode, the offset of the end of the last complete line folded, a digest of
the bytes before that offset, and the fold it came from (:class:`ScanFold`: where
each conversation stood, and so on). The one part of the fold many times the
summary's size, the ids of every message counted, is kept apart in
``runs/<id>/fold.json``, named by the digest of the place it was written at; it is
read only when the log gained a message that could be one of them.

A look at a log unchanged since (its size and modification time too) costs a
``stat`` and a small read; a look at a log that grew reads on past the offset; a
log that is not the one the cache covers (another inode, shorter than the offset,
other bytes before it), or message ids that are not the summary's, is read again
whole. The writer keeps the summary when a container's output ends
(:func:`keep_summary`), so a look after a run rarely reads its log, and one that
does (an event appended since: a fetch, a clean) reads what follows only.

Caches are rewritten in place and read only when whole (see
:mod:`scad.runs._cachefile`). Only scad writes the run directory's root (the
agent's container cannot reach it), but a cache is still read as untrusted: one
that is a link, a FIFO, too large, torn, does not decode, or whose key does not
match, is recomputed and written again.

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
from collections.abc import Collection

import anyio
import msgspec

from ..home import Home
from ._cachefile import read_cache, write_cache
from ._logscan import LogScan, LogSummary, ScanFold, fold_bytes
from .accounting import RunSummary
from .gatewaylog import refused_by_budget
from .records import RunPaths
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
SUMMARY_VERSION = 7
#: A cache file larger than this is not read (nor written): the log is read instead.
CACHE_LIMIT = 16 << 20
#: How many bytes of the log's start, and of what precedes the offset a cache
#: covers, its digest is of.
_MARK_SPAN = 4096
_CACHE_NAME = "summary.json"
_FOLD_NAME = "fold.json"
_TRANSCRIPTS_CACHE_NAME = "transcripts.json"


class _LogKey(msgspec.Struct, frozen=True, array_like=True):
    """Which bytes a summary is of: the log's identity when it was read."""

    ino: int
    size: int
    mtime_ns: int


class _Cache(msgspec.Struct, kw_only=True):
    version: int
    #: The log when it was folded: a log with this very key needs no reading at all.
    key: _LogKey
    log: LogSummary
    #: The end of the last complete line folded.
    offset: int
    #: The digest of the log's bytes before ``offset`` (see :func:`_mark`).
    mark: str
    #: Where the fold stood at ``offset``, to read on from there.
    fold: ScanFold
    #: The ``mark`` of the place the message ids this fold counted were kept at
    #: (they change less often than the offset); empty while none were counted.
    messages: str = ""


class _Messages(msgspec.Struct, kw_only=True):
    """The ids of the messages a fold counted, read only when one more comes."""

    version: int
    #: The mark of the place they were kept at: a summary names the one it goes with.
    mark: str
    ids: set[str | None]


class _TranscriptsCache(msgspec.Struct, kw_only=True):
    version: int
    #: Which transcripts were counted (see :meth:`scad.runs.transcripts.Listing.digest`).
    digest: str
    summary: RunSummary


class _MessagesLost(Exception):
    """The message ids a summary names are not kept: the log is folded again whole."""


_decode_cache = msgspec.json.Decoder(_Cache).decode
_decode_messages = msgspec.json.Decoder(_Messages).decode
_decode_transcripts_cache = msgspec.json.Decoder(_TranscriptsCache).decode
_encode = msgspec.json.Encoder().encode


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
    cache = read_cache(paths.root / _CACHE_NAME, _decode_cache, limit=CACHE_LIMIT)
    # Missing, a link, a FIFO, too large, torn, not ours: recomputed.
    return cache if cache is not None and cache.version == SUMMARY_VERSION else None


def _message_ids(paths: RunPaths, mark: str) -> set[str | None]:
    """The message ids kept at ``mark``; raises _MessagesLost when those kept are
    not those (another place's, torn, gone)."""
    if not mark:
        return set()
    kept = read_cache(paths.root / _FOLD_NAME, _decode_messages, limit=CACHE_LIMIT)
    if kept is None or (kept.version, kept.mark) != (SUMMARY_VERSION, mark):
        raise _MessagesLost
    return kept.ids


def _resumed(paths: RunPaths, fd: int, key: _LogKey, cache: _Cache | None) -> tuple[LogScan, int]:
    """The scan to go on with and the offset to read on from: the cache's, when it
    covers the start of this very log, else a new one from the start."""
    if cache is None or cache.key.ino != key.ino or not 0 < cache.offset <= key.size:
        return LogScan(), 0
    if cache.mark != _mark(fd, cache.offset):
        return LogScan(), 0  # not the bytes the cache was folded from
    return LogScan(cache.fold, functools.partial(_message_ids, paths, cache.messages)), cache.offset


def _store(
    paths: RunPaths, fd: int, key: _LogKey, scan: LogScan, offset: int, cache: _Cache | None
) -> LogSummary:
    """Keep the message ids (when they changed), then the summary: a reader that
    finds the new summary finds its ids (or, should the second write fail, an old
    summary that names ids no longer kept, and folds again)."""
    log = scan.result()
    fold = scan.fold()
    mark = _mark(fd, offset)
    ids = scan.tally.counted_messages()
    if ids is None and cache is not None:
        messages = cache.messages  # none came: still those the cache named
    elif not ids:
        messages = ""
    else:
        _write(paths, _FOLD_NAME, _encode(_Messages(version=SUMMARY_VERSION, mark=mark, ids=ids)))
        messages = mark
    entry = _Cache(
        version=SUMMARY_VERSION,
        key=key,
        log=log,
        offset=offset,
        mark=mark,
        fold=fold,
        messages=messages,
    )
    _write(paths, _CACHE_NAME, _encode(entry))
    return log


def _write(paths: RunPaths, name: str, data: bytes) -> None:
    write_cache(paths.root / name, data, limit=CACHE_LIMIT)


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
        try:
            end = fold_bytes(fd, scan, start, key.size)
        except _MessagesLost:
            scan, start, cache = LogScan(), 0, None
            end = fold_bytes(fd, scan, start, key.size)
        if end is None:
            return _with_gateway(paths, scan.result())  # not worth keeping
        log = _store(paths, fd, key, scan, end, cache)
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
        _write(paths, _TRANSCRIPTS_CACHE_NAME, _encode(cache))
    return counted.summary


def _cached_transcripts(paths: RunPaths) -> _TranscriptsCache | None:
    cache = read_cache(
        paths.root / _TRANSCRIPTS_CACHE_NAME, _decode_transcripts_cache, limit=CACHE_LIMIT
    )
    # Missing, a link, a FIFO, too large, torn, not ours: recounted.
    return cache if cache is not None and cache.version == SUMMARY_VERSION else None


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
