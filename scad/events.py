"""The per-run event log: ``runs/<run-id>/events.jsonl``, append-only.

Each line is an envelope: ``src: "claude"`` lines carry Claude's stream-json
objects verbatim under ``data``; ``src: "scad"`` lines are lifecycle events.
Only scad writes it, on the host, under a file lock, so concurrent writers
never interleave or duplicate: Claude's lines are numbered as they come from
the engine and each number is written once.

Readers tolerate a partial last line and event types they do not know.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from .runs import RunPaths, now_iso

__all__ = [
    "Envelope",
    "IngestState",
    "append_event",
    "ingest_claude_lines",
    "ingest_state",
    "read_events",
]


class Envelope(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of the log. Unknown fields are ignored when read."""

    seq: int
    ts: str
    src: str
    #: Lifecycle event name, for ``src: "scad"``.
    event: str | None = None
    #: Claude's stream-json object, for ``src: "claude"``: its bytes as Claude wrote
    #: them (re-encoding the envelope writes them back unchanged); see :meth:`payload`.
    data: msgspec.Raw = msgspec.Raw()
    #: A line Claude printed that was not JSON.
    text: str | None = None
    exit_code: int | None = None
    detail: str | None = None

    def payload(self) -> Any:
        """Claude's object, decoded (None for lines that carry none)."""
        return msgspec.json.decode(self.data) if self.data else None


class IngestState(msgspec.Struct, kw_only=True):
    """How far the log holds a container's output (``ingest.json`` beside the log)."""

    seq: int = 0
    container_id: str | None = None
    #: Lines of the container's stdout already in the log.
    claude_lines: int = 0
    #: The engine's timestamp of the last of those lines: where a catch-up resumes.
    last_entry: str | None = None
    exited: bool = False


_decode_envelope = msgspec.json.Decoder(Envelope).decode
_decode_state = msgspec.json.Decoder(IngestState).decode


class _Writer:
    def __init__(self, state: IngestState, out: Any) -> None:
        self.state = state
        self._out = out

    def write_raw(self, fields: bytes, ts: str | None = None) -> None:
        """Append an envelope whose fields after seq and ts are the JSON ``fields``."""
        self.state.seq += 1
        head = b'{"seq":%d,"ts":"%s",' % (self.state.seq, (ts or now_iso()).encode())
        self._out.write(head + fields + b"}\n")

    def write(self, ts: str | None = None, **fields: Any) -> None:
        """Append an envelope of ``fields``; those that are None are left out."""
        present = {k: v for k, v in fields.items() if v is not None}
        self.write_raw(msgspec.json.encode(present)[1:-1], ts)


def _read_state(paths: RunPaths) -> IngestState:
    if not paths.ingest_state.exists():
        return IngestState()
    return _decode_state(paths.ingest_state.read_bytes())


@contextmanager
def _locked(paths: RunPaths) -> Iterator[_Writer]:
    """The log open for appending, with its state, under an exclusive lock."""
    with open(paths.lock, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = _read_state(paths)
            with open(paths.events, "ab+") as out:
                _end_last_line(out)
                writer = _Writer(state, out)
                yield writer
                out.flush()
                os.fsync(out.fileno())
            tmp = paths.ingest_state.with_suffix(".tmp")
            tmp.write_bytes(msgspec.json.encode(state))
            os.replace(tmp, paths.ingest_state)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _end_last_line(out: Any) -> None:
    """A writer killed mid-line leaves a partial line; close it so the next one stands alone."""
    if out.seek(0, os.SEEK_END) > 0:
        out.seek(-1, os.SEEK_END)
        if out.read(1) != b"\n":
            out.write(b"\n")


def append_event(paths: RunPaths, event: str, **fields: Any) -> None:
    """Append a scad lifecycle event."""
    with _locked(paths) as log:
        log.write(src="scad", event=event, **fields)


def ingest_state(paths: RunPaths, container_id: str) -> IngestState:
    """How far the log holds the container's output: a fresh state for a container
    the log has not seen yet."""
    state = _read_state(paths)
    return state if state.container_id == container_id else IngestState(seq=state.seq)


def ingest_claude_lines(
    paths: RunPaths,
    container_id: str,
    first: int,
    lines: Sequence[tuple[str, str, str]],
    *,
    exit_code: int | None = None,
    detail: str | None = None,
    exited_at: str | None = None,
) -> int:
    """Append Claude's stdout lines number ``first, first+1, ...`` not yet in the log.

    ``lines`` are ``(timestamp, text, engine timestamp of its end)``. With
    ``exit_code`` the container has ended and an ``exited`` event follows, once,
    stamped ``exited_at`` (when the container ended, not when it was noticed).
    Returns how many lines were appended.
    """
    appended = 0
    with _locked(paths) as log:
        state = log.state
        if state.container_id != container_id:
            # A resumed run has a new container whose output starts from line 0.
            state.container_id, state.claude_lines, state.last_entry, state.exited = (
                container_id,
                0,
                None,
                False,
            )
        for index, (ts, line, end) in enumerate(lines, start=first):
            if index != state.claude_lines:
                continue  # written already, or (a gap) another reader will write it
            state.claude_lines, state.last_entry = index + 1, end or state.last_entry
            if not line.strip():
                continue
            try:
                msgspec.json.decode(line)
                log.write_raw(b'"src":"claude","data":' + line.strip().encode(), ts)
            except msgspec.DecodeError:
                log.write(ts, src="claude", text=line)
            appended += 1
        if exit_code is not None and not state.exited:
            log.write(exited_at, src="scad", event="exited", exit_code=exit_code, detail=detail)
            state.exited = True
    return appended


def read_events(paths: RunPaths, offset: int = 0) -> tuple[list[Envelope], int]:
    """Envelopes from byte ``offset`` to the last complete line, and the offset after it."""
    try:
        with open(paths.events, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    envelopes = []
    for line in data[:end].splitlines():
        try:
            envelopes.append(_decode_envelope(line))
        except msgspec.DecodeError:
            continue  # a damaged line is skipped, not fatal
    return envelopes, offset + end
