"""A batch's log followed as it grows: each read folds only what is new, and stands
where a fold of the whole log so far would; a look at the batch reads only what
changed since the last."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from scad.batch import store
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
    NotifyFailed,
    Requeued,
    Stopping,
    SupervisorTook,
)
from scad.batch.state import BatchLogFollower, BatchState, batch_state
from scad.batch.store import BatchPaths, append_batch_event, read_batch_events, save_manifest
from scad.batch.view import BatchView, BatchWatcher
from scad.home import Home
from tests.unit.test_batch_events import BATCH, manifest

#: Two supervisors' worth of a batch: retries, checks, a spent budget, a requeue.
HISTORY: list[BatchEvent] = [
    SupervisorTook(pid=5),
    LimitMoved(limit=2, cause="ceiling"),
    AttemptStarted(item=1, run_id="r1", attempt=1),
    AttemptStarted(item=2, run_id="r2", attempt=1),
    AttemptEnded(item=1, run_id="r1", attempt=1, status="rate-limited", final=False),
    LimitMoved(limit=1, cause="rate-limited", status=429, detail="concurrency 2 -> 1"),
    AttemptStarted(item=1, run_id="r1", attempt=2),
    AttemptChecked(item=2, run_id="r2", attempt=1, failed=[CheckFailure(name="tests")]),
    AttemptEnded(item=2, run_id="r2", attempt=1, status="checks-failed", final=False),
    AttemptEnded(item=1, run_id="r1", attempt=2, status="succeeded", final=True),
    Fetched(item=1, run_id="r1", detail="fetched 1 branch"),
    BudgetSpent(cost_usd=1.5, detail="budget spent"),
    AttemptEnded(item=2, run_id="r2", attempt=2, status="cancelled", final=True),
    AttemptEnded(item=3, attempt=0, status="cancelled", final=True, detail="not started"),
    NotifyFailed(kind="batch-ended", target="webhook", detail="timed out"),
    Ended(),
    Requeued(items=[2, 3]),
    SupervisorTook(pid=6),
    AttemptStarted(item=3, run_id="r3", attempt=1),
    Stopping(detail="stopped on request"),
    AttemptEnded(item=3, run_id="r3", attempt=1, status="cancelled", final=True),
    Ended(),
]


@pytest.fixture
def paths(tmp_path: Path) -> BatchPaths:
    paths = BatchPaths(Home(tmp_path), BATCH)
    paths.root.mkdir(parents=True)
    save_manifest(paths, manifest())
    return paths


def log_bytes(events: list[BatchEvent]) -> bytes:
    stamped = [msgspec.structs.replace(e, ts=f"2026-11-27T10:00:{n:02d}.000Z")
               for n, e in enumerate(events)]  # fmt: skip
    return b"".join(msgspec.json.encode(e) + b"\n" for e in stamped)


def cold(paths: BatchPaths) -> BatchState:
    return batch_state(manifest(), read_batch_events(paths))


def test_a_log_read_in_pieces_folds_as_the_whole_prefix_would(paths: BatchPaths) -> None:
    data = log_bytes(HISTORY)
    follower = BatchLogFollower(paths, manifest())
    assert follower.read() == cold(paths)  # no log yet
    written = 0
    # Pieces of every size, cutting lines anywhere: a partial last line waits.
    for size in [1, 7, 40, 3, 150, 90, 1, 333, 64, 500, 17] * 20:
        piece = data[written : written + size]
        with open(paths.events, "ab") as log:
            log.write(piece)
        written += len(piece)
        assert follower.read() == cold(paths), written
    assert written == len(data)
    final = follower.read()
    assert final == batch_state(manifest(), stamped_history())
    assert [i.status for i in final.items] == ["succeeded", "retrying", "cancelled"]


def stamped_history() -> list[BatchEvent]:
    return msgspec.json.Decoder(list[BatchEvent]).decode(
        b"[" + b",".join(log_bytes(HISTORY).splitlines()) + b"]"
    )


def test_a_log_replaced_by_another_of_the_same_name_is_folded_afresh(paths: BatchPaths) -> None:
    follower = BatchLogFollower(paths, manifest())
    Path(paths.events).write_bytes(log_bytes(HISTORY))
    assert follower.read() == cold(paths)
    # Another log, renamed over it: shorter than what was read.
    other = paths.root / "other.jsonl"
    other.write_bytes(log_bytes(HISTORY[:3]))
    os.replace(other, paths.events)
    assert follower.read() == cold(paths)
    # Rewritten in place (the same file), longer than what was read, its start another.
    with open(paths.events, "r+b") as log:
        log.write(log_bytes([SupervisorTook(pid=9), *HISTORY[5:], *HISTORY[1:9]]))
    assert follower.read() == cold(paths)
    # Gone, then back.
    Path(paths.events).unlink()
    assert follower.read() == cold(paths)
    Path(paths.events).write_bytes(log_bytes(HISTORY[:7]))
    assert follower.read() == cold(paths)


@pytest.mark.anyio
async def test_a_look_again_decodes_only_what_the_log_gained(
    tmp_path: Path, paths: BatchPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    for event in HISTORY[:10]:
        append_batch_event(paths, event)
    decoded: list[bytes] = []
    decode = store._decode_event

    def counting(line: bytes) -> BatchEvent:
        decoded.append(line)
        return decode(line)

    monkeypatch.setattr(store, "_decode_event", counting)
    watcher = BatchWatcher(Home(tmp_path), BATCH)
    await watcher.look()
    assert len(decoded) >= 10
    decoded.clear()
    append_batch_event(paths, HISTORY[10])
    again = await watcher.look()
    assert len(decoded) <= 2  # the new line (and the empty one after it)
    # What it shows is what a watcher that never looked before shows.
    fresh = await BatchWatcher(Home(tmp_path), BATCH).look()
    assert settled(again) == settled(fresh)


def settled(view: BatchView) -> BatchView:
    """The view without what moves with the clock (how long a running item has run)."""
    rows = [msgspec.structs.replace(r, duration_ms=None) for r in view.rows]
    return msgspec.structs.replace(view, rows=rows)
