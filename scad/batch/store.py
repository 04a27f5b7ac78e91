"""Batches on disk: ``batches/<batch-id>/``, what a batch is and what became of it.

manifest.json     what was asked: the prompts, the options, the image (written once)
events.jsonl      what the batch's supervisor did, one event a line (append-only)
.supervisor       locked by the live supervisor process (the kernel drops the lock
                  when it dies), holding its pid
supervisor.log    what a background supervisor printed

Each prompt is an *item*; it runs as one run (``runs/<run-id>/``, whose record
names the batch and the item), through as many attempts as it needs. Where an
item stands is folded from the event log (:func:`batch_state`), so any process
can show a batch: the supervisor writes, views only read.

Its functions block (a lock, an fsync, a folder scan); async code calls their
``a``-prefixed twins, which run them off the event loop.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, BinaryIO

import anyio
import msgspec

from ..config.schema import NotifySettings
from ..config.swarm import Target
from ..errors import NotFound, SessionError, UsageError
from ..home import Home
from ..names import ids_like, ids_named, make_run_id
from ..runs.records import now_iso
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
from .prompts import BatchPrompt

__all__ = [
    "BatchFold",
    "BatchItem",
    "BatchLogFollower",
    "BatchManifest",
    "BatchOptions",
    "BatchPaths",
    "BatchState",
    "ItemState",
    "SupervisorLock",
    "aappend_batch_event",
    "aclose_unfinished",
    "aload_manifest",
    "append_batch_event",
    "aread_batch_events",
    "asupervisor_pid",
    "batch_over",
    "batch_state",
    "claim_batch_dir",
    "close_unfinished",
    "find_batch_id",
    "item_tags",
    "list_batches",
    "load_manifest",
    "read_batch_events",
    "save_manifest",
    "supervisor_pid",
]


class BatchOptions(msgspec.Struct, frozen=True, kw_only=True):
    parallel: int = 4
    #: Seconds a run may take in all; None: no limit.
    timeout: float | None = None
    #: Seconds a run may go without printing anything.
    idle_timeout: float | None = None
    #: Further attempts for a run that was rate-limited, hung or crashed.
    retries: int = 0
    #: Seconds before the first retry (doubling after).
    backoff: float = 10.0
    #: What the batch may spend in all (US dollars); the gateway refuses its runs past it.
    budget_usd: float | None = None
    #: What each run may spend (US dollars); the gateway refuses a run past it.
    max_usd_per_run: float | None = None
    #: Seconds between two starts, past the first ``burst`` (see :class:`StartPace`).
    stagger: float = 0.05
    #: Starts that may go at once before ``stagger`` spaces them.
    burst: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: Bring each run's branches home once it succeeded (``scad code fetch``).
    fetch: bool = False
    #: Further attempts for a run whose checks failed, each told what failed.
    fix_attempts: int = 0
    #: Who is told in place of the config's ``notify:`` (``--notify``); None: the config's.
    notify: NotifySettings | None = None
    #: Where its runs go (``--on``, else the config's ``runs_on`` when it was made).
    runs_on: Target = "local"


class BatchItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One prompt of the batch: item ``index`` (from 1) runs under tag ``tag``."""

    index: int
    tag: str
    prompt: str
    model: str | None = None
    max_turns: int | None = None


