"""What collected runs were and spent: a record, not a cache (``ledger/<run-id>.json``).

When ``gc`` removes a run's folder, the run's record and its log's summary are
kept here first, so what was spent still adds up in ``project status`` and
``batch status`` after the clones, the log and the container are gone. Written by
scad alone: the figures of its own log, and for an interactive run those it counted
from Claude's transcripts (read as untrusted files, within bounds).
"""

from __future__ import annotations

import os

import msgspec

from ..home import Home
from .records import OlderNames, RunRecord, now_iso
from .summaries import LogSummary

__all__ = ["Collected", "collected_run", "collected_runs", "keep_collected"]


class Collected(msgspec.Struct, frozen=True, kw_only=True):
    """A run whose folder was collected: who it was, what its log said, and when."""

    record: RunRecord
    log: LogSummary
    collected: str


def keep_collected(home: Home, record: RunRecord, log: LogSummary) -> Collected:
    """Write ``record``'s entry atomically (blocking: call it in a worker thread)."""
    entry = Collected(record=record, log=log, collected=now_iso())
    home.ledger.mkdir(mode=0o700, exist_ok=True)
    path = home.ledger / f"{record.run_id}.json"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(msgspec.json.encode(entry))
    os.replace(temporary, path)
    return entry


class _OlderEntry(msgspec.Struct):
    record: OlderNames


_decode_entry = msgspec.json.Decoder(Collected).decode
_decode_older = msgspec.json.Decoder(_OlderEntry).decode


def _decode(data: bytes) -> Collected:
    """An entry, also one whose record names its batch the old way (see ``OlderNames``)."""
    entry = _decode_entry(data)
    if entry.record.item is not None and entry.record.batch_id is None:
        _decode_older(data).record.carry_into(entry.record)
    return entry


def collected_runs(home: Home) -> list[Collected]:
    """Every readable entry, oldest run first (blocking). An entry that cannot be read
    is left out: the ledger holds figures, never a reason to fail a report."""
    if not home.ledger.is_dir():
        return []
    entries = []
    for path in home.ledger.glob("*.json"):
        try:
            entries.append(_decode(path.read_bytes()))
        except (OSError, msgspec.DecodeError):
            continue
    return sorted(entries, key=lambda e: e.record.created)


def collected_run(home: Home, run_id: str) -> Collected | None:
    """The entry of ``run_id``, or None when it has none (blocking)."""
    try:
        return _decode((home.ledger / f"{run_id}.json").read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
