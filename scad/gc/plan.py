"""plan_gc: what gc would remove and what it keeps, from the engine and the home."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..batch.store import BatchPaths
from ..checks.folder import Holder, holder
from ..code.borrowed import run_lender
from ..code.clones import MAX_COUNTED, unfetched_run_work
from ..engine import ContainerState, labels
from ..errors import UnreadableClone
from ..home import Home
from ..progress import OnProgress, Progress
from ..runs.records import RunPaths
from ..taskgroups import open_task_group
from .items import ORDER, STALE_SECONDS, GcItem, GcKept, GcPlan
from .rules import (
    batch_verdict,
    can_check_clones,
    check_leftovers,
    doctor_leftovers,
    orphan_containers,
    run_reason,
    run_verdict,
    stale_images,
    unused_borrowed,
)
from .scan import SeenHome, SeenRun, borrower, read_borrowed, read_home, tree_size
from .temps import plan_temps

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["plan_gc"]


async def plan_gc(
    engine: Engine, home: Home, *, now: datetime | None = None, progress: OnProgress | None = None
) -> GcPlan:
    """What gc would remove, and what it keeps; nothing is removed.

    The engine is asked first, then the home is read: a run directory made after
    the engine answered has clones before it has a container, so it is kept.
    Reading a stale run's clones (to say what they hold) updates its store, as
    ``session clean`` does. An image that only an orphan container uses counts as
    used: it goes at the next gc, once the container is gone. ``progress`` hears each
    stale run whose clones were read (git work, seconds for many).
    """
    moment = (now or datetime.now(UTC)).timestamp()
    containers = await engine.containers({})
    images = await engine.labelled_images(labels.CONFIG)
    seen = await anyio.to_thread.run_sync(read_home, home)
    configs = await anyio.to_thread.run_sync(home.config_names)

    runs = await _plan_runs(home, seen, containers, moment, progress)
    runs_gone = {item.name for item in runs.items}
    batches = await anyio.to_thread.run_sync(_plan_batches, home, seen, runs_gone, moment)
    batches_gone = {item.name for item in batches.items}
    borrowed = await anyio.to_thread.run_sync(_plan_borrowed, home, seen)
    stale_before = moment - STALE_SECONDS
    temps = await anyio.to_thread.run_sync(
        plan_temps,
        home,
        [run.run_id for run in seen.runs if run.run_id not in runs_gone],
        [batch.batch_id for batch in seen.batches if batch.batch_id not in batches_gone],
        [kept.name for kept in borrowed.kept],
        stale_before,
    )
    holders = await anyio.to_thread.run_sync(_check_holders, containers)
    parts = [
        orphan_containers(containers, seen.run_names, labels.home_label(home)),
        doctor_leftovers(containers, moment),
        check_leftovers(containers, holders, labels.home_label(home)),
        runs,
        batches,
        borrowed,
        stale_images(images, containers, labels.home_label(home), configs),
        temps,
    ]
    return GcPlan(
        # Sorted by kind, stably: the order they are removed in.
        items=sorted((i for p in parts for i in p.items), key=lambda i: ORDER.index(i.kind)),
        kept=sorted((k for p in parts for k in p.kept), key=lambda k: ORDER.index(k.kind)),
        stale_before=stale_before,
    )


def _check_holders(containers: list[ContainerState]) -> dict[str, Holder]:
    """Who holds the folder each check's container names."""
    folders = {c.labels.get(labels.CHECK_FOLDER) for c in containers if labels.CHECK in c.labels}
    return {folder: holder(Path(folder)) for folder in folders if folder}


