"""Runs' commits merged into one branch of a host repo, in its object store only.

Each run is merged on top of the branch so far with ``git merge-tree --write-tree``
and, when it merges cleanly, recorded by ``git commit-tree`` as a merge commit that
names the run (so ``git log --first-parent`` reads one run a line). A run that
conflicts is left out, its conflicting files named, and the next run is merged.
No working tree, index or HEAD is read or written: nothing the user has checked
out moves.

Where the branch starts: where it is, when the host has it (a second merge adds to
the first; runs it holds already have nothing to merge); else where the runs
started, the commit of the host's branch they were cloned from, so the branch holds
the runs' work and nothing else. That is the base each run recorded when it was
cloned; for a run recorded without one, the merge base of the host's default branch
and its commit stands in (runs that started apart start at their common ancestor).
To build on another commit, create the branch there first.

The runs' commits come into the host repo from each run's store (where
:mod:`scad.code.snapshot` copied them), by commit id: git never runs in a clone.
The branch is then written by one compare-and-swap: a branch that moved (or came
to be) meanwhile is refused, not overwritten. A branch checked out in any worktree
(its name in any case), or that is a symbolic ref, is never written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec

from ..errors import BranchRefused, GitError
from ..text import printable
from . import git, hostrepo
from .snapshot import valid_branch

__all__ = [
    "MAX_FILES",
    "BranchMerge",
    "MergeSource",
    "RunMerge",
    "check_branch_name",
    "merge_branch",
    "write_branch",
]

#: Conflicting files named per run (all are counted), and the characters of each shown.
MAX_FILES = 20
NAME_WIDTH = 200
#: Runs merged into one branch at once.
MAX_RUNS = 1000
#: What one ``merge-tree`` may print (a tree and the conflicting files' names):
#: past it the names are no longer read, nor counted.
MERGE_TREE_BYTES = 256 << 10

_OID = re.compile(r"[0-9a-f]{40}")
_NO_COMMIT = "0" * 40

#: merged: a merge commit on the branch; conflicted: left out (``files`` say where);
#: current: the branch holds the run's commit already (or the run made none);
#: unrelated: it shares no history with the branch, left out.
Action = Literal["merged", "conflicted", "current", "unrelated"]


class MergeSource(msgspec.Struct, frozen=True, kw_only=True):
    """One run to merge: a label that names it (its run id), its commit, the
    store scad copied its objects into (None: the host repo has them), and the
    commit its clone started from (None: not recorded)."""

    label: str
    commit: str
    store: str | None = None
    base: str | None = None


class RunMerge(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    commit: str
    action: Action
    #: The merge commit that took it in (``merged``).
    merge: str | None = None
    #: Files that conflicted (``conflicted``): counted (all, unless ``conflicts_cut``:
    #: git listed more than :data:`MERGE_TREE_BYTES` of them), the first
    #: ``MAX_FILES`` named, escaped.
    conflicts: int = 0
    conflicts_cut: bool = False
    files: list[str] = []


class BranchMerge(msgspec.Struct, frozen=True, kw_only=True):
    host_repo: str
    branch: str
    #: The branch's commit before (None: it did not exist), and where the merge started.
    previous: str | None
    start: str
    #: The branch's commit after the merge (``start`` when nothing merged).
    tip: str
    runs: list[RunMerge]

    @property
    def changed(self) -> bool:
        """Whether any run merged: otherwise the branch is not written (nor made)."""
        return self.tip != self.start


def check_branch_name(name: str) -> None:
    """Raise BranchRefused unless ``name`` is a branch name git accepts, printable,
    and not one that reads as an option."""
    if name.startswith("-") or not valid_branch(name):
        raise BranchRefused(f"{printable(name)!r} is not a branch name git accepts")


async def merge_branch(host_repo: Path, branch: str, sources: Sequence[MergeSource]) -> BranchMerge:
    """Merge ``sources`` one by one into ``branch`` of ``host_repo``, in objects only:
    the branch itself is not written (see :func:`write_branch`). Raises BranchRefused
    when the branch is not one scad may write, GitError when git fails."""
    check_branch_name(branch)
    if len(sources) > MAX_RUNS:
        raise BranchRefused(f"{len(sources)} runs are more than the {MAX_RUNS} merged at once")
    for source in sources:
        for oid in (source.commit, source.base or source.commit):
            if not _OID.fullmatch(oid):
                raise GitError(f"{source.label}: {printable(oid)!r} is not a commit id")
    await _refuse_unwritable(host_repo, branch)
    previous = await _tip(host_repo, branch)
    lacking = await _bring(host_repo, sources)
    start = previous or await _runs_base(host_repo, sources, lacking)
    name, email = await hostrepo.host_identity(host_repo)
    identity = {"user.name": name, "user.email": email}
    start_tree = await git.git(host_repo, "rev-parse", f"{start}^{{tree}}")
    tip, runs = _Tip(commit=start, tree=start_tree.strip()), []
    for source in sources:
        run, tip = await _merge_one(host_repo, branch, tip, source, identity)
        runs.append(run)
    return BranchMerge(
        host_repo=str(host_repo), branch=branch, previous=previous, start=start, tip=tip.commit,
        runs=runs,
    )  # fmt: skip


async def write_branch(host_repo: Path, merged: BranchMerge, reason: str) -> None:
    """Point the branch at the merge's tip, only if it is still where the merge found
    it (absent, when it was): a branch that moved meanwhile is refused, not
    overwritten. ``reason`` goes in its reflog."""
    if not merged.changed:
        return
    branch = merged.branch
    await _refuse_unwritable(host_repo, branch)  # looked at again, right before the write
    ref = f"refs/heads/{branch}"
    try:
        await git.git(
            host_repo, "update-ref", "--no-deref", "-m", reason, ref, merged.tip,
            merged.previous or _NO_COMMIT,
        )  # fmt: skip
    except GitError:
        now = await _tip(host_repo, branch)
        if now != merged.previous:
            was = merged.previous[:12] if merged.previous else "absent"
            moved = now[:12] if now else "deleted"
            raise BranchRefused(
                f"{branch} moved while the runs were merged ({was} -> {moved}); "
                "nothing written: merge again"
            ) from None
        raise


async def _refuse_unwritable(host_repo: Path, branch: str) -> None:
    checked_out = {b.casefold() for b in await hostrepo.checked_out_branches(host_repo)}
    if branch.casefold() in checked_out:
        raise BranchRefused(
            f"{branch} is checked out in a worktree of {host_repo}; "
            "merging writes no working tree: name another branch"
        )
    if alias := await hostrepo.branch_alias(host_repo, branch):
        raise BranchRefused(
            f"{branch} is a symbolic ref to {printable(alias)} in {host_repo}; not written through"
        )


async def _tip(host_repo: Path, branch: str) -> str | None:
    ref = f"refs/heads/{branch}"
    out = await git.git(host_repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                        check=False)  # fmt: skip
    return out.strip() or None


async def _bring(host_repo: Path, sources: Sequence[MergeSource]) -> set[str]:
    """Fetch the commits the host lacks from the stores that hold them, by id; the
    runs' bases the host lacks (it dropped them since) are returned."""
    wanted = {s.commit for s in sources if s.store is not None}
    wanted |= {s.base for s in sources if s.base is not None}
    if not wanted:
        return set()
    out = await git.git(
        host_repo, "cat-file", "--batch-check=%(objectname)",
        input="".join(f"{oid}\n" for oid in sorted(wanted)).encode(),
    )  # fmt: skip
    lacking = {line.split()[0] for line in out.splitlines() if line.endswith(" missing")}
    by_store: dict[str, list[str]] = {}
    for source in sources:
        if source.store is not None and source.commit in lacking:
            by_store.setdefault(source.store, []).append(source.commit)
    for store, commits in by_store.items():
        await git.git(
            host_repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
            "--no-recurse-submodules", store, *sorted(set(commits)),
        )  # fmt: skip
    return lacking - {s.commit for s in sources}


