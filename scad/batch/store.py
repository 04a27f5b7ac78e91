"""Batches on disk: ``batches/<batch-id>/``, what a batch is and what became of it.

manifest.json     what was asked: the prompts, the options, the image (written once)
events.jsonl      what the batch's supervisor did, one event a line (append-only)
.supervisor       locked by the live supervisor process (the kernel drops the lock
                  when it dies), holding its pid
supervisor.log    what a background supervisor printed

Each prompt is an *item*; it runs as one run (``runs/<run-id>/``, whose record
names the batch and the item), through as many attempts as it needs. Where an
item stands is folded from the event log (:func:`.state.batch_state`), so any process
can show a batch: the supervisor writes, views only read.

Its functions block (a lock, an fsync, a folder scan); async code calls their
``a``-prefixed twins, which run them off the event loop.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

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
    BatchEvent,
)
from .prompts import BatchPrompt

__all__ = [
    "BatchItem",
    "BatchManifest",
    "BatchOptions",
    "BatchPaths",
    "SupervisorLock",
    "aappend_batch_event",
    "aload_manifest",
    "append_batch_event",
    "aread_batch_events",
    "asupervisor_pid",
    "batch_over",
    "claim_batch_dir",
    "decoded_events",
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
    return list(decoded_events(data[: data.rfind(b"\n") + 1]))


def decoded_events(lines: bytes) -> Iterator[BatchEvent]:
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


aload_manifest = async_twin(load_manifest)
aappend_batch_event = async_twin(append_batch_event)
aread_batch_events = async_twin(read_batch_events)
asupervisor_pid = async_twin(supervisor_pid)
