"""``scad code merge``: a batch's chosen runs merged into one branch of each host repo.

The runs are each prompt's final run, in the batch's prompt order: those that
passed (ended ``succeeded``: Claude finished and the checks passed), or those named.
Each run's commit is its branch (``scad-<run-id>``) as scad reads it from its clone
(through the run's store, never git in the clone); a run whose clones were cleaned
is merged from its branch on the host, when ``code fetch`` brought it there. The
merging itself is :mod:`scad.code.merge`: objects only, nothing checked out moves.
Every repo's branch is built before any is written. The branches written can then
be judged by the batch's config's checks, as a run's commits are
(:func:`check_merge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..batch.state import batch_state
from ..batch.store import (
    BatchPaths,
    aload_manifest,
    find_batch_id,
    load_manifest,
    read_batch_events,
)
from ..code import git, hostrepo
from ..code.borrowed import run_lender
from ..code.merge import BranchMerge, MergeSource, check_branch_name, merge_branch, write_branch
from ..code.snapshot import snapshot_clone
from ..errors import NotFound, UnreadableClone, UsageError
from ..home import Home
from ..names import ids_named
from ..runs.envelopes import Checked
from ..runs.records import RunPaths, RunRecord, load_run

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "BatchMerge",
    "ChosenRuns",
    "LeftOutRun",
    "MergedRun",
    "RepoMerge",
    "check_merge",
    "choose_runs",
    "merge_batch",
]

#: What ``--only`` takes besides run ids: the runs that passed.
PASSED = "passed"
#: Runs' clones read at once (each read is a worker thread's walk of its files).
READS_AT_ONCE = 4


class MergedRun(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    #: The run's commit, and the merge commit that took it in.
    commit: str
    merge: str


class LeftOutRun(msgspec.Struct, frozen=True, kw_only=True):
    """A run that is not on the branch: it conflicted (``files``), or ``problem`` says why."""

    run_id: str
    commit: str | None
    #: Files that conflicted: counted (all, unless ``conflicts_cut``: more than git's
    #: listing read holds), the first few named (escaped).
    conflicts: int = 0
    conflicts_cut: bool = False
    files: list[str] = []
    problem: str | None = None


class RepoMerge(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    host_repo: str
    branch: str
    #: The branch's commit before (None: it did not exist), where merging started,
    #: and the branch's commit after (``start`` when nothing merged).
    previous: str | None
    start: str
    commit: str
    #: Whether the branch was written (not on a dry run, nor when nothing merged).
    written: bool
    merged: list[MergedRun]
    left_out: list[LeftOutRun]
    #: Runs whose commits the branch holds already (or that committed nothing here).
    current: list[str]


class BatchMerge(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    branch: str
    dry_run: bool
    #: The runs chosen, in the batch's prompt order.
    run_ids: list[str]
    repos: list[RepoMerge]
    #: The config's checks, judging every repo's branch as merged (None: not checked).
    checks: list[Checked] | None = None

    @property
    def left_out(self) -> bool:
        """Whether any chosen run is not on its repo's branch."""
        return any(repo.left_out for repo in self.repos)

    @property
    def checks_failed(self) -> bool:
        return any(not check.passed for check in self.checks or ())


