"""The host repos' objects, lent to local runs: a clone holds only what its agent writes.

scad keeps, per home and host repo, a bare copy of the repo (the *borrowed store*,
:func:`borrowed_store`): made once by copying the host's object files, then brought up
to date by a fetch before each clone (runs made at once share one), so it costs the
host's new commits only. A run's container sees its ``objects`` folder read-only at
the same path as on the host, and the clone's ``objects/info/alternates`` names that
path (git in the clone finds it on either side): the clone's own objects are what
the agent writes. A read-only mount cannot be written through, and a hard link
across mounts cannot be made, so nothing the agent does reaches the store.

While runs borrow from it the store is only ever added to: scad never repacks or
prunes it (``gc.auto = 0``), so whatever the host repo rewrites or collects while runs
live, an object a clone borrowed stays. Once no run's clones borrow from it (as their
records say), ``scad gc`` removes it whole (:func:`remove_store`), and the next run
copies the host again: what the user rewrote out of the host's history is gone with
it. On the host scad reads it by its own path, never by what a clone's alternates
say (see :mod:`scad.code.snapshot`).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import msgspec

from ..errors import GitError
from ..home import Home
from ..locks import hold_flock
from ..runs.records import RunRecord
from . import git, hostrepo
from ._objects import write_file

__all__ = [
    "BORROWED_CONFIG",
    "HostAtFetch",
    "borrowed_store",
    "is_store_name",
    "lend_objects",
    "remove_store",
    "run_lender",
]

#: The borrowed store's whole configuration: never collected, and what a fetch adds
#: stays readable to an agent of another uid (its mount is read-only anyway).
BORROWED_CONFIG = b"""\
[core]
\trepositoryformatversion = 0
\tbare = true
\tsharedRepository = 0644
[gc]
\tauto = 0
"""

#: What a fetch brings: the host's branches and tags (as a clone of it has them) and
#: its HEAD, which may be detached.
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+HEAD:refs/scad/head")

#: How long one run waits for another's update of the same store.
LOCK_WAIT = 600.0
#: How often a run waiting for the store's lock tries it: runs made at once queue on
#: it, each wait a moment, not a whole tenth of a second.
_LOCK_POLL = 0.01


class HostAtFetch(msgspec.Struct, frozen=True):
    """The host repo as a fetch into its store found it: what a clone made from the
    store starts from, read once for every run that fetch serves."""

    #: The branch checked out in the host repo, or ``(detached)``.
    head: str
    #: The commit the host's HEAD was at, as the store names it.
    start: str
    #: The name and email the host repo's user commits as.
    identity: tuple[str, str]


#: The last fetch into each store that ended well, in this process: when
#: (``time.monotonic``) it began, and the host as it found it.
_fetched: dict[Path, tuple[float, HostAtFetch]] = {}


def borrowed_store(home: Home, host_repo: Path) -> Path:
    """The borrowed store of ``host_repo`` in ``home``: one per repo, whatever the
    config or path that names it (its real path decides)."""
    real = os.path.realpath(host_repo)
    digest = hashlib.sha256(real.encode(errors="surrogateescape")).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(real).name)[:40]
    return home.borrowed / f"{name}-{digest}.git"


def is_store_name(name: str) -> bool:
    """Whether ``name`` is one :func:`borrowed_store` gives: a plain name in ``borrowed/``."""
    return _STORE_NAME.fullmatch(name) is not None


_STORE_NAME = re.compile(r"[A-Za-z0-9._-]{0,40}-[0-9a-f]{16}\.git")


def run_lender(home: Home, record: RunRecord, key: str) -> Path:
    """The store the run's clone of repo ``key`` borrows from: the one its record named
    when the clone was made, else (a record from before) the one the repo's path leads
    to now. Every reader of the clone, and its container's mounts, name this one."""
    recorded = record.borrowed.get(key)
    if recorded is not None and is_store_name(recorded):
        return home.borrowed / recorded
    return borrowed_store(home, Path(record.repos[key]))


