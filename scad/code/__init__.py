"""Code: a run's clones, read without trusting them, and branches moved home and back.

git never runs in a clone: :mod:`.snapshot` reads one as data into a store scad
owns, where :mod:`.git` runs; :mod:`.clones` makes clones and counts their work,
:mod:`.diff` shows what a run changed, :mod:`.fetch` brings branches home,
:mod:`.sync` takes the host's into a session (writing refs with :mod:`.clonewrite`),
:mod:`.merge` merges runs into one branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .clones import CloneWork, Commit, create_clone, unfetched_work
    from .diff import FileChange, RepoDiff, diff_run
    from .fetch import BranchFetch, RepoFetch, RunFetch, fetch_run
    from .merge import BranchMerge, MergeSource, RunMerge, merge_branch, write_branch
    from .snapshot import CloneSnapshot, snapshot_clone
    from .sync import RepoSync, RunSync, sync_run

__all__ = [
    "BranchFetch",
    "BranchMerge",
    "CloneSnapshot",
    "CloneWork",
    "Commit",
    "FileChange",
    "MergeSource",
    "RepoDiff",
    "RepoFetch",
    "RepoSync",
    "RunFetch",
    "RunMerge",
    "RunSync",
    "create_clone",
    "diff_run",
    "fetch_run",
    "merge_branch",
    "snapshot_clone",
    "sync_run",
    "unfetched_work",
    "write_branch",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "BranchFetch": "fetch",
        "BranchMerge": "merge",
        "CloneSnapshot": "snapshot",
        "CloneWork": "clones",
        "Commit": "clones",
        "FileChange": "diff",
        "RepoDiff": "diff",
        "MergeSource": "merge",
        "RepoFetch": "fetch",
        "RepoSync": "sync",
        "RunFetch": "fetch",
        "RunMerge": "merge",
        "RunSync": "sync",
        "create_clone": "clones",
        "diff_run": "diff",
        "fetch_run": "fetch",
        "merge_branch": "merge",
        "snapshot_clone": "snapshot",
        "sync_run": "sync",
        "unfetched_work": "clones",
        "write_branch": "merge",
    },
)