async def _runs_base(host_repo: Path, sources: Sequence[MergeSource], lacking: set[str]) -> str:
    """Where a new branch starts: the commit the runs started from (the common
    ancestor, when they started apart). Each run's recorded base where the host
    has it; for the others, a guess from their commits."""
    bases = {s.base for s in sources if s.base is not None and s.base not in lacking}
    unknown = [s.commit for s in sources if s.base is None or s.base in lacking]
    if unknown:
        bases.add(await _guessed_base(host_repo, unknown))
    if len(bases) == 1:
        return bases.pop()
    return await _merge_base(host_repo, "--octopus", *sorted(bases)) or await _guessed_base(
        host_repo, [s.commit for s in sources]
    )


async def _guessed_base(host_repo: Path, commits: list[str]) -> str:
    """For runs recorded without their base: the commit of the host's default
    branch they started from (their merge base with it); the default branch's tip
    when no run shares its history."""
    default = await hostrepo.default_tip(host_repo)
    if default is None:
        raise BranchRefused(f"{host_repo} has no branch to start from; create the branch first")
    commits = list(dict.fromkeys(commits))
    if base := await _merge_base(host_repo, "--octopus", default, *commits):
        return base
    related = [c for c in commits if await _merge_base(host_repo, default, c)]
    return await _merge_base(host_repo, "--octopus", default, *related) or default


