"""A batch's timeline read from disk: its manifest, its log, its runs' own events
and the gateway's measures, each file read a block at a time (memory stays flat in
a log's size: of the runs' logs only scad's few events of each attempt are kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec

from ...batch.events import BatchEvent
from ...batch.store import BatchPaths, load_manifest
from ...gateway import load_registration
from ...home import Home
from ...runs.envelopes import ScadEvent, decode_line
from ...runs.gatewaylog import Exchange, read_gateway_events
from ...runs.records import RunPaths, now_iso
from ._fold import RUN_EVENTS, TimelineFold
from ._model import Timeline

__all__ = ["BLOCK", "read_timeline", "scad_lines"]

#: How much of a log one read takes.
BLOCK = 1 << 20
#: A line longer than this is none the timeline reads (scad's own events are short;
#: what an agent printed can be megabytes): it is skipped, never held.
MAX_LINE = 1 << 20
#: Every line of a run's log opens with its seq, ts and src: scad's own say so early.
_SCAD_MARK = b'"src":"scad"'
_HEAD = 96

_decode_batch_event = msgspec.json.Decoder(BatchEvent).decode


async def read_timeline(home: Home, batch_id: str) -> Timeline:
    """The timeline of batch ``batch_id`` (a whole id), as its logs hold it now.
    Raises NotFound for an unknown batch."""
    return await anyio.to_thread.run_sync(_read, home, batch_id)


def _read(home: Home, batch_id: str) -> Timeline:
    fold = TimelineFold(load_manifest(home, batch_id))
    for line in scad_lines(Path(BatchPaths(home, batch_id).events)):
        try:
            fold.feed(_decode_batch_event(line))
        except msgspec.DecodeError:
            continue  # a damaged line, or an event a later version wrote
    runs: dict[str, list[ScadEvent]] = {}
    measured: dict[str, list[Exchange]] = {}
    for run_id in fold.run_ids:
        paths = RunPaths(home, run_id)
        runs[run_id] = _run_events(paths.events)
        if load_registration(home, run_id) is not None:
            measured[run_id] = [
                e for e in read_gateway_events(paths.gateway_events) if isinstance(e, Exchange)
            ]
    return fold.timeline(runs, measured, now_iso())


def _run_events(path: Path) -> list[ScadEvent]:
    """The run's own events a timeline reads; Claude's lines are passed over unread."""
    kept: list[ScadEvent] = []
    for line in scad_lines(path, mark=_SCAD_MARK):
        if isinstance(envelope := decode_line(line), RUN_EVENTS):
            kept.append(envelope)
    return kept


def scad_lines(path: Path, *, mark: bytes | None = None) -> Iterator[bytes]:
    """The complete lines of the file at ``path`` (none when it is missing), read a
    block at a time; with ``mark``, only those whose opening holds it. A line longer
    than :data:`MAX_LINE` is skipped, and a partial last line is left."""
    try:
        log = open(path, "rb")  # noqa: SIM115 (closed below, after the first read's errors)
    except (FileNotFoundError, NotADirectoryError):
        return
    with log:
        carry, skipping = b"", False
        while block := log.read(BLOCK):
            if skipping:
                newline = block.find(b"\n")
                if newline < 0:
                    continue
                block, skipping = block[newline + 1 :], False
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            for line in lines:
                if len(line) <= MAX_LINE and (mark is None or mark in line[:_HEAD]):
                    yield line
            if len(carry) > MAX_LINE:
                carry, skipping = b"", True