class BatchManifest(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    config: str
    tag: str
    created: str
    image: str
    #: Where the prompts came from (a file, ``-`` for standard input, or ``--prompt``).
    source: str
    options: BatchOptions
    items: list[BatchItem]


class BatchPaths:
    def __init__(self, home: Home, batch_id: str) -> None:
        self.root = home.root / "batches" / batch_id

    @property
    def manifest(self) -> str:
        return str(self.root / "manifest.json")

    @property
    def events(self) -> str:
        return str(self.root / "events.jsonl")

    @property
    def supervisor(self) -> str:
        return str(self.root / ".supervisor")

    @property
    def supervisor_log(self) -> str:
        return str(self.root / "supervisor.log")


def claim_batch_dir(home: Home, config: str, tag: str, now: datetime) -> str:
    """A fresh batch id and its directory; unique even against a racing start."""
    batches = home.root / "batches"
    batches.mkdir(parents=True, exist_ok=True)
    while True:
        existing = {p.name for p in batches.iterdir()}
        batch_id = make_run_id(config, tag, now, existing=existing)
        try:
            (batches / batch_id).mkdir(mode=0o700)
        except FileExistsError:
            continue
        return batch_id


def item_tags(tag: str, prompts: list[BatchPrompt]) -> list[str]:
    """The run tag of each prompt: its own, else the batch's and its number (``fix-07``)."""
    width = max(2, len(str(len(prompts))))
    tags, problems = [], []
    for number, prompt in enumerate(prompts, start=1):
        item_tag = f"{tag}-{prompt.tag}" if prompt.tag else f"{tag}-{number:0{width}d}"
        if len(item_tag) > 40:
            where = f"line {prompt.line}: " if prompt.line else ""
            problems.append(
                f"{where}the run tag {item_tag} is longer than 40 characters; "
                "use a shorter --tag or item tag"
            )
        tags.append(item_tag)
    if problems:
        raise UsageError("\n".join(problems))
    return tags


def save_manifest(paths: BatchPaths, manifest: BatchManifest) -> None:
    tmp = paths.manifest + ".tmp"
    with open(tmp, "wb") as out:
        out.write(msgspec.json.format(msgspec.json.encode(manifest), indent=2))
    os.replace(tmp, paths.manifest)


def load_manifest(home: Home, batch_id: str) -> BatchManifest:
    paths = BatchPaths(home, batch_id)
    try:
        with open(paths.manifest, "rb") as file:
            return msgspec.json.decode(file.read(), type=BatchManifest)
    except FileNotFoundError:
        known = list_batches(home)
        hint = f"; batches: {', '.join(known[-5:])}" if known else ""
        raise NotFound(f'no batch "{batch_id}"{hint}') from None
    except msgspec.DecodeError as exc:
        raise NotFound(f"batch {batch_id} has an unreadable manifest ({exc})") from None


def find_batch_id(home: Home, text: str) -> str:
    """The id of the batch a user named: its id or any unique beginning of it."""
    named = ids_named(text, list_batches(home))
    if len(named) == 1:
        return named[0]
    if named:
        shown = ", ".join(named[:6]) + (", ..." if len(named) > 6 else "")
        raise UsageError(f'"{text}" begins {len(named)} batch ids ({shown}); give more of one')
    if ids_named(text, home.run_ids()):
        raise NotFound(f'"{text}" is a run, not a batch; `scad session info {text}` shows it')
    if close := ids_like(text, list_batches(home)):
        raise NotFound(f'no batch "{text}"; did you mean {", ".join(close)}?')
    raise NotFound(f'no batch "{text}"; see `scad batch status`')


def list_batches(home: Home) -> list[str]:
    batches = home.root / "batches"
    if not batches.is_dir():
        return []
    return sorted(p.name for p in batches.iterdir() if (p / "manifest.json").is_file())


def append_batch_event(paths: BatchPaths, event: BatchEvent) -> BatchEvent:
    """Append one event, stamped now, whole, under the batch's lock, and sync it."""
    envelope = msgspec.structs.replace(event, ts=now_iso())
    line = msgspec.json.encode(envelope) + b"\n"
    fd = os.open(paths.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return envelope


_decode_event = msgspec.json.Decoder(BatchEvent).decode


def read_batch_events(paths: BatchPaths) -> list[BatchEvent]:
    """Every complete event of the batch's log (a partial last line is left)."""
    try:
        with open(paths.events, "rb") as log:
            data = log.read()
    except FileNotFoundError:
        return []
    return list(_decoded(data[: data.rfind(b"\n") + 1]))


def _decoded(lines: bytes) -> Iterator[BatchEvent]:
    """The events of complete lines; a line that does not decode is left unread."""
    for line in lines.split(b"\n"):
        try:
            yield _decode_event(line)
        except msgspec.DecodeError:
            continue  # a partial line, or an event a later version wrote


def supervisor_pid(paths: BatchPaths) -> int | None:
    """The pid of the live process supervising the batch, if one does."""
    try:
        fd = os.open(paths.supervisor, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        return None
    finally:
        os.close(fd)


class SupervisorLock:
    """The batch's supervisor lock, held (with this process's pid in it) for as long
    as this process supervises the batch; the kernel drops it if the process dies.
    ``async with`` takes and drops it off the event loop."""

    def __init__(self, paths: BatchPaths) -> None:
        self.paths = paths
        self.fd = -1

    def __enter__(self) -> SupervisorLock:
        self.fd = os.open(self.paths.supervisor, os.O_RDWR | os.O_CREAT, 0o600)
        # A view looking (supervisor_pid holds a shared lock for an instant) is not
        # a supervisor: try again a little before giving up.
        for _ in range(50):
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.01)
        else:
            os.close(self.fd)
            batch_id = self.paths.root.name
            raise SessionError(
                f"batch {batch_id} is supervised already (pid {supervisor_pid(self.paths)}); "
                f"watch it with `scad batch watch {batch_id}`"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *_: object) -> None:
        os.ftruncate(self.fd, 0)  # no stale pid for the next to find
        os.close(self.fd)  # releases the lock

    async def __aenter__(self) -> SupervisorLock:
        # Shielded: a lock taken just as the caller is cancelled is still dropped
        # (by __aexit__), not held until the process ends.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.__enter__)
        return self

    async def __aexit__(self, *_: object) -> None:
        # Shielded: a supervisor leaving because it was cancelled (Ctrl-C, its work
        # done) must drop the lock, or its own views see it supervising still.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.__exit__)


def batch_over(paths: BatchPaths) -> bool:
    """Nothing more will happen to the batch on its own: no supervisor holds it (it
    ended, died, or never started; a new one takes the lock before it writes)."""
    return supervisor_pid(paths) is None


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
        self._fold.feed(_decoded(whole))
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


aload_manifest = async_twin(load_manifest)
aappend_batch_event = async_twin(append_batch_event)
aread_batch_events = async_twin(read_batch_events)
asupervisor_pid = async_twin(supervisor_pid)
aclose_unfinished = async_twin(close_unfinished)
