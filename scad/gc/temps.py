"""Temporary files scad leaves when a process is killed mid-write: where they are,
which are stale, and removing one only if it still is.

Blocking file work, to be run in a thread. Clones and ``claude/`` are the
agent's: never looked into.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tempfile
from pathlib import Path

import msgspec

from ..batch.store import BatchPaths
from ..checks.folder import CHECK_PREFIX, check_folder_place, holder, remove_check_folder
from ..home import Home
from ..names import CCUSAGE_PREFIX, DOCTOR_PREFIX
from ..runs.records import RunPaths
from .items import GcItem, GcKept, GcPlan
from .scan import entries, tree_size, tree_touched

__all__ = ["plan_temps", "remove_temp", "temp_place"]

#: Temporary names scad writes, by folder; each is renamed into place when whole,
#: so one that stays behind is what a killed process left.
_RUN_TEMPS = (
    "run.tmp",  # runs.save_run
    ".scad-tmp-*",  # agentfs.replace_file stages files for claude/ and inputs/ here
    ".summary.json.*",  # summaries: the run's cached summary,
    ".fold.json.*",  # the fold it came from,
    ".transcripts.json.*",  # and its transcripts' count
    ".sync-*",  # codesync: a folder of packs on their way into a clone
)
_STORE_TEMPS = (
    ".tmp-*",  # snapshot._write: refs, config and loose objects of the store
    "tmp_pack_*",  # git index-pack, run by the snapshot in the store
    "tmp_idx_*",
)
_BATCH_TEMPS = ("manifest.json.tmp",)  # batches.save_manifest
#: borrowed.py: a copy of the host, or a store being removed, renamed to ``.tmp-`` and
#: 12 hex digits (a store's own name, or its lock's, is longer: never taken for one).
_BORROWED_TEMPS = (".tmp-" + "?" * 12,)
#: git's, in a borrowed store's objects: a fetch into it cut short.
_BORROWED_STORE_TEMPS = ("tmp_pack_*", "tmp_idx_*", "tmp_obj_*")
#: Folders of scad's in the system's temporary folder (tempfile.TemporaryDirectory
#: removes them, unless its process is killed).
_SYSTEM_TEMPS = (f"{CCUSAGE_PREFIX}*", f"{DOCTOR_PREFIX}*", f"{CHECK_PREFIX}*")


class _Temp(msgspec.Struct, kw_only=True):
    path: str
    #: Its path in the home (absolute when outside it), for people.
    name: str
    touched: float
    size: int | None
    owner: int


def plan_temps(
    home: Home, run_ids: list[str], batch_ids: list[str], stores: list[str], stale_before: float
) -> GcPlan:
    """Temporary files untouched since ``stale_before``, in the folders that stay (the
    runs, batches and borrowed stores named); a check's folder as soon as the scad
    process that held it is gone, never while it holds it."""
    items, kept = [], []
    for temp in _read_temps(home, run_ids, batch_ids, stores):
        held = holder(Path(temp.path)) if _is_check_folder(Path(temp.path)) else "unknown"
        if held == "held":
            why = "a check's folder; its check is going (the scad process running it is alive)"
            kept.append(GcKept(kind="temp", name=temp.name, reason=why))
        elif held == "left":
            items.append(
                GcItem(
                    kind="temp",
                    name=temp.name,
                    reason="a check's folder, left by a scad that was stopped mid-check",
                    target=temp.path,
                    size_bytes=temp.size,
                )
            )
        elif temp.touched < stale_before:
            items.append(
                GcItem(
                    kind="temp",
                    name=temp.name,
                    reason="a temporary file left by a process that did not finish",
                    target=temp.path,
                    size_bytes=temp.size,
                )
            )
        else:
            kept.append(GcKept(kind="temp", name=temp.name, reason="written less than an hour ago"))
    return GcPlan(items=items, kept=kept)


def _read_temps(
    home: Home, run_ids: list[str], batch_ids: list[str], stores: list[str]
) -> list[_Temp]:
    """scad's temporary names in its own folders: a run's top level and its stores,
    a batch's folder, the borrowed stores' folder and the stores' objects, and its
    folders in the system's temporary folder."""
    found: list[_Temp] = []
    for run_id in run_ids:
        paths = RunPaths(home, run_id)
        found += _temps_in(home, paths.root, _RUN_TEMPS)
        if paths.stores.is_dir() and not paths.stores.is_symlink():
            for folder, dirs, _ in os.walk(paths.stores):  # links are not followed
                found += _temps_in(home, Path(folder), _STORE_TEMPS)
                dirs[:] = [d for d in dirs if not _matches(d, _STORE_TEMPS)]
    for batch_id in batch_ids:
        found += _temps_in(home, BatchPaths(home, batch_id).root, _BATCH_TEMPS)
    found += _temps_in(home, home.borrowed, _BORROWED_TEMPS)
    for store in stores:
        for folder, _, _ in os.walk(home.borrowed / store / "objects"):  # links are not followed
            found += _temps_in(home, Path(folder), _BORROWED_STORE_TEMPS)
    # Only this user's: another's are theirs to collect.
    system = _temps_in(home, Path(tempfile.gettempdir()), _SYSTEM_TEMPS)
    found += [temp for temp in system if temp.owner == os.getuid()]
    return found


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _temps_in(home: Home, folder: Path, patterns: tuple[str, ...]) -> list[_Temp]:
    """The files and folders in ``folder`` whose names match ``patterns``."""
    found = []
    for entry in entries(folder):
        if not _matches(entry.name, patterns):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            continue
        path = Path(entry.path)
        name = str(path.relative_to(home.root)) if path.is_relative_to(home.root) else str(path)
        found.append(
            _Temp(
                path=str(path),
                name=name,
                touched=tree_touched(path),
                size=tree_size(path),
                owner=info.st_uid,
            )
        )
    return found


def temp_place(home: Home, path: Path) -> bool:
    """Whether ``path`` is where scad keeps temporary files: a plan built elsewhere
    cannot reach out."""
    if ".." in path.parts:
        return False
    if path.parent == Path(tempfile.gettempdir()):
        return _matches(path.name, _SYSTEM_TEMPS)
    return path.is_relative_to(home.root)


def _is_check_folder(path: Path) -> bool:
    return check_folder_place(path) and path.is_dir() and not path.is_symlink()


def remove_temp(path: Path, stale_before: float) -> str | None:
    """Remove a temporary file or folder; returns why it was skipped, or None once
    it is gone. A check's folder goes once no scad process holds it (its files may
    be its check's, write bits taken away)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "already gone"
    folder = stat.S_ISDIR(info.st_mode)
    if folder and _is_check_folder(path):
        match holder(path):
            case "held":
                return "its check is going"
            case "left":
                remove_check_folder(path)
                return None
    if (tree_touched(path) if folder else info.st_mtime) >= stale_before:
        return "written again since"
    if folder and _is_check_folder(path):
        remove_check_folder(path)
    elif folder:
        shutil.rmtree(path)
    else:
        path.unlink()
    return None