async def _merge_base(host_repo: Path, *commits: str) -> str | None:
    status, out = await git.git_status(host_repo, "merge-base", *commits)
    return out.strip() if status == 0 else None


async def _merge_one(
    host_repo: Path, branch: str, tip: _Tip, source: MergeSource, identity: dict[str, str]
) -> tuple[RunMerge, _Tip]:
    """Merge one run onto ``tip``: what became of it, and the branch's tip after."""
    merge_tree = ("merge-tree", "--write-tree", "--name-only", "-z", "--no-messages")
    status, out = await git.git_status_bounded(
        host_repo, *merge_tree, tip.commit, source.commit, limit=MERGE_TREE_BYTES, line_end=b"\0"
    )
    tree, _, names = out.text.partition("\0")
    if out.cut and _OID.fullmatch(tree):
        status = 1  # only conflicting files' names make the listing long
    if status not in (0, 1) or not _OID.fullmatch(tree):
        if await _merge_base(host_repo, tip.commit, source.commit) is None:
            return RunMerge(label=source.label, commit=source.commit, action="unrelated"), tip
        raise GitError(f"git merge-tree in {host_repo} failed on {source.label} (exit {status})")
    if status == 1:
        # Names come from the run's commits: any bytes but NUL, newlines and dashes too.
        conflicted = names.split("\0")[:-1]
        run = RunMerge(
            label=source.label,
            commit=source.commit,
            action="conflicted",
            conflicts=len(conflicted),
            conflicts_cut=out.cut,
            files=[printable(name[:NAME_WIDTH]) for name in conflicted[:MAX_FILES]],
        )
        return run, tip
    # Only a merge that changes nothing can be of a commit the branch holds already.
    if tree == tip.tree:
        status, _ = await git.git_status(
            host_repo, "merge-base", "--is-ancestor", source.commit, tip.commit
        )
        if status == 0:
            return RunMerge(label=source.label, commit=source.commit, action="current"), tip
    message = f"Merge {source.label} into {branch}\n".encode()
    merge = await git.git(
        host_repo, "commit-tree", tree, "-p", tip.commit, "-p", source.commit, "-F", "-",
        input=message, config=identity,
    )  # fmt: skip
    run = RunMerge(label=source.label, commit=source.commit, action="merged", merge=merge.strip())
    return run, _Tip(commit=merge.strip(), tree=tree)


class _Tip(msgspec.Struct, frozen=True, kw_only=True):
    """The branch as merged so far: its commit and that commit's tree."""

    commit: str
    tree: str
