"""Where a run's work in one repo is: a clone on the host, or a pushed store.

A run on this machine works in a clone under its folder, read through a snapshot
(:mod:`scad.code.snapshot`); a run elsewhere pushed its branches into its pushed store
(:mod:`scad.code.pushed`). Every reader of a run's work asks here, and then reads
the store the answer names the same way whichever it is.
"""

from __future__ import annotations

from pathlib import Path

from ..runs.records import RunPaths
from .pushed import read_pushed
from .snapshot import CloneSnapshot, snapshot_clone

__all__ = ["has_work", "snapshot_work"]


def has_work(paths: RunPaths, key: str) -> bool:
    """Whether the run has a clone of repo ``key``, or a pushed store for it."""
    return paths.pushed(key).is_dir() or paths.clone(key).is_dir()


async def snapshot_work(
    paths: RunPaths,
    key: str,
    host_repo: Path,
    branch: str,
    *,
    lender: Path,
    host_objects: Path | None = None,
) -> CloneSnapshot:
    """The run's branches of repo ``key`` and the store that holds them: its pushed
    store when it has one (``branch``, the run's, is its HEAD), else a snapshot of its
    clone, which borrows from ``lender`` (:func:`~scad.code.borrowed.run_lender`).
    Raises UnreadableClone when the work cannot be read without trusting it."""
    pushed = paths.pushed(key)
    if pushed.is_dir():
        return await read_pushed(pushed, branch)
    return await snapshot_clone(
        paths.clone(key), paths.store(key), host_repo, host_objects=host_objects,
        borrowed=lender,
    )  # fmt: skip