class ChosenRuns(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    #: In the batch's prompt order.
    run_ids: list[str]


def choose_runs(home: Home, batch_text: str, only: Sequence[str] = ()) -> ChosenRuns:
    """The batch a user named, and its runs to merge, in prompt order: each prompt's
    final run that passed (``only`` empty or ``passed``), and/or the final runs
    ``only`` names by id or a unique beginning of one. Raises NotFound for an unknown
    batch or run, UsageError when no run is chosen."""
    batch_id = find_batch_id(home, batch_text)
    manifest = load_manifest(home, batch_id)
    items = batch_state(manifest, read_batch_events(BatchPaths(home, batch_id))).items
    finals = [item.run_id for item in items if item.run_id]
    chosen: set[str] = set()
    for text in only or (PASSED,):
        if text == PASSED:
            chosen |= {i.run_id for i in items if i.run_id and i.final and i.status == "succeeded"}
            continue
        named = ids_named(text, finals)
        if not named:
            raise NotFound(f'no run "{text}" among the final runs of batch {batch_id}')
        if len(named) > 1:
            raise UsageError(f'"{text}" begins {len(named)} run ids of batch {batch_id}')
        chosen.add(named[0])
    if not chosen:
        raise UsageError(
            f"no run of batch {batch_id} passed; nothing to merge "
            "(name runs to merge with --only RUN)"
        )
    return ChosenRuns(batch_id=batch_id, run_ids=[r for r in finals if r in chosen])


async def merge_batch(
    home: Home, batch_id: str, run_ids: Sequence[str], branch: str, *, dry_run: bool = False
) -> BatchMerge:
    """Merge ``run_ids`` (as :func:`choose_runs` gives them) into ``branch`` of each
    host repo their runs cloned; write the branches unless ``dry_run``. Raises
    BranchRefused when a branch is not one scad may write (before any is written)."""
    check_branch_name(branch)
    records = await anyio.to_thread.run_sync(_load_runs, home, run_ids)
    repos: dict[tuple[str, str], list[RunRecord]] = {}
    for record in records:
        for key, host_repo in record.repos.items():
            repos.setdefault((key, host_repo), []).append(record)
    built = []
    for (key, host_repo), its_records in repos.items():
        host = Path(host_repo)
        found = await _sources(home, its_records, key, host)
        sources = [source for source in found if isinstance(source, MergeSource)]
        problems = [
            LeftOutRun(run_id=record.run_id, commit=None, problem=source)
            for record, source in zip(its_records, found, strict=True)
            if isinstance(source, str)
        ]
        built.append((key, await merge_branch(host, branch, sources), problems))
    reason = f"scad code merge {batch_id}"
    result = []
    for key, merged, problems in built:
        written = not dry_run and merged.changed
        if written:
            await write_branch(Path(merged.host_repo), merged, reason)
        result.append(_repo_merge(key, merged, problems, written, list(run_ids)))
    return BatchMerge(
        batch_id=batch_id, branch=branch, dry_run=dry_run, run_ids=list(run_ids), repos=result
    )


async def check_merge(engine: Engine, home: Home, merged: BatchMerge) -> BatchMerge:
    """``merged`` with every repo's branch (its commit as merged, judged against
    where it started) judged by the batch's config's checks, in containers of the
    config's image (built first when it is not). Raises NotFound or ConfigError
    when the config is gone or broken, EngineUnavailable when the engine is away."""
    # Here, not above: merging alone needs neither the engine nor the image's builder.
    from ..checks import CheckSource, check_commits
    from ..config.registry import load_registered
    from ..image.build import build_image

    manifest = await aload_manifest(home, merged.batch_id)
    config = await anyio.to_thread.run_sync(load_registered, home, manifest.config)
    image = (await build_image(engine, home, config)).image
    sources = [
        CheckSource(repo=repo.key, git_dir=repo.host_repo, commit=repo.commit, base=repo.start)
        for repo in merged.repos
    ]
    report = await check_commits(engine, home, config, sources, image=image)
    return msgspec.structs.replace(merged, checks=report.checks)


def _load_runs(home: Home, run_ids: Sequence[str]) -> list[RunRecord]:
    return [load_run(home, run_id) for run_id in run_ids]


async def _sources(
    home: Home, records: list[RunRecord], key: str, host: Path
) -> list[MergeSource | str]:
    """Each run's source in repo ``key`` (or why it has none), in ``records``' order:
    their clones read :data:`READS_AT_ONCE` at a time."""
    objects = await hostrepo.objects_folder(host)
    found: list[MergeSource | str] = ["" for _ in records]
    limiter = anyio.CapacityLimiter(READS_AT_ONCE)

    async def read(n: int, record: RunRecord) -> None:
        async with limiter:
            found[n] = await _source(home, record, key, host, objects)

    async with anyio.create_task_group() as group:
        for n, record in enumerate(records):
            group.start_soon(read, n, record)
    return found


async def _source(
    home: Home, record: RunRecord, key: str, host: Path, objects: Path
) -> MergeSource | str:
    """The run's commit in repo ``key`` and where its objects are, or why there is none."""
    paths = RunPaths(home, record.run_id)
    clone = paths.clone(key)
    base = record.bases.get(key)
    if not record.cleaned and clone.is_dir():
        try:
            snapshot = await snapshot_clone(
                clone, paths.store(key), host, host_objects=objects,
                borrowed=run_lender(home, record, key),
            )  # fmt: skip
        except UnreadableClone as exc:
            return f"its clone cannot be read safely ({exc.problem})"
        commit = snapshot.branches.get(record.branch)
        if commit is None:
            return f"its branch {record.branch} is gone from its clone"
        return MergeSource(label=record.run_id, commit=commit, store=snapshot.store, base=base)
    out = await git.git(
        host, "rev-parse", "--verify", "--quiet", f"refs/heads/{record.branch}^{{commit}}",
        check=False,
    )  # fmt: skip
    if not out.strip():
        return f"its clones were cleaned and its branch {record.branch} is not on the host"
    return MergeSource(label=record.run_id, commit=out.strip(), base=base)


def _repo_merge(
    key: str, merged: BranchMerge, problems: list[LeftOutRun], written: bool, order: list[str]
) -> RepoMerge:
    left_out = list(problems)
    for run in merged.runs:
        if run.action == "conflicted":
            left_out.append(
                LeftOutRun(
                    run_id=run.label,
                    commit=run.commit,
                    conflicts=run.conflicts,
                    conflicts_cut=run.conflicts_cut,
                    files=run.files,
                )
            )
        elif run.action == "unrelated":
            problem = "it shares no history with the branch"
            left_out.append(LeftOutRun(run_id=run.label, commit=run.commit, problem=problem))
    return RepoMerge(
        key=key,
        host_repo=merged.host_repo,
        branch=merged.branch,
        previous=merged.previous,
        start=merged.start,
        commit=merged.tip,
        written=written,
        merged=[
            MergedRun(run_id=r.label, commit=r.commit, merge=r.merge)
            for r in merged.runs
            if r.action == "merged" and r.merge is not None
        ],
        left_out=sorted(left_out, key=lambda run: order.index(run.run_id)),
        current=[r.label for r in merged.runs if r.action == "current"],
    )
