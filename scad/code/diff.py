"""What a run changed: each clone's diff against its base, read in scad's store.

The clone is read as ``code fetch`` reads it (:mod:`scad.code.snapshot`); git runs
in the store only. What is diffed is the run's branch (HEAD when the agent left
no such branch) against its *base*: where it left the host repo's default branch
(their merge base), so commits the host made since are not counted as the run's.
Everything git prints here is bounded: the commits listed and counted, the files
listed, and the diff's bytes (``diff_cut`` says when it was cut).
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from ..errors import GitError, UnreadableClone
from ..home import Home
from ..runs.records import RunPaths, RunRecord
from ..text import printable
from . import git, hostrepo
from .borrowed import run_lender
from .clones import Commit
from .work import has_work, snapshot_work

__all__ = [
    "EMPTY_TREE",
    "MAX_COMMITS",
    "MAX_COUNTED",
    "MAX_DIFF_BYTES",
    "MAX_FILES",
    "FileChange",
    "RepoDiff",
    "diff_run",
    "diff_work",
]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#: Commits listed, and counted (``MAX_COUNTED + 1`` means "more than MAX_COUNTED").
MAX_COMMITS = 50
MAX_COUNTED = 100_000
#: Files listed (all are counted), and the bytes of their listing git may print.
MAX_FILES = 1000
LISTING_BYTES = 1 << 20
#: Bytes of one clone's diff kept.
MAX_DIFF_BYTES = 1 << 20
SUBJECT_WIDTH = 120
#: How git says what a diff holds, in the store's C locale.
_SHORTSTAT = re.compile(
    r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?"
)
#: No program of anyone's formats what is shown: no external diff, no text conversion.
_DIFF = ("--no-color", "--no-ext-diff", "--no-textconv", "--find-renames")


class FileChange(msgspec.Struct, frozen=True, kw_only=True):
    """One file the run changed; names shown escaped (the agent chose them)."""

    path: str
    #: Where it was before, when it was renamed.
    old_path: str | None = None
    #: Lines added and removed; None for a binary file.
    insertions: int | None
    deletions: int | None


class RepoDiff(msgspec.Struct, kw_only=True):
    """One clone's work against its base."""

    key: str
    #: The commit the run's work is on top of, and the work's last commit (None
    #: when the clone could not be read, see ``problem``).
    base: str | None = None
    tip: str | None = None
    #: Commits from the base to the tip (``MAX_COUNTED + 1``: more than MAX_COUNTED).
    ahead: int = 0
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    #: With the detail only: the newest commits (at most ``MAX_COMMITS``), the files
    #: (at most ``MAX_FILES``) and the diff as git prints it (at most ``MAX_DIFF_BYTES``).
    commits: list[Commit] = []
    changes: list[FileChange] = []
    diff: str | None = None
    #: The diff was longer than ``MAX_DIFF_BYTES``: it ends at its last whole line before.
    diff_cut: bool = False
    problem: str | None = None


async def diff_run(home: Home, record: RunRecord, *, detail: bool) -> list[RepoDiff]:
    """Each clone's work against its base, in the record's order of repos; with
    ``detail`` also its commits, files and diff. A clone that is gone or cannot be
    read safely is reported in its ``problem``; the others are still read."""
    paths = RunPaths(home, record.run_id)
    diffs = []
    for key, host_repo in record.repos.items():
        if record.cleaned:
            diffs.append(RepoDiff(key=key, problem="the run was cleaned; its clone is gone"))
        elif not has_work(paths, key):
            diffs.append(RepoDiff(key=key, problem="the run has no clone of it"))
        else:
            lender = run_lender(home, record, key)
            found = await diff_work(
                paths, key, Path(host_repo), record.branch, lender=lender, detail=detail
            )
            diffs.append(found)
    return diffs


