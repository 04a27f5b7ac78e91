"""What gc sees in a scad home: its runs and batches, and the sizes of trees.

Blocking file work, to be run in a thread. Links are never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec

from ..batch.state import batch_state
from ..batch.store import BatchManifest, BatchPaths, read_batch_events, supervisor_pid
from ..code.borrowed import is_store_name
from ..home import Home
from ..runs.events import is_locked, is_supervised
from ..runs.records import RunPaths, RunRecord, decode_record, parse_iso

__all__ = [
    "SeenBatch",
    "SeenBorrower",
    "SeenHome",
    "SeenRun",
    "borrower",
    "busy",
    "entries",
    "read_borrowed",
    "read_borrowers",
    "read_home",
    "tree_size",
    "tree_touched",
]


class SeenRun(msgspec.Struct, kw_only=True):
    """What the file system says of one run directory."""

    run_id: str
    record: RunRecord | None
    #: Why ``run.json`` could not be read, when it could not.
    unreadable: str | None = None
    worktrees: bool
    #: Clone folders in ``worktrees/``.
    clones: list[str]
    stores: bool
    #: A live process is using it (what it does), else None.
    busy: str | None
    #: The newest of its folder's, ``run.json``'s and ``events.jsonl``'s mtimes.
    touched: float


class SeenBatch(msgspec.Struct, kw_only=True):
    batch_id: str
    #: ``manifest.json`` is missing (its creation was cut short) or unreadable.
    problem: str | None
    #: The live supervisor's pid (-1: one took the lock but has not written it yet).
    pid: int | None
    touched: float
    #: Its runs: those its log names and those whose record names it.
    runs: list[str]


class SeenHome(msgspec.Struct, kw_only=True):
    runs: list[SeenRun]
    #: Every name in ``runs/`` (folder or not): a run label naming one is not an orphan's.
    run_names: set[str]
    not_runs: list[str]
    batches: list[SeenBatch]


class SeenBorrower(msgspec.Struct, frozen=True, kw_only=True):
    """A run whose clones may borrow a borrowed store's objects."""

    run_id: str
    #: The names of the stores its record says it borrows from.
    stores: list[str] = []
    #: Why which stores it borrows from is not known (then it may borrow from any): its
    #: record cannot be read, or names no store for one of its repos (a run made
    #: before records named them).
    unknown: Literal["unreadable", "unrecorded"] | None = None


def read_borrowers(home: Home) -> list[SeenBorrower]:
    """The runs that borrow from borrowed stores, as their records say now (see
    :func:`borrower`)."""
    found = []
    for entry in entries(home.runs):
        if not entry.is_dir(follow_symlinks=False):
            continue
        paths = RunPaths(home, entry.name)
        try:
            record: RunRecord | None = decode_record(paths.record.read_bytes())
        except (OSError, msgspec.DecodeError):
            record = None
        clones, stores = os.path.lexists(paths.worktrees), os.path.lexists(paths.stores)
        if seen := borrower(entry.name, record, worktrees=clones, stores=stores):
            found.append(seen)
    return found


def borrower(
    run_id: str, record: RunRecord | None, *, worktrees: bool, stores: bool
) -> SeenBorrower | None:
    """The run as scad's own records say it borrows, or None when it borrows from no
    store: a run borrows with clones (``worktrees/``, even empty: its clones may be
    being made), or not cleaned and with snapshot stores (which name the borrowed
    store as a lender). What a clone's own alternates say is never read: the agent
    writes them. Nor is where a repo's path leads now: a link on the way may have
    been pointed elsewhere since the clone was made."""
    if not (worktrees or (stores and not (record and record.cleaned))):
        return None
    if record is None:
        return SeenBorrower(run_id=run_id, unknown="unreadable")
    recorded = {record.borrowed.get(key, "") for key in record.repos}
    if not all(is_store_name(name) for name in recorded):
        return SeenBorrower(run_id=run_id, unknown="unrecorded")
    return SeenBorrower(run_id=run_id, stores=sorted(recorded))


def read_borrowed(home: Home) -> list[str]:
    """The names of the home's borrowed stores (folders, not links)."""
    return [
        entry.name
        for entry in entries(home.borrowed)
        if is_store_name(entry.name) and entry.is_dir(follow_symlinks=False)
    ]


