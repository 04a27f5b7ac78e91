"""apply_gc: removing a plan's items, each only if it still should go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio

from ..batch.store import BatchPaths, supervisor_pid
from ..code.borrowed import is_store_name, remove_store
from ..errors import NotFound, ScadError
from ..home import Home
from ..progress import OnProgress, Progress
from ..runs.containers import STOP_GRACE
from ..runs.ledger import keep_collected
from ..runs.records import RunPaths, load_run
from ..runs.summaries import summarise_log
from .items import GcItem, GcPlan, GcResult
from .rules import borrowed_verdict
from .scan import busy, entries, read_borrowers
from .temps import remove_temp, temp_place

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["apply_gc"]


async def apply_gc(
    engine: Engine, home: Home, plan: GcPlan, *, progress: OnProgress | None = None
) -> list[GcResult]:
    """Remove the plan's items in its order (containers, runs, batches, borrowed
    stores, images, temporary files) and say what became of each; one failure does
    not stop the rest.

    Each removal first checks again what may have changed since the plan: a run
    that a live process took up or that has clones again, a batch whose
    supervisor started or one of whose runs stayed, a container whose run
    directory is back, a borrowed store a run borrows from again (asked holding its
    lock), a temporary file written again. Such an item is skipped.
    ``progress`` hears each item done.
    """
    results: list[GcResult] = []
    stayed: set[str] = set()  # runs that were not removed
    for item in plan.items:
        try:
            skipped = await _remove(engine, home, plan, item, stayed)
        except (ScadError, OSError) as exc:
            result = GcResult(kind=item.kind, name=item.name, outcome="failed", detail=str(exc))
        else:
            outcome: Literal["removed", "skipped"] = "skipped" if skipped else "removed"
            result = GcResult(kind=item.kind, name=item.name, outcome=outcome, detail=skipped)
        if item.kind == "run" and result.outcome != "removed":
            stayed.add(item.name)
        results.append(result)
        if progress is not None:
            progress(Progress(what="removing", done=len(results), total=len(plan.items)))
    return results


async def _remove(
    engine: Engine, home: Home, plan: GcPlan, item: GcItem, stayed: set[str]
) -> str | None:
    """Remove one item; returns why it was skipped, or None once it is gone."""
    if item.kind in ("run", "batch") and not _plain_name(item.name):
        return "not a name of a folder in the home"
    if item.kind == "borrowed" and not is_store_name(item.name):
        return "not a name of a borrowed store"
    if item.kind == "temp" and not temp_place(home, Path(item.target)):
        return "not a temporary file of scad's"
    match item.kind:
        case "container":
            names = {entry.name for entry in await anyio.to_thread.run_sync(entries, home.runs)}
            if any(run_id in names for run_id in item.runs):
                return "its run directory is back"
            # Stopped first: its processes get the grace a `session stop` gives.
            await engine.stop(item.target, grace=STOP_GRACE)
            await engine.remove(item.target, force=True)
        case "run":
            return await anyio.to_thread.run_sync(_remove_run, home, item.name)
        case "batch":
            if waiting := [run_id for run_id in item.runs if run_id in stayed]:
                return f"its run(s) {', '.join(waiting)} were not removed"
            return await anyio.to_thread.run_sync(_remove_batch, home, item.name)
        case "borrowed":
            # By its name, in this home's folder: a plan built elsewhere cannot reach out.
            return await remove_store(
                home.borrowed / item.name,
                lambda: borrowed_verdict(item.name, read_borrowers(home)),
            )
        case "image":
            for reference in item.tags or [item.target]:
                await engine.remove_image(reference)
        case "temp":
            return await anyio.to_thread.run_sync(remove_temp, Path(item.target), plan.stale_before)
    return None


def _plain_name(name: str) -> bool:
    """A run or batch id names one folder: a plan built elsewhere cannot reach out."""
    return bool(name) and "/" not in name and name not in (".", "..")


def _remove_run(home: Home, run_id: str) -> str | None:
    paths = RunPaths(home, run_id)
    if why := busy(paths):
        return why
    if os.path.lexists(paths.worktrees):
        return "it has clones again"
    try:
        record = load_run(home, run_id)
    except NotFound:
        pass  # no record to keep: nothing to say whose the figures were
    else:
        interactive = record.mode == "interactive"
        keep_collected(home, record, summarise_log(paths, transcripts=interactive))
    # rmtree works through file descriptors and unlinks links rather than follow
    # them: a link an agent planted points at something that is not removed.
    shutil.rmtree(paths.root)
    return None


def _remove_batch(home: Home, batch_id: str) -> str | None:
    paths = BatchPaths(home, batch_id)
    if (pid := supervisor_pid(paths)) is not None:
        return f"its supervisor is alive (pid {pid})"
    shutil.rmtree(paths.root)
    return None