async def diff_work(
    paths: RunPaths, key: str, host_repo: Path, branch: str, *, lender: Path, detail: bool
) -> RepoDiff:
    """The work on ``branch`` of the run's repo ``key`` (see the module's docstring);
    ``lender``: the store its clone borrows from."""
    if not await hostrepo.is_repository(host_repo):
        return RepoDiff(key=key, problem=f"{host_repo} is not a git repository any more")
    try:
        snapshot = await snapshot_work(paths, key, host_repo, branch, lender=lender)
    except UnreadableClone as exc:
        return RepoDiff(key=key, problem=f"cannot be read safely ({exc.problem})")
    store = Path(snapshot.store)
    tip = snapshot.branches.get(branch) or snapshot.detached
    if tip is None and snapshot.head_branch is not None:
        tip = snapshot.branches.get(snapshot.head_branch)
    if tip is None:
        return RepoDiff(key=key, problem=f"the clone has no branch {branch} and no HEAD commit")
    try:
        base = await _base(store, host_repo, tip)
        found = RepoDiff(key=key, base=base, tip=tip, ahead=await _ahead(store, base, tip))
        await _stat(store, base, tip, found)
        if detail:
            found.commits = await _commits(store, base, tip)
            found.changes = await _changes(store, base, tip)
            shown = await git.store_git_bounded(
                store, "diff", *_DIFF, base, tip, limit=MAX_DIFF_BYTES
            )
            found.diff, found.diff_cut = shown.text, shown.cut
    except GitError as exc:
        return RepoDiff(key=key, tip=tip, problem=str(exc))
    return found


async def _base(store: Path, host_repo: Path, tip: str) -> str:
    """Where ``tip`` left the host's default branch; the empty tree when they share
    nothing (or the host has no default branch)."""
    default = await hostrepo.default_tip(host_repo)
    if default is None:
        return EMPTY_TREE
    try:
        return (await git.store_git(store, "merge-base", default, tip)).strip() or EMPTY_TREE
    except GitError:  # unrelated histories: git says so by failing
        return EMPTY_TREE


def _range(base: str, tip: str) -> bytes:
    return git.revisions([tip], [] if base == EMPTY_TREE else [base])


async def _ahead(store: Path, base: str, tip: str) -> int:
    counted = ("rev-list", "--count", "--stdin", f"--max-count={MAX_COUNTED + 1}")
    return int((await git.store_git(store, *counted, input=_range(base, tip))).strip() or 0)


async def _stat(store: Path, base: str, tip: str, into: RepoDiff) -> None:
    out = await git.store_git(store, "diff", "--shortstat", *_DIFF, base, tip)
    if match := _SHORTSTAT.search(out):
        files, insertions, deletions = (int(n or 0) for n in match.groups())
        into.files_changed, into.insertions, into.deletions = files, insertions, deletions


async def _commits(store: Path, base: str, tip: str) -> list[Commit]:
    listed = await git.store_git(
        store, "log", "--stdin", f"--max-count={MAX_COMMITS}",
        f"--format=%H %<({SUBJECT_WIDTH},trunc)%s", input=_range(base, tip),
    )  # fmt: skip
    # Lines end at \n only: a subject may hold U+2028, which splitlines() would cut at.
    return [
        Commit(sha, printable(subject.rstrip()))
        for sha, _, subject in (line.partition(" ") for line in listed.split("\n") if line)
    ]


async def _changes(store: Path, base: str, tip: str) -> list[FileChange]:
    listing = await git.store_git_bounded(
        store, "diff", "--numstat", "-z", *_DIFF, base, tip, limit=LISTING_BYTES, line_end=b"\0"
    )
    return parse_numstat(listing.text)[:MAX_FILES]


def parse_numstat(text: str) -> list[FileChange]:
    """``git diff --numstat -z`` as files: ``added\\tremoved\\tpath\\0``, or for a
    rename ``added\\tremoved\\t\\0old\\0new\\0``; ``-`` counts for a binary file. Pure."""
    fields = text.split("\0")
    changes = []
    while fields:
        counts = fields.pop(0).split("\t", 2)
        if len(counts) != 3:
            break  # the end, or a listing cut short
        added, removed, path = counts
        old_path = None
        if not path:
            if len(fields) < 2 or not fields[1]:
                break  # a listing cut between a rename's two names
            old_path, path = printable(fields.pop(0)), fields.pop(0)
        changes.append(
            FileChange(
                path=printable(path),
                old_path=old_path,
                insertions=int(added) if added.isdigit() else None,
                deletions=int(removed) if removed.isdigit() else None,
            )
        )
    return changes