async def lend_objects(store: Path, host_repo: Path) -> HostAtFetch:
    """Make ``store`` hold every object the host repo's branches, tags and HEAD reach
    (made on first use); returns the host as that fetch found it. Raises GitError.

    Runs made at once (a batch's) share a fetch: one that began after this call did
    brought all the host had when it was asked, so a run waiting behind it takes
    the store, and the host's HEAD and identity, as that fetch found them."""
    asked = time.monotonic()
    await anyio.to_thread.run_sync(lambda: store.parent.mkdir(parents=True, exist_ok=True))
    async with _locked(_lock_of(store)):
        exists = (store / "objects").is_dir()
        last = _fetched.get(store)
        if exists and last is not None and last[0] >= asked:
            return last[1]
        began = time.monotonic()
        # Read before the fetch: the HEAD it names is then among what the fetch brings.
        head = await hostrepo.current_branch(host_repo)
        identity = await hostrepo.host_identity(host_repo)
        if not exists:
            await _create(store, host_repo)
        await _fetch(store, host_repo)
        # The host's HEAD as the store got it: its branch's tip, or the detached commit.
        ref = "refs/scad/head" if head == "(detached)" else f"refs/heads/{head}"
        start = (await git.store_git(store, "rev-parse", "--verify", f"{ref}^{{commit}}")).strip()
        found = HostAtFetch(head=head, start=start, identity=identity)
        _fetched[store] = (began, found)
        return found


async def remove_store(store: Path, in_use: Callable[[], str | None]) -> str | None:
    """Remove ``store`` unless ``in_use`` (blocking) says why it stays; returns that,
    or None once it is gone. ``in_use`` is asked holding the lock a run takes to borrow
    from the store, so no run starts borrowing between the answer and the removal. The
    store is renamed away first: a removal cut short leaves a temporary folder (which
    gc collects), never a half store a run would borrow from; the next run makes it
    again."""
    if not is_store_name(store.name):
        return "not a borrowed store's name"
    async with _locked(_lock_of(store)):
        if why := await anyio.to_thread.run_sync(in_use):
            return why
        doomed = store.with_name(f".tmp-{secrets.token_hex(6)}")
        try:
            await anyio.to_thread.run_sync(os.rename, store, doomed)
        except FileNotFoundError:
            return "already gone"
    await anyio.to_thread.run_sync(shutil.rmtree, doomed)
    return None


def _lock_of(store: Path) -> Path:
    # Never removed, not even with its store: a process waiting on it holds its inode.
    return store.with_name(f"{store.name}.lock")


async def _create(store: Path, host_repo: Path) -> None:
    """Copy the host repo's object files (no upload-pack, no index-pack: a plain
    copy), under a temporary name so a half-made store is never used."""
    made = store.with_name(f".tmp-{secrets.token_hex(6)}")
    try:
        await git.git(
            store.parent, "clone", "--bare", "--local", "--no-hardlinks", "--quiet",
            "--template=", str(host_repo), made.name,
        )  # fmt: skip
        await anyio.to_thread.run_sync(_settle, made)
        await anyio.to_thread.run_sync(os.rename, made, store)
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, made, True)


def _settle(store: Path) -> None:
    """scad's configuration, no alternates of the host's, every file readable."""
    write_file(store / "config", BORROWED_CONFIG)
    (store / "objects/info/alternates").unlink(missing_ok=True)
    for folder, _dirs, files in os.walk(store):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


async def _fetch(store: Path, host_repo: Path) -> None:
    """Fetch what the host repo gained since; git runs as in a store (scad's config),
    and the upload-pack it starts in the host repo names that repo safe by its path."""
    upload = shlex.join(["git", "-c", f"safe.directory={os.path.realpath(host_repo)}"])
    try:
        await git.store_git(
            store, "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head",
            "--no-auto-gc", "--no-recurse-submodules", f"--upload-pack={upload} upload-pack",
            str(host_repo), *_REFSPECS,
        )  # fmt: skip
    except GitError as exc:
        raise GitError(f"the objects of {host_repo} cannot be lent to a run: {exc}") from None


@asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    """Hold the store's lock: runs starting at once update a store one after another,
    and gc removes none that a run is about to borrow from. Raises GitError when
    another holds it for :data:`LOCK_WAIT`."""
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(hold_flock(path, wait=LOCK_WAIT, poll=_LOCK_POLL))
        except TimeoutError:
            raise GitError(f"{path} stayed locked for {LOCK_WAIT:.0f} s; try again") from None
        yield
