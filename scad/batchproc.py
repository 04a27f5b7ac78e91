"""A batch's supervisor as a process of its own: started in the background, stopped,
and the batch put back in the queue (resume, retry).

A batch outlives its terminal: its supervisor runs in a session of its own (no
Ctrl-C, no SSH hang-up reaches it), writing the manifest's event log and the
runs' logs, and exits when the batch ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio

from .batches import (
    BatchPaths,
    append_batch_event,
    batch_state,
    load_manifest,
    read_batch_events,
    supervisor_pid,
)
from .errors import ScadError, SessionError
from .home import Home
from .runlog import catch_up
from .runs import load_run
from .supervisor import STOP_GRACE

if TYPE_CHECKING:
    from .specs import Engine

__all__ = ["requeue", "spawn_supervisor", "stop_batch"]

#: How long a new supervisor may take to take its batch.
SPAWN_SECONDS = 30
#: How long a supervisor may take to stop its runs and end (each is stopped,
#: caught up and removed; all at once).
STOP_SECONDS = STOP_GRACE + 120


async def spawn_supervisor(home: Home, batch_id: str) -> int:
    """Start the batch's supervisor in the background; returns its pid once it holds
    the batch. Raises with what it said if it ends before."""
    paths = BatchPaths(home, batch_id)
    process = _start_process(home, paths, batch_id)
    with anyio.move_on_after(SPAWN_SECONDS):
        while True:
            if process.poll() is not None:
                break
            if supervisor_pid(paths) == process.pid:
                return process.pid
            await anyio.sleep(0.05)
    if process.poll() is None:
        return process.pid  # slow, but alive: the view will tell
    raise SessionError(
        f"the supervisor of {batch_id} ended at once: {_last_line(paths.supervisor_log)}"
    )


def _start_process(home: Home, paths: BatchPaths, batch_id: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SCAD_HOME": str(home.root)}
    with open(paths.supervisor_log, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "scad", "batch", "supervise", batch_id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,  # no terminal's signals reach it
        )


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = log.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return lines[-1] if lines else "(no output)"


async def stop_batch(engine: Engine, home: Home, batch_id: str) -> None:
    """Stop the batch: its live supervisor is asked to (it stops its runs and keeps
    them as ``cancelled``); when it died, what it left running is stopped here."""
    paths = BatchPaths(home, batch_id)
    manifest = load_manifest(home, batch_id)
    pid = supervisor_pid(paths)
    if pid is not None and pid > 0:
        os.kill(pid, signal.SIGTERM)
        with anyio.move_on_after(STOP_SECONDS):
            while True:
                if supervisor_pid(paths) is None:
                    return
                await anyio.sleep(0.2)
        raise SessionError(f"the supervisor of {batch_id} (pid {pid}) did not stop in time")
    state = batch_state(manifest, read_batch_events(paths))
    if state.ended:
        return
    for item in state.items:
        if item.final:
            continue
        if item.run_id:
            record = load_run(home, item.run_id)
            if record.container_id:
                try:
                    await engine.stop(record.container_id, grace=STOP_GRACE)
                    await catch_up(engine, home, record)
                except ScadError:
                    pass  # gone already: its log says so
        append_batch_event(
            paths,
            "attempt",
            item=item.index,
            run_id=item.run_id,
            attempt=item.attempts,
            status="cancelled",
            final=True,
            detail="the batch was stopped",
        )
    append_batch_event(paths, "ended")


def requeue(home: Home, batch_id: str, *, failed_only: bool) -> list[int]:
    """Put the batch's items back in the queue for a new supervisor: with
    ``failed_only`` (retry) the ended ones that did not succeed, else (resume)
    nothing: a resumed supervisor picks up what is not final by itself."""
    paths = BatchPaths(home, batch_id)
    manifest = load_manifest(home, batch_id)
    if (pid := supervisor_pid(paths)) is not None:
        raise SessionError(
            f"batch {batch_id} is being supervised (pid {pid}); "
            f"watch it with `scad batch watch {batch_id}` or stop it with `scad batch stop {batch_id}`"
        )
    state = batch_state(manifest, read_batch_events(paths))
    if not failed_only:
        if state.ended:
            raise SessionError(
                f"batch {batch_id} has ended; run the prompts that did not succeed "
                f"again with `scad batch retry {batch_id}`"
            )
        return [item.index for item in state.items if not item.final]
    again = [item.index for item in state.items if item.final and item.status != "succeeded"]
    if not state.ended and not again:
        raise SessionError(
            f"batch {batch_id} has not ended (its supervisor died); pick it up with "
            f"`scad batch resume {batch_id}`"
        )
    if not again:
        raise SessionError(f"every prompt of batch {batch_id} succeeded; nothing to retry")
    append_batch_event(paths, "requeued", items=again)
    return again
