"""A batch's log, typed: what the writer writes reads back, and logs written before
the log was typed still read (a golden log)."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from scad.batch.events import (
    AttemptChecked,
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    CheckFailure,
    Ended,
    Fetched,
    LimitMoved,
    Requeued,
    Stopping,
    SupervisorTook,
)
from scad.batch.state import batch_state
from scad.batch.store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    append_batch_event,
    read_batch_events,
)
from scad.home import Home

GOLDEN = Path(__file__).parent / "golden" / "batch-events.jsonl"
BATCH = "p-b-Nov27-1000"


def manifest() -> BatchManifest:
    items = [BatchItem(index=n, tag=f"b-{n:02d}", prompt=f"p{n}") for n in (1, 2, 3)]
    return BatchManifest(batch_id=BATCH, config="p", tag="b", created="2026-11-27T10:00:00.000Z",
                         image="i", source="t", items=items, options=BatchOptions())  # fmt: skip


@pytest.fixture
def paths(tmp_path: Path) -> BatchPaths:
    paths = BatchPaths(Home(tmp_path), BATCH)
    paths.root.mkdir(parents=True)
    return paths


def test_a_log_written_before_it_was_typed_still_reads(paths: BatchPaths) -> None:
    shutil.copy(GOLDEN, paths.events)
    events = read_batch_events(paths)
    # The kind a later version wrote and the partial last line are left unread.
    assert [type(e) for e in events] == [
        SupervisorTook, LimitMoved, AttemptStarted, AttemptStarted, AttemptEnded, LimitMoved,
        AttemptEnded, Fetched, AttemptStarted, BudgetSpent, AttemptEnded, AttemptEnded, Ended,
        Requeued, Stopping,
    ]  # fmt: skip
    state = batch_state(manifest(), events)
    assert [(i.status, i.run_id, i.attempts, i.final) for i in state.items] == [
        ("succeeded", "p-b-01-Nov27-1000", 1, True),
        ("retrying", "p-b-02-Nov27-1000", 2, False),
        ("queued", None, 0, False),
    ]
    assert (state.limit, state.stopping, state.ended, state.budget_spent) == (1, True, False, False)
    assert state.notes == [
        "concurrency 2 -> 1: the API answered 429",
        "p-b-01-Nov27-1000: branches fetched",
        "budget spent: $0.0500 of $0.05; stopping the runs",
    ]


EACH_KIND: list[BatchEvent] = [
    SupervisorTook(pid=7),
    AttemptStarted(item=1, run_id="r", attempt=2),
    AttemptEnded(
        item=1, run_id="r", attempt=2, status="hung", final=False, detail="d", cost_usd=0.5
    ),
    AttemptEnded(item=2, attempt=0, status="cancelled", final=True),
    AttemptChecked(
        item=1,
        run_id="r",
        attempt=1,
        passed=["lint"],
        failed=[CheckFailure(name="tests", exit_code=1, output="1 failed")],
    ),
    LimitMoved(limit=3, detail="up"),
    Fetched(item=1, run_id="r", detail="home"),
    BudgetSpent(cost_usd=1.0, detail="spent"),
    Requeued(items=[1, 2]),
    Stopping(),
    Ended(),
]


def test_each_kind_reads_back_as_written(paths: BatchPaths) -> None:
    written = [append_batch_event(paths, event) for event in EACH_KIND]
    assert all(event.ts for event in written)
    assert read_batch_events(paths) == written
    assert [msgspec.structs.replace(e, ts="") for e in written] == EACH_KIND


def test_an_event_of_a_status_no_run_has_is_not_read(paths: BatchPaths) -> None:
    with open(paths.events, "w") as log:
        log.write(
            '{"ts":"t","event":"attempt","item":1,"attempt":1,"status":"great","final":true}\n'
        )
    assert read_batch_events(paths) == []
