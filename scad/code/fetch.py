"""``scad code fetch``: a run's branches into the host repos.

Each clone is read through scad's store (:mod:`scad.code.snapshot`); git runs in
the store and in the host repo, never in the clone. Every branch of the clone
is brought over by commit id, so what lands is exactly what was judged:

- a branch the host lacks is created under the same name, and one the host has
  is fast-forwarded;
- a branch that diverged from the host's, or the host's checked-out branch (in
  any worktree, its name in any case: a file system that ignores case would
  take ``MAIN`` for ``main``), is never moved: it lands under
  ``scad/<run-id>/<branch>``;
- a branch name that is a symbolic ref on the host (``master -> main`` after a
  rename; a chain of them, or one naming a ref that does not exist) is never
  written through: that would move the branch it names. It lands there too;
- a branch whose name could pass for another ref of the host's (``origin``,
  ``origin/main``, a tag, ``ORIG_HEAD``, a commit id: git would resolve the user's
  ``git merge origin/main`` to it) or for another run's (``scad-<run-id>``,
  ``scad/...``) lands there too, new or not;
- a branch git refuses to update after all (checked out in a worktree that is in
  the middle of a rebase, say) lands there as well;
- a detached HEAD whose commits no branch holds lands as ``scad/<run-id>/detached``;
- commits that only a tag, the stash, a note, another ref or a reflog of the clone
  keeps (and the host lacks) land as ``scad/<run-id>/kept/<commit>``, one branch
  per commit that no other of them reaches: ``session clean`` counts them as work.

Each branch is fetched with a refspec that does not force, so git refuses any
update that stopped being a fast-forward in the meantime, and one refusal costs
no other branch its fetch. Right before each write, the host ref is looked at
again: one that is a symbolic ref or checked out by then is not written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from ..errors import GitError, SessionError, UnreadableClone
from ..home import Home
from ..runs.envelopes import Fetched
from ..runs.events import append_event
from ..runs.records import RunPaths, RunRecord
from ..text import printable
from . import git, hostrepo
from ._hostwrite import bring, fetched, unwritable
from ._landing import Action, Host, Plan, look_at, plan_branch
from .borrowed import run_lender
from .work import has_work, snapshot_work

__all__ = ["MAX_BRANCHES", "BranchFetch", "RepoFetch", "RunFetch", "fetch_run"]

#: A clone with more branches than this is not fetched (a few git calls each).
MAX_BRANCHES = 256
#: Commits looked at beyond the branches, for those other refs and reflogs keep.
MAX_KEPT_LOOKED_AT = 100_000
#: Changed files listed per branch (all are counted).
MAX_FILES = 20
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

#: The ``branch`` of commits only other refs and reflogs keep (action ``kept``).
KEPT = "(kept)"


class BranchFetch(msgspec.Struct, frozen=True, kw_only=True):
    """One branch of a clone and where it is on the host now."""

    #: The clone's branch (``HEAD`` for a detached HEAD).
    branch: str
    commit: str
    action: Action
    #: The host branch that holds it; None when ``current``.
    target: str | None
    #: When ``aliased``: the ref the host's branch of this name stands for.
    alias_of: str | None = None
    #: Commits ahead of the host's default branch, and the files they change.
    ahead: int
    files_changed: int
    #: The first ``MAX_FILES`` of them.
    files: list[str]


class RepoFetch(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    host_repo: str
    #: The branch checked out in the host repo; None when its HEAD is detached.
    default_branch: str | None
    branches: list[BranchFetch]
    #: Why nothing was fetched from this clone.
    problem: str | None = None


class RunFetch(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    repos: list[RepoFetch]
    #: Each clone's problem, as one line naming the run and the clone.
    problems: list[str] = []

    @property
    def note(self) -> str:
        """What came home, in a few words: its problems, or how many branches landed."""
        if self.problems:
            return "; ".join(self.problems)
        landed = sum(b.action != "current" for r in self.repos for b in r.branches)
        if not landed:
            return f"{self.run_id}: no new commits"
        return f"{self.run_id}: {landed} branch{'es' if landed > 1 else ''} fetched"


async def fetch_run(
    home: Home, record: RunRecord, *, judged: Mapping[str, str] | None = None
) -> RunFetch:
    """Bring every branch of every clone of ``record`` into its host repo and log
    a ``fetched`` event; with ``judged`` (repo -> the commit checks judged), only the
    branches at those commits: work the checks never saw does not come home under
    their verdict. A clone that cannot be read safely is reported in its
    ``problem``, and the other clones are still fetched."""
    if record.cleaned:
        raise SessionError(f"{record.run_id} was cleaned; its clones are gone")
    paths = RunPaths(home, record.run_id)
    repos = [
        await _fetch_repo(
            paths, record, key, Path(host_repo), None if judged is None else judged.get(key, "")
        )
        for key, host_repo in record.repos.items()
    ]
    moved = [
        f"{r.key}:{b.branch}->{b.target} ({b.action})"
        for r in repos
        for b in r.branches
        if b.action != "current"
    ]
    await append_event(paths, Fetched(detail=", ".join(moved) or "nothing new"))
    problems = [f"{record.run_id}: {r.key}: {r.problem}" for r in repos if r.problem]
    return RunFetch(run_id=record.run_id, repos=repos, problems=problems)


async def _fetch_repo(
    paths: RunPaths, record: RunRecord, key: str, host_repo: Path, judged: str | None
) -> RepoFetch:
    """One clone's branches into its host repo; only those at ``judged`` unless it is
    None (``""``: none)."""

    def failed(problem: str) -> RepoFetch:
        return RepoFetch(
            key=key, host_repo=str(host_repo), default_branch=None, branches=[], problem=problem
        )

    if not has_work(paths, key):
        return failed("the clone is gone")
    if not await hostrepo.is_repository(host_repo):
        return failed(f"{host_repo} is not a git repository any more")
    try:
        lender = run_lender(paths.home, record, key)
        snapshot = await snapshot_work(paths, key, host_repo, record.branch, lender=lender)
    except UnreadableClone as exc:
        return failed(f"cannot be read safely ({exc.problem}); nothing fetched")
    store = Path(snapshot.store)
    tips = dict(snapshot.branches)
    if len(tips) > MAX_BRANCHES:
        return failed(f"holds {len(tips)} branches, more than the {MAX_BRANCHES} fetched at once")
    try:
        host = await look_at(host_repo, record.branch)
        if snapshot.detached and await git.count_commits(
            store, [snapshot.detached], [*tips.values(), *host.tips.values()]
        ):
            tips["HEAD"] = snapshot.detached
        if judged is not None:
            tips = {branch: tip for branch, tip in tips.items() if tip == judged}
        plans = [
            await plan_branch(store, record.run_id, branch, tip, host)
            for branch, tip in sorted(tips.items())
        ]
        landed, refused = await bring(host_repo, store, record.run_id, plans, host)
        kept = (
            []
            if judged is not None
            else await _kept_tips(host_repo, store, [*tips.values()], snapshot.kept)
        )
        if len(kept) > MAX_BRANCHES:
            refused.append(f"{len(kept)} commits kept outside branches (more than {MAX_BRANCHES})")
            kept = []
        for tip in kept:
            target = f"scad/{record.run_id}/kept/{tip[:12]}"
            why = await unwritable(host_repo, target, host)
            if why is None and await fetched(host_repo, store, tip, target):
                landed.append(Plan(branch=KEPT, commit=tip, action="kept", target=target))
            else:
                refused.append(f"{KEPT} {tip[:12]} ({why})" if why else f"{KEPT} {tip[:12]}")
        branches = [await _described(store, plan, host) for plan in landed]
    except GitError as exc:
        return failed(str(exc))
    if snapshot.refused:
        names = ", ".join(repr(name) for name in sorted(snapshot.refused))
        refused.append(f"{names} (not a branch name git accepts)")
    return RepoFetch(
        key=key,
        host_repo=str(host_repo),
        default_branch=host.default_branch,
        branches=branches,
        problem=f"not fetched: {', '.join(refused)}" if refused else None,
    )


async def _kept_tips(
    host_repo: Path, store: Path, branch_tips: list[str], kept: list[str]
) -> list[str]:
    """The commits among ``kept`` (ids a clone's other refs and reflogs name) that hold
    work no branch tip and no ref of the host reaches, and that the host lacks; only
    those no other of them reaches."""
    named = await git.commits_named(store, kept)
    if not named:
        return []
    reached = [*branch_tips, *(await hostrepo.refs(host_repo)).values()]
    listed = ("rev-list", "--stdin", f"--max-count={MAX_KEPT_LOOKED_AT}")
    seen = (await git.store_git(store, *listed, input=git.revisions(named, reached))).split()
    lacking = await git.missing_objects(store, await hostrepo.objects_folder(host_repo), seen)
    tips = sorted({tip for tip in named if tip in lacking})
    if len(tips) <= 1 or len(tips) > MAX_BRANCHES:
        return tips
    return sorted((await git.store_git(store, "merge-base", "--independent", *tips)).split())


async def _described(store: Path, plan: Plan, host: Host) -> BranchFetch:
    """The plan with what the branch holds beyond the host's default branch."""
    base = host.base
    ahead = await git.count_commits(store, [plan.commit], [base] if base else [])
    if base is None:
        since = EMPTY_TREE
    else:
        try:
            since = (await git.store_git(store, "merge-base", base, plan.commit)).strip()
        except GitError:  # unrelated histories
            since = EMPTY_TREE
    diff = ("diff", "--name-only", "--no-renames", "--no-ext-diff", "--no-textconv", "-z")
    changed = await git.store_git(store, *diff, since, plan.commit)
    # The agent decides how many names there are: count them all, escape the few shown.
    shown = [printable(name) for name in changed.split("\0", MAX_FILES)[:MAX_FILES] if name]
    return BranchFetch(
        branch=plan.branch,
        commit=plan.commit,
        action=plan.action,
        target=plan.target,
        alias_of=plan.alias_of,
        ahead=ahead,
        files_changed=changed.count("\0"),
        files=shown,
    )
