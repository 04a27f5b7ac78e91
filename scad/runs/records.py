"""Run directories and their metadata (``runs/<run-id>/run.json``).

One run directory is one session: its clones, Claude state, event log and
this record. The record is the source of truth for what the session is; the
engine is asked only for what the container is doing now.

Loading, saving and listing records block (a folder scan, a file each); async
code calls their ``a``-prefixed twins, which run them off the event loop.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from ..errors import NotFound, UsageError
from ..home import Home
from ..names import ids_like, ids_named
from ..threads import async_twin
from .gatewaylog import EVENTS_FILE, GATEWAY_DIR

__all__ = [
    "OlderNames",
    "RunPaths",
    "RunRecord",
    "alist_runs",
    "aload_run",
    "asave_run",
    "decode_record",
    "find_run",
    "list_runs",
    "load_run",
    "now_iso",
    "parse_iso",
    "save_run",
]

Mode = Literal["interactive", "headless"]


class RunRecord(msgspec.Struct, kw_only=True):
    """What a run is: written at start, updated as it changes."""

    run_id: str
    config: str
    tag: str
    mode: Mode
    image: str
    branch: str
    created: str
    repos: dict[str, str]
    """Repo key -> host repo path the clone came from."""
    prompt: str | None = None
    container_id: str | None = None
    auth: str | None = None
    """How Claude authenticates in this run (api-key, oauth-token, credentials-file)."""
    cleaned: str | None = None
    """When `session clean` removed its container and clones."""
    batch_id: str | None = None
    """The batch this run is an item of, and which (from 1)."""
    item: int | None = None
    max_usd_per_run: float | None = None
    """The run's own budget (US dollars): the gateway refuses its next model call past it."""
    bases: dict[str, str] = {}
    """Repo key -> the commit its clone started from (what the run's commits build on)."""
    borrowed: dict[str, str] = {}
    """Repo key -> the name of the borrowed store (in the home's ``borrowed/``) its clone
    shares objects with, recorded before the clone is made: what gc keeps while it lives."""
    runs_on: Literal["local", "swarm", "remote"] = "local"
    """Where it runs: this engine, its config's swarm (``--on``, else ``runs_on:``), or
    an engine on another host (``DOCKER_HOST=tcp://...``): away from here, its files
    go through the gateway."""


class OlderNames(msgspec.Struct):
    """What older scad wrote in run.json under other names: read, never written."""

    batch: str | None = None

    def carry_into(self, record: RunRecord) -> RunRecord:
        if record.batch_id is None:
            record.batch_id = self.batch
        return record


_decode_record = msgspec.json.Decoder(RunRecord).decode
_decode_older = msgspec.json.Decoder(OlderNames).decode


def decode_record(data: bytes) -> RunRecord:
    """A run.json's record, also one written before ``batch`` became ``batch_id``."""
    record = _decode_record(data)
    if record.item is not None and record.batch_id is None:  # a batch's item, named the old way
        return _decode_older(data).carry_into(record)
    return record


class RunPaths:
    """Where a run keeps each thing."""

    def __init__(self, home: Home, run_id: str) -> None:
        self.home = home
        self.root = home.run_dir(run_id)

    @property
    def record(self) -> Path:
        return self.root / "run.json"

    @property
    def worktrees(self) -> Path:
        return self.root / "worktrees"

    def clone(self, key: str) -> Path:
        return self.worktrees / key

    @property
    def stores(self) -> Path:
        return self.root / "stores"

    def store(self, key: str) -> Path:
        """scad's own repository mirroring clone ``key`` (see :mod:`scad.code.snapshot`)."""
        return self.stores / f"{key}.git"

    @property
    def pushed_stores(self) -> Path:
        return self.root / "pushed"

    def pushed(self, key: str) -> Path:
        """The bare repository a remote run pushes its branches of repo ``key`` into
        (through the gateway; see :mod:`scad.code.pushed`)."""
        return self.pushed_stores / f"{key}.git"

    @property
    def claude_dir(self) -> Path:
        return self.root / "claude"

    @property
    def claude_json(self) -> Path:
        return self.root / "claude.json"

    @property
    def inputs(self) -> Path:
        """Mounted read-only at /run/scad: prompt and credentials for the agent."""
        return self.root / "inputs"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def gateway_events(self) -> Path:
        """The gateway's own events about the run (written by the gateway alone)."""
        return self.root / GATEWAY_DIR / EVENTS_FILE

    @property
    def supervised(self) -> Path:
        """Locked while a supervisor writes the run's log live."""
        return self.root / ".supervised"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(timestamp: str) -> datetime:
    """A timestamp of scad's (ISO 8601, UTC, ``Z``) as an aware datetime."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def save_run(home: Home, record: RunRecord) -> None:
    """Write ``run.json`` atomically."""
    path = RunPaths(home, record.run_id).record
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(record), indent=2))
    os.replace(tmp, path)


def load_run(home: Home, run_id: str) -> RunRecord:
    """The record of ``run_id``; an unknown id suggests close matches."""
    path = RunPaths(home, run_id).record
    try:
        return decode_record(path.read_bytes())
    except FileNotFoundError:
        if path.parent.is_dir():  # a start interrupted before its record was written
            raise NotFound(f"run {run_id} has no run.json; remove {path.parent} by hand") from None
        raise NotFound(_unknown_run(home, run_id)) from None
    except msgspec.DecodeError as exc:
        raise NotFound(
            f"run {run_id} has an unreadable run.json ({exc}); remove {path.parent} by hand"
        ) from None


def find_run(home: Home, text: str) -> RunRecord:
    """The record of the run a user named: its id or any unique beginning of it."""
    named = ids_named(text, home.run_ids())
    if len(named) == 1:
        return load_run(home, named[0])
    if named:
        shown = ", ".join(named[:6]) + (", ..." if len(named) > 6 else "")
        raise UsageError(f'"{text}" begins {len(named)} run ids ({shown}); give more of one')
    raise NotFound(_unknown_run(home, text))


def _unknown_run(home: Home, run_id: str) -> str:
    if ids_named(run_id, home.batch_ids()):
        return f'"{run_id}" is a batch, not a run; `scad batch status {run_id}` lists its runs'
    if close := ids_like(run_id, home.run_ids()):
        return f'no run "{run_id}"; did you mean {", ".join(close)}?'
    return f'no run "{run_id}"; see `scad session status --all`'


def list_runs(home: Home) -> list[RunRecord]:
    """Every run with a readable record, oldest first."""
    records = []
    for run_id in home.run_ids():
        try:
            records.append(load_run(home, run_id))
        except NotFound:
            continue
    return sorted(records, key=lambda r: r.created)


asave_run = async_twin(save_run)
aload_run = async_twin(load_run)
alist_runs = async_twin(list_runs)
