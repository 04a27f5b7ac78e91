"""A remote run's pushed store: the bare repository its branches come home in.

A run on another machine has no clone on the host: it pushes its branches through the
gateway (git's smart HTTP, ``receive-pack``) into a store scad made for it, one per
repo. scad writes the store's whole configuration: no hooks, every object checked as
it arrives (``fsckObjects``), no ref deleted, a bound on what one push may send, and
the host repo's objects borrowed (its alternates), so a push sends only the run's new
objects. git validated everything in it on the way in, so it is read as a snapshot's
store is (:mod:`scad.code.snapshot`): with :func:`scad.code.git.store_git`, never
with a configuration or hook of the run's.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from ..errors import GitError, UnreadableClone
from . import git, hostrepo
from ._objects import write_file
from .snapshot import CloneSnapshot

__all__ = [
    "MAX_PUSHED_BRANCHES",
    "MAX_PUSHED_STORE_BYTES",
    "MAX_PUSH_BYTES",
    "create_pushed_store",
    "read_pushed",
    "stored_bytes",
]

#: The most one push may send (its pack, as git's ``receive.maxInputSize`` counts it).
MAX_PUSH_BYTES = 512 << 20
#: The most a pushed store may hold on disk, all its pushes together.
MAX_PUSHED_STORE_BYTES = 2 << 30
#: The most branches a pushed store may hold.
MAX_PUSHED_BRANCHES = 100


def pushed_config(max_bytes: int) -> bytes:
    """The pushed store's whole configuration (``attr.tree``: see the snapshot's)."""
    return f"""\
[core]
\trepositoryformatversion = 0
\tbare = true
\thooksPath = /dev/null
\tfsmonitor = false
\tlogAllRefUpdates = false
[gc]
\tauto = 0
[receive]
\tfsckObjects = true
\tdenyDeletes = true
\tshallowUpdate = false
\tadvertisePushOptions = false
\tmaxInputSize = {max_bytes}
[transfer]
\tfsckObjects = true
[uploadpack]
\tallowAnySHA1InWant = true
[attr]
\ttree = 4b825dc642cb6eb9a060e54bf8d69288fbee4904
""".encode()


async def create_pushed_store(
    store: Path, host_repo: Path, *, max_bytes: int = MAX_PUSH_BYTES
) -> None:
    """Make (or remake the configuration of) the pushed store ``store`` for
    ``host_repo``; what was pushed into it already stays."""
    objects = await hostrepo.objects_folder(host_repo)
    await anyio.to_thread.run_sync(_init, store, objects, max_bytes)


def _init(store: Path, host_objects: Path, max_bytes: int) -> None:
    for folder in ("objects/pack", "objects/info", "refs/heads", "refs/tags"):
        (store / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    store.chmod(0o700)
    write_file(store / "config", pushed_config(max_bytes))
    if not (store / "HEAD").exists():
        write_file(store / "HEAD", b"ref: refs/heads/main\n")
    write_file(store / "objects/info/alternates", str(host_objects).encode() + b"\n")


def stored_bytes(store: Path, *, limit: int) -> int:
    """What the objects of ``store`` take on disk, counted up to just past ``limit``
    (a store of many small loose objects is not walked to its end)."""
    total = 0
    folders = [store / "objects"]
    while folders and total <= limit:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                # Each file at least a block: a million empty ones are not free.
                total += max(entry.stat(follow_symlinks=False).st_size, 4096)
    return total


async def read_pushed(store: Path, branch: str) -> CloneSnapshot:
    """The branches in a pushed store, as a snapshot of a clone gives them; HEAD is
    the run's ``branch``. Raises UnreadableClone when the store cannot be read."""
    try:
        out = await git.store_git(
            store, "for-each-ref", f"--count={MAX_PUSHED_BRANCHES + 1}",
            "--format=%(objectname) %(refname)", "refs/heads/",
        )  # fmt: skip
    except GitError as exc:
        raise UnreadableClone(store.name, str(exc)) from None
    branches = {
        ref.removeprefix("refs/heads/"): oid
        for oid, _, ref in (line.partition(" ") for line in out.splitlines())
    }
    return CloneSnapshot(store=str(store), branches=branches, head_branch=branch, detached=None)
