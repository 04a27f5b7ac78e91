"""Where a batch's items stand, folded from its log (:mod:`.store`): any process can
show a batch, as the supervisor writes and views only read. A batch that cannot
go on ends its unfinished items (:func:`close_unfinished`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import BinaryIO

import msgspec

from ..threads import async_twin
from .events import (
    AttemptChecked,
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    CheckFailure,
    Ended,
    Fetched,
    ItemStatus,
    LimitMoved,
    NotifyFailed,
    Requeued,
    Stopping,
    SupervisorTook,
)
from .store import (
    BatchManifest,
    BatchPaths,
    append_batch_event,
    decoded_events,
    read_batch_events,
)

__all__ = [
    "BatchFold",
    "BatchLogFollower",
    "BatchState",
    "ItemState",
    "aclose_unfinished",
    "batch_state",
    "close_unfinished",
]


class ItemState(msgspec.Struct, kw_only=True):
    index: int
    tag: str
    status: ItemStatus = "queued"
    run_id: str | None = None
    #: Attempts that ended; the latest attempt begun; attempts ended since the item
    #: was last put back in the queue (what ``--retries`` counts).
    attempts: int = 0
    current: int = 0
    tries: int = 0
    #: Fix attempts begun since the item was last put back in the queue (what
    #: ``--fix-attempts`` counts), and the checks that failed it last.
    fixes: int = 0
    failing: list[CheckFailure] = []
    #: No further attempt will come (until the item is requeued).
    final: bool = False
    detail: str | None = None
    #: When its first attempt started, and when its final one ended.
    started: str | None = None
    finished: str | None = None


class BatchState(msgspec.Struct, kw_only=True):
    batch_id: str
    items: list[ItemState]
    #: The concurrency limit now (None until the supervisor says).
    limit: int | None = None
    ended: bool = False
    stopping: bool = False
    budget_spent: bool = False
    #: What the batch said along the way (limits moving, the budget), oldest first.
    notes: list[str] = []

    @property
    def succeeded(self) -> bool:
        return self.ended and all(item.status == "succeeded" for item in self.items)

    @property
    def run_ids(self) -> list[str]:
        return [item.run_id for item in self.items if item.run_id]


def batch_state(manifest: BatchManifest, events: Iterable[BatchEvent]) -> BatchState:
    """Where each item stands, from the batch's log. Pure."""
    fold = BatchFold(manifest)
    fold.feed(events)
    return fold.state


class BatchFold:
    """Where each item stands, folded from the batch's log one event after another:
    fed what the log gained, it stands where a fold of the whole log would."""

    def __init__(self, manifest: BatchManifest) -> None:
        self._items = {
            item.index: ItemState(index=item.index, tag=item.tag) for item in manifest.items
        }
        self.state = BatchState(batch_id=manifest.batch_id, items=list(self._items.values()))

    def feed(self, events: Iterable[BatchEvent]) -> None:
        state = self.state
        for event in events:
            match event:
                case SupervisorTook():
                    state.ended = False
                case AttemptStarted(item=index) if (item := self._items.get(index)) is not None:
                    item.run_id = event.run_id
                    item.current = max(item.current, event.attempt)
                    item.final = False
                    item.status = "running"
                    item.started = item.started or event.ts
                case AttemptEnded(item=index) if (item := self._items.get(index)) is not None:
                    item.run_id = event.run_id or item.run_id
                    item.attempts = max(item.attempts, event.attempt)
                    item.current = max(item.current, item.attempts)
                    item.tries += 1
                    if event.status == "checks-failed" and not event.final:
                        item.fixes += 1  # a fix attempt follows
                    item.final = event.final
                    item.status = event.status if event.final else "retrying"
                    item.detail = event.detail
                    item.finished = event.ts if event.final else None
                case AttemptChecked(item=index) if (item := self._items.get(index)) is not None:
                    item.failing = event.failed
                case LimitMoved():
                    state.limit = event.limit
                    if event.detail:
                        state.notes.append(event.detail)
                case Fetched(detail=detail) if detail:
                    state.notes.append(detail)
                case BudgetSpent():
                    state.budget_spent = True
                    state.notes.append(event.detail or "the budget is spent")
                case Requeued():
                    for index in event.items:
                        if again := self._items.get(index):
                            again.final, again.finished, again.tries = False, None, 0
                            again.fixes, again.failing = 0, []
                            again.status = "retrying" if again.run_id else "queued"
                    state.ended = state.stopping = state.budget_spent = False
                case NotifyFailed():
                    state.notes.append(f"{event.kind} notice to the {event.target}: {event.detail}")
                case Stopping():
                    state.stopping = True
                case Ended():
                    state.ended = True


class BatchLogFollower:
    """A batch's state kept up to date from its log, read on from where the last
    read stopped: a look at a batch of ten thousand prompts costs what is new.

    A log that is not the one read so far (another file by the same name, or one
    that shrank or whose beginning changed) is folded again from its start.
    """

    #: How much of the log's beginning tells it from another file by the same name.
    _HEAD = 256

    def __init__(self, paths: BatchPaths, manifest: BatchManifest) -> None:
        self.paths = paths
        self.manifest = manifest
        self._fold = BatchFold(manifest)
        self._offset = 0
        self._ino: int | None = None
        self._head = b""

    def read(self) -> BatchState:
        """Where the batch stands now (the follower's own state, changed by its next
        read: take what is needed from it first). Blocks (reads the log)."""
        try:
            log = open(self.paths.events, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            self._restart(None)
            return self._fold.state
        with log:
            info = os.fstat(log.fileno())
            if not self._same_log(log, info):
                self._restart(info.st_ino)
            log.seek(self._offset)
            data = log.read(max(0, info.st_size - self._offset))
        whole = data[: data.rfind(b"\n") + 1]  # what follows is being written
        if self._offset < self._HEAD:
            self._head = (self._head + whole)[: self._HEAD]
        self._fold.feed(decoded_events(whole))
        self._offset += len(whole)
        return self._fold.state

    def _same_log(self, log: BinaryIO, info: os.stat_result) -> bool:
        if info.st_ino != self._ino or info.st_size < self._offset:
            return False
        log.seek(0)
        return log.read(len(self._head)) == self._head

    def _restart(self, ino: int | None) -> None:
        self._fold, self._offset, self._ino, self._head = BatchFold(self.manifest), 0, ino, b""


def close_unfinished(paths: BatchPaths, manifest: BatchManifest, why: str) -> None:
    """End every item that has not ended as ``cancelled``, saying ``why``."""
    for item in batch_state(manifest, read_batch_events(paths)).items:
        if not item.final:
            attempt = item.current if item.status == "running" else item.attempts
            append_batch_event(
                paths,
                AttemptEnded(
                    item=item.index,
                    run_id=item.run_id,
                    attempt=attempt,
                    status="cancelled",
                    final=True,
                    # No run: it never started (a run made ahead of a slot is removed).
                    detail=why if item.run_id else f"not started: {why}",
                ),
            )


aclose_unfinished = async_twin(close_unfinished)