async def _plan_runs(
    home: Home,
    seen: SeenHome,
    containers: list[ContainerState],
    now: float,
    progress: OnProgress | None,
) -> GcPlan:
    """The run directories to remove (see :func:`~scad.gc.rules.run_verdict`)."""
    ids = [container.id for container in containers]
    # Any container naming the run keeps it, whichever home made it: the safe side.
    by_run: dict[str, str] = {}
    for container in containers:
        if (run_id := container.labels.get(labels.RUN)) is not None:
            by_run.setdefault(run_id, container.id)
    # A run's batch keeps it while the batch's supervisor lives (its log's runs and
    # those whose record names it).
    live = {
        run_id: f"its batch {batch.batch_id} is supervised (pid {batch.pid})"
        for batch in seen.batches
        if batch.pid is not None
        for run_id in batch.runs
    }

    def container_of(run: SeenRun) -> str | None:
        if run.run_id in by_run:
            return by_run[run.run_id]
        cid = run.record.container_id if run.record else None
        return cid if cid and any(i.startswith(cid) for i in ids) else None

    their_container = {run.run_id: container_of(run) for run in seen.runs}
    notes: dict[str, str] = {}
    limiter = anyio.CapacityLimiter(4)
    checked = [
        run
        for run in seen.runs
        if can_check_clones(run, their_container[run.run_id], live.get(run.run_id))
    ]

    def told() -> None:
        if progress is not None and checked:
            progress(Progress(what="reading clones", done=len(notes), total=len(checked)))

    async def check(run: SeenRun) -> None:
        async with limiter:
            notes[run.run_id] = await _clones_note(home, run)
        told()

    told()
    async with open_task_group() as tg:
        for run in checked:
            tg.start_soon(check, run)

    collected: list[SeenRun] = []
    kept = [
        GcKept(kind="run", name=name, reason="not a folder; left alone") for name in seen.not_runs
    ]
    for run in seen.runs:
        why = run_verdict(
            run,
            container=their_container[run.run_id],
            batch=live.get(run.run_id),
            now=now,
            clones_note=notes.get(run.run_id),
        )
        if why is None:
            collected.append(run)
        else:
            kept.append(GcKept(kind="run", name=run.run_id, reason=why))
    items = await anyio.to_thread.run_sync(_run_items, home, collected)
    return GcPlan(items=items, kept=kept)


def _run_items(home: Home, runs: list[SeenRun]) -> list[GcItem]:
    return [
        GcItem(
            kind="run",
            name=run.run_id,
            reason=run_reason(run),
            target=str(home.run_dir(run.run_id)),
            size_bytes=tree_size(home.run_dir(run.run_id)),
        )
        for run in runs
    ]


def _plan_borrowed(home: Home, seen: SeenHome) -> GcPlan:
    """The borrowed stores no run borrows from (see :func:`~scad.gc.rules.borrowed_verdict`),
    as the runs' records read for the plan say."""
    borrowers = [
        found
        for run in seen.runs
        if (found := borrower(run.run_id, run.record, worktrees=run.worktrees, stores=run.stores))
    ]
    plan = unused_borrowed(read_borrowed(home), borrowers, home.borrowed)
    items = [msgspec.structs.replace(i, size_bytes=tree_size(Path(i.target))) for i in plan.items]
    return GcPlan(items=items, kept=plan.kept)


def _plan_batches(home: Home, seen: SeenHome, gone: set[str], now: float) -> GcPlan:
    """The batch directories to remove (see :func:`~scad.gc.rules.batch_verdict`);
    ``gone``: the runs this plan removes."""
    done = gone | {run.run_id for run in seen.runs if run.record and run.record.cleaned}
    done |= {run_id for b in seen.batches for run_id in b.runs if run_id not in seen.run_names}
    items, kept = [], []
    for batch in seen.batches:
        why = batch_verdict(batch, done=done, now=now)
        if why is not None:
            kept.append(GcKept(kind="batch", name=batch.batch_id, reason=why))
            continue
        root = BatchPaths(home, batch.batch_id).root
        items.append(
            GcItem(
                kind="batch",
                name=batch.batch_id,
                reason=(
                    "no manifest (its creation was cut short)"
                    if batch.problem
                    else "every run of it is cleaned or gone"
                ),
                target=str(root),
                size_bytes=tree_size(root),
                runs=sorted(set(batch.runs) & gone),
            )
        )
    return GcPlan(items=items, kept=kept)


async def _clones_note(home: Home, run: SeenRun) -> str:
    """What the run's clones hold that the host lacks, said as why the run stays."""
    assert run.record is not None
    paths = RunPaths(home, run.run_id)
    for key in run.clones:
        host = run.record.repos.get(key)
        if host is None:
            return f"it has clone {key}, which is not one of its repos; look at it by hand"
        try:
            lender = run_lender(home, run.record, key)
            work = await unfetched_run_work(
                paths, key, Path(host), run.record.branch, lender=lender
            )
        except UnreadableClone as exc:
            return (
                f"it has clones; cannot tell whether clone {key} holds commits {host} lacks "
                f"({exc.problem})"
            )
        if work.total:
            count = f"more than {MAX_COUNTED}" if work.total > MAX_COUNTED else str(work.total)
            return (
                f"clone {key} holds {count} commit(s) not in {host}; "
                f"fetch them (`scad code fetch {run.run_id}`)"
            )
    return f"it has clones (nothing unfetched); `scad session clean {run.run_id}` removes them"
