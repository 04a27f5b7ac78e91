"""A run's clones: ``git clone --local`` of each repo, on the run's branch.

Every git command here goes through :mod:`scad.code.git`, so nothing an agent writes
into a clone's git config or hooks runs on the host.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import msgspec

from ..errors import GitError, UnreadableClone
from ..runs.records import RunPaths
from ..text import printable
from . import git, hostrepo
from ._objects import write_file
from .borrowed import lend_objects
from .snapshot import CloneSnapshot, snapshot_clone
from .work import snapshot_work

__all__ = [
    "MAX_COUNTED",
    "CloneWork",
    "Commit",
    "create_clone",
    "unfetched_run_work",
    "unfetched_work",
]


class Commit(msgspec.Struct, frozen=True):
    sha: str
    subject: str


async def create_clone(
    host_repo: Path,
    dest: Path,
    branch: str,
    *,
    owner: tuple[int, int] | None,
    borrowed: Path | None = None,
) -> str:
    """Clone ``host_repo`` to ``dest`` on a new ``branch``; origin is the host repo.
    Returns the commit the branch starts at (the run's base).

    With ``borrowed`` (the host repo's borrowed store, :mod:`scad.code.borrowed`) the
    clone holds no object of its own: its alternates name that store's objects, which
    the run's container sees read-only at the same path (so git in the clone finds
    them on the host too); scad itself never reads a clone through them. Without, it copies the host's objects.
    Either way it never shares files with the host repo (``--no-hardlinks``): a
    hardlinked object would let the agent rewrite the host's copy in place.
    With ``owner`` (a root host lending files to the agent's uid) the new clone
    is handed over before any agent sees it.
    """
    if borrowed is None:
        identity = _identity_options(await hostrepo.host_identity(host_repo))
        await git.git(
            dest.parent, "clone", "--local", "--quiet", "--no-hardlinks", *identity,
            str(host_repo), dest.name,
        )  # fmt: skip
        await git.git(dest, "checkout", "--quiet", "-b", branch)
        # Read while the clone is still scad's alone: no agent has seen it yet.
        base = (await git.git(dest, "rev-parse", "--verify", "HEAD^{commit}")).strip()
    else:
        base = await _clone_borrowing(host_repo, dest, branch, borrowed)
        alternates = f"{borrowed / 'objects'}\n".encode()
        await anyio.to_thread.run_sync(
            write_file, dest / ".git/objects/info/alternates", alternates
        )
    if owner is not None:
        # A walk over the whole clone: off the event loop.
        await anyio.to_thread.run_sync(chown_tree, dest, owner)
    return base


def _identity_options(identity: tuple[str, str]) -> tuple[str, ...]:
    """``git clone``'s options that make the clone commit as ``identity`` (name, email)."""
    name, email = identity
    return ("--config", f"user.name={name}", "--config", f"user.email={email}")


async def _clone_borrowing(host_repo: Path, dest: Path, branch: str, borrowed: Path) -> str:
    """A clone of the borrowed store (brought up to date first) that shares its objects,
    checked out where the host repo's HEAD was when the store fetched it, with the
    host's current branch made locally as ``git clone`` of the host would; origin is
    then the host repo. Returns the commit it starts at, as the store (scad's own)
    names it."""
    host = await lend_objects(borrowed, host_repo)
    detached = host.head == "(detached)"
    await git.git(
        dest.parent, "clone", "--shared", "--quiet", "--no-checkout",
        *(() if detached else ("--branch", host.head)),
        *_identity_options(host.identity), str(borrowed), dest.name,
    )  # fmt: skip
    if not detached:
        # The clone made the branch where the store has it now: a fetch for a later
        # run may have moved it since this run's fetch found the host.
        await git.git(dest, "update-ref", f"refs/heads/{host.head}", host.start)
    await git.git(dest, "remote", "set-url", "origin", str(host_repo))
    await git.git(dest, "checkout", "--quiet", "-b", branch, host.start)
    return host.start


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    os.chown(root, *owner, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), *owner, follow_symlinks=False)


class CloneWork(msgspec.Struct, frozen=True, kw_only=True):
    """What a clone holds that no ref of the host repo reaches."""

    #: Branches (``HEAD`` for a detached HEAD) whose tips the host lacks.
    branches: list[str]
    #: How many commits in all (``MAX_COUNTED + 1`` means "more than MAX_COUNTED").
    total: int
    #: The newest of them, at most ``MAX_LISTED``; subjects cut to ``SUBJECT_WIDTH``.
    commits: list[Commit]


#: Bounds on what one look at a clone lists and counts.
MAX_LISTED = 50
MAX_COUNTED = 100_000
SUBJECT_WIDTH = 120


async def unfetched_work(clone: Path, store: Path, host_repo: Path) -> CloneWork:
    """The clone's work that the host repo lacks.

    What counts is every commit the clone keeps: reachable from any of its refs
    (branches, tags, the stash, notes, any namespace), its HEAD, git's pseudo refs
    (``ORIG_HEAD``...) or any entry of any reflog. A commit reachable from none of
    these is garbage to git itself (``git gc`` prunes it) and does not count. A kept
    commit counts as fetched once a ref of the host repo reaches it, or the host
    repo holds it anyway: a clone remembers the host's history as it was (its
    reflogs, ``origin/*``), and a commit the user rewrote since is still the host's.

    The clone is read through :mod:`scad.code.snapshot`: git never runs in it. Raises
    UnreadableClone when it cannot be read without trusting it.
    """
    return await _beyond_host(await snapshot_clone(clone, store, host_repo), clone.name, host_repo)


async def unfetched_run_work(
    paths: RunPaths, key: str, host_repo: Path, branch: str, *, lender: Path
) -> CloneWork:
    """:func:`unfetched_work` of the run's work in repo ``key``, wherever it is (its
    clone, or the store a remote run pushed into: :mod:`scad.code.work`); ``lender``:
    the store its clone borrows from (:func:`~scad.code.borrowed.run_lender`)."""
    snapshot = await snapshot_work(paths, key, host_repo, branch, lender=lender)
    return await _beyond_host(snapshot, key, host_repo)


async def _beyond_host(snapshot: CloneSnapshot, name: str, host_repo: Path) -> CloneWork:
    store = Path(snapshot.store)
    if snapshot.kept_problem is not None:
        raise UnreadableClone(name, snapshot.kept_problem)
    tips = dict(snapshot.branches)
    if snapshot.detached:
        tips["HEAD"] = snapshot.detached
    host_tips: list[str] = []
    host_objects = None
    if await hostrepo.is_repository(host_repo):
        host_tips = (await git.git(host_repo, "for-each-ref", "--format=%(objectname)")).split()
        host_objects = await hostrepo.objects_folder(host_repo)
    try:
        kept = await git.commits_named(store, snapshot.kept, all_there=True)
        if not tips and not kept:
            return CloneWork(branches=[], total=0, commits=[])
        # Host tips are in the store through its alternates; the clone's in its copies.
        revisions = git.revisions([*tips.values(), *kept], host_tips)
        counted = ("rev-list", "--stdin", "--topo-order", f"--max-count={MAX_COUNTED + 1}")
        seen = (await git.store_git(store, *counted, input=revisions)).split()
        if host_objects is not None:
            lacking = await git.missing_objects(store, host_objects, seen)
            ahead = [sha for sha in seen if sha in lacking]
        else:
            ahead = seen
        listed = await git.store_git(
            store, "log", "--stdin", "--no-walk=unsorted",
            f"--format=%H %<({SUBJECT_WIDTH},trunc)%s", input="".join(f"{sha}\n" for sha in ahead[:MAX_LISTED]).encode(),
        ) if ahead else ""  # fmt: skip
    except GitError as exc:
        raise UnreadableClone(name, str(exc)) from None
    unfetched = set(ahead)
    cut = len(seen) > MAX_COUNTED  # then a tip may be ahead without being among those seen
    branches = [
        name
        for name, tip in sorted(tips.items())
        if tip in unfetched or (cut and tip not in host_tips)
    ]
    # Lines end at \n only: a subject may hold U+2028 or \x1c, which splitlines()
    # would take for line ends, making up commits of its own.
    commits = [
        Commit(sha, printable(subject.rstrip()))
        for sha, _, subject in (line.partition(" ") for line in listed.split("\n") if line)
    ]
    total = MAX_COUNTED + 1 if cut and ahead else len(ahead)
    return CloneWork(branches=branches, total=total, commits=commits)