def read_home(home: Home) -> SeenHome:
    seen = SeenHome(runs=[], run_names=set(), not_runs=[], batches=[])
    by_batch: dict[str, set[str]] = {}
    for entry in entries(home.runs):
        seen.run_names.add(entry.name)
        if not entry.is_dir(follow_symlinks=False):
            seen.not_runs.append(entry.name)
            continue
        run = _read_run(home, entry.name)
        seen.runs.append(run)
        if run.record is not None and run.record.batch_id:
            by_batch.setdefault(run.record.batch_id, set()).add(run.record.run_id)
    seen.batches = [
        _read_batch(home, entry.name, by_batch.get(entry.name, set()))
        for entry in entries(home.root / "batches")
        if entry.is_dir(follow_symlinks=False)
    ]
    return seen


def entries(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` by name; none when it is missing or not a folder."""
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read_run(home: Home, run_id: str) -> SeenRun:
    paths = RunPaths(home, run_id)
    record, unreadable = None, None
    try:
        record = decode_record(paths.record.read_bytes())
    except FileNotFoundError:
        unreadable = "missing"
    except (OSError, msgspec.DecodeError) as exc:
        unreadable = str(exc)
    touched = _mtime(paths.root, paths.record, paths.events)
    if record is not None:
        with contextlib.suppress(ValueError):  # a malformed time: the mtimes say enough
            touched = max(touched, parse_iso(record.created).timestamp())
    return SeenRun(
        run_id=run_id,
        record=record,
        unreadable=unreadable,
        worktrees=os.path.lexists(paths.worktrees),
        clones=[] if paths.worktrees.is_symlink() else [e.name for e in entries(paths.worktrees)],
        stores=os.path.lexists(paths.stores),
        busy=busy(paths),
        touched=touched,
    )


def busy(paths: RunPaths) -> str | None:
    """What a live process is doing with the run, if one is."""
    if is_supervised(paths):
        return "a live process supervises it"
    if is_locked(paths.lock):
        return "its event log is being written"
    return None


def _read_batch(home: Home, batch_id: str, recorded: set[str]) -> SeenBatch:
    paths = BatchPaths(home, batch_id)
    runs, problem = set(recorded), None
    try:
        manifest = msgspec.json.decode(Path(paths.manifest).read_bytes(), type=BatchManifest)
    except FileNotFoundError:
        problem = "no manifest"
    except (OSError, msgspec.DecodeError) as exc:
        problem = f"unreadable ({exc})"
    else:
        runs.update(batch_state(manifest, read_batch_events(paths)).run_ids)
    return SeenBatch(
        batch_id=batch_id,
        problem=problem,
        pid=supervisor_pid(paths),
        touched=_mtime(paths.root, Path(paths.manifest), Path(paths.events)),
        runs=sorted(runs),
    )


def _mtime(*paths: Path) -> float:
    """The newest mtime of those of ``paths`` that exist (links not followed)."""
    times = [0.0]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            times.append(os.lstat(path).st_mtime)
    return max(times)


#: Entries counted in one tree: a run's tree is the agent's, which decides how many.
MAX_TREE_ENTRIES = 1_000_000


def _tree_stats(root: Path) -> Iterator[os.stat_result]:
    """``lstat`` of ``root`` and everything under it (a file: itself), one at a time;
    links are not followed below ``root``."""
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                yield os.lstat(os.path.join(folder, name))
    with contextlib.suppress(FileNotFoundError):
        yield os.lstat(root)


def tree_size(root: Path) -> int | None:
    """The bytes of the files under ``root`` (of ``root``, a file); None (unknown)
    when it holds more than ``MAX_TREE_ENTRIES`` entries."""
    total = 0
    for seen, info in enumerate(_tree_stats(root)):
        if seen >= MAX_TREE_ENTRIES:
            return None
        if not stat.S_ISDIR(info.st_mode):
            total += info.st_size
    return total


def tree_touched(root: Path) -> float:
    """The newest mtime under ``root`` (``root``'s own included)."""
    return max((info.st_mtime for info in _tree_stats(root)), default=0.0)
