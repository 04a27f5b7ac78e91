"""An agent's clone seen through a repository scad owns.

git never runs in a clone: its config (``include.path`` too), attributes and
hooks can make git run anything, and ``safe.directory=*`` would let them. So a
clone is read as data and mirrored into a bare *store* beside it in the run
directory (never mounted into the container), whose config scad writes:

- refs: ``HEAD``, loose refs under ``refs/heads`` and ``packed-refs`` are read
  as text; names are checked as git checks them and ids must be hex object ids;
- what else keeps commits in the clone is read too, for its ids only: every
  other ref (tags, the stash, notes, any namespace), git's pseudo refs
  (``ORIG_HEAD``...) and every entry of every reflog;
- objects: loose object files are copied; packs are streamed through
  ``git index-pack``, which hashes every object and writes scad's own index;
  ``objects/info/alternates`` and the clone's ``.idx`` files are never read;
- the store borrows the host repo's objects and those of the borrowed store the
  clone was made from (its own alternates, written by scad), so what a clone
  shares with its host is not copied at all.

Every open goes through :mod:`scad.agentfs`: no link is followed, so a ``.git``
that became a ``gitdir:`` file or a link, or objects that point elsewhere,
name nothing outside the run. The copy is incremental: a file already in the
store is not copied again (object and pack names are content hashes).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec

from .. import agentfs
from ..errors import AgentFileError, GitError, UnreadableClone
from . import git, hostrepo
from ._objects import copy_objects, write_file
from ._refs import read_branches, read_head, read_kept, read_packed, valid_branch

__all__ = ["CloneSnapshot", "snapshot_clone", "valid_branch"]

#: The store's whole configuration. ``attr.tree`` (the empty tree) keeps a git that
#: would read a bare repository's attributes from its HEAD (the agent's branch) from
#: taking any: a ``-diff`` there would hide a change from a review.
STORE_CONFIG = b"""\
[core]
\trepositoryformatversion = 0
\tbare = true
[gc]
\tauto = 0
[uploadpack]
\tallowAnySHA1InWant = true
[attr]
\ttree = 4b825dc642cb6eb9a060e54bf8d69288fbee4904
"""


class CloneSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a clone's refs said when it was read, and the store that holds its objects."""

    store: str
    #: Branch name (without ``refs/heads/``) -> commit id.
    branches: dict[str, str]
    #: The checked-out branch; None when HEAD is detached (see ``detached``).
    head_branch: str | None
    #: HEAD's commit when detached.
    detached: str | None
    #: Ids that everything else keeping commits in the clone names: its other refs,
    #: pseudo refs and reflog entries. Objects of any kind, or none the clone has.
    kept: list[str] = []
    #: Why ``kept`` could not be read in full (then it is empty).
    kept_problem: str | None = None
    #: Branches whose names git would not accept (``HEAD``, controls, not UTF-8),
    #: shown escaped, and their commit ids: never fetched, but counted as work.
    refused: dict[str, str] = {}


async def snapshot_clone(
    clone: Path,
    store: Path,
    host_repo: Path,
    *,
    host_objects: Path | None = None,
    borrowed: Path | None = None,
) -> CloneSnapshot:
    """Mirror ``clone``'s refs and objects into ``store`` (made when missing).
    ``host_objects``: the host repo's object folder, when the caller knows it;
    ``borrowed``: the borrowed store the clone was made from (:mod:`.borrowed`), whose
    objects stay when the host repo drops them. Both are the store's alternates, as
    scad names them: the clone's own alternates are never read.

    Raises UnreadableClone when the clone cannot be read without trusting it.
    """
    if host_objects is None:
        host_objects = await _host_objects(host_repo)
    try:
        lenders = [host_objects, borrowed / "objects" if borrowed else None]
        return await anyio.to_thread.run_sync(_snapshot, clone, store, lenders)
    except (AgentFileError, GitError) as exc:
        raise UnreadableClone(clone.name, str(exc)) from None
    except OSError as exc:  # the store's side: a full disk, say
        raise UnreadableClone(clone.name, f"its store cannot be written ({exc})") from None


async def _host_objects(host_repo: Path) -> Path | None:
    if not await hostrepo.is_repository(host_repo):
        return None
    out = await git.git(host_repo, "rev-parse", "--path-format=absolute", "--git-path", "objects")
    return Path(out.strip())


def _snapshot(clone: Path, store: Path, lenders: list[Path | None]) -> CloneSnapshot:
    _init_store(store, lenders)
    host_objects = lenders[0]
    with (
        agentfs.open_folder(clone) as clone_fd,
        agentfs.open_folder(".git", dir_fd=clone_fd) as git_fd,
    ):
        head_branch, detached = read_head(git_fd)
        packed = read_packed(git_fd)
        refused: dict[str, str] = {}
        branches = read_branches(git_fd, packed, refused)
        try:
            kept, kept_problem = read_kept(git_fd, packed), None
        except AgentFileError as exc:  # the branches can still be fetched
            kept, kept_problem = set(), str(exc)
        tips = {*branches.values(), *kept, *refused.values(), *filter(None, [detached])}
        copy_objects(git_fd, store, host_objects, tips)
    snapshot = CloneSnapshot(
        store=str(store),
        branches=branches,
        head_branch=head_branch,
        detached=detached,
        kept=sorted(kept | set(refused.values())),
        kept_problem=kept_problem,
        refused=refused,
    )
    _write_refs(store, snapshot)
    return snapshot


def _init_store(store: Path, lenders: list[Path | None]) -> None:
    for folder in ("objects/pack", "objects/info", "refs/heads"):
        (store / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    _keep(store / "config", STORE_CONFIG)
    if not (store / "HEAD").exists():
        write_file(store / "HEAD", b"ref: refs/heads/main\n")  # git needs one to see a repository
    # A lender once named stays named (a reader that does not know of the borrowed
    # store keeps it): the file is scad's own, written here only.
    alternates = store / "objects/info/alternates"
    try:
        named = alternates.read_bytes().decode().splitlines()
    except FileNotFoundError:
        named = []
    folders = dict.fromkeys([*(str(f) for f in lenders if f), *named])
    there = [f"{folder}\n".encode() for folder in folders if Path(folder).is_dir()]
    if there:
        _keep(alternates, b"".join(there))
    else:
        alternates.unlink(missing_ok=True)


def _keep(path: Path, data: bytes) -> None:
    """Write a file of the store unless it holds ``data`` already: a store read again
    with nothing new in its clone is left as it is (most of a snapshot's writing)."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    write_file(path, data)


def _write_refs(store: Path, snapshot: CloneSnapshot) -> None:
    """The store's refs are the clone's, as read: packed-refs and HEAD, nothing loose."""
    lines = [b"# pack-refs with: sorted\n"]
    lines += [
        f"{oid} refs/heads/{name}\n".encode() for name, oid in sorted(snapshot.branches.items())
    ]
    _keep(store / "packed-refs", b"".join(lines))
    if snapshot.head_branch is not None:
        _keep(store / "HEAD", f"ref: refs/heads/{snapshot.head_branch}\n".encode())
    else:
        _keep(store / "HEAD", f"{snapshot.detached}\n".encode())
