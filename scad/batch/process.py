"""A batch's life around its supervisor: made, supervised in a process of its own,
stopped, and put back in the queue (resume, retry).

A batch outlives its terminal: its supervisor runs in a session of its own (no
Ctrl-C, no SSH hang-up reaches it), writing the batch's log and the runs' logs,
and exits when the batch ends. That process is :func:`main`, started as
``python -P -m scad.batch.process BATCH_ID``: ``-P`` keeps the folder it was started
from off the import path, so a folder named ``scad`` there is never imported
in place of the installed package.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import anyio

from ..config.repos import check_repos
from ..config.schema import Config
from ..config.swarm import placed
from ..detached import last_line, spawn
from ..engine import endpoint_of
from ..errors import ScadError, SessionError
from ..home import Home, scad_home
from ..image.build import BuildProgress, build_image
from ..interrupts import run_until_stopped
from ..runs.containers import STOP_GRACE
from ..runs.records import aload_run, now_iso
from ..runs.supervisor import stop_run
from ..sessions.remote import check_swarm_config
from ..sessions.remote_engine import runs_on
from ..sessions.start import arequire_credentials
from ..sessions.start import check_runs_on as check_where
from .events import Ended, Requeued
from .prompts import BatchPrompt
from .standby import STANDBY_ARGS, Standby
from .state import aclose_unfinished, batch_state
from .store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    aappend_batch_event,
    aload_manifest,
    append_batch_event,
    aread_batch_events,
    asupervisor_pid,
    claim_batch_dir,
    item_tags,
    load_manifest,
    read_batch_events,
    save_manifest,
    supervisor_pid,
)

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["check_runs_on", "create_batch", "main", "requeue", "spawn_supervisor", "stop_batch"]

#: How long a new supervisor may take to take its batch.
SPAWN_SECONDS = 30
#: How long a supervisor may take to stop its runs and end (each is stopped,
#: caught up and removed; all at once).
STOP_SECONDS = STOP_GRACE + 120


def check_runs_on(config: Config) -> None:
    """Refuse, before anything is made, a batch whose runs cannot go where its config
    sends them (a swarm it does not say how to reach)."""
    if config.runs_on == "swarm":
        check_swarm_config(config)


async def create_batch(
    engine: Engine,
    home: Home,
    config: Config,
    prompts: list[BatchPrompt],
    *,
    tag: str,
    source: str,
    options: BatchOptions,
    build_progress: Callable[[BuildProgress], None] | None = None,
) -> BatchManifest:
    """Check what every run will need, build the image once, and write the manifest.
    Nothing runs yet; :func:`run_batch` runs it."""
    placed_config = placed(config, options.runs_on)
    check_runs_on(placed_config)
    check_where(engine, placed_config, runs_on(engine, placed_config), headless=True)
    tags = item_tags(tag, prompts)
    await check_repos(config, f"{config.name}.yml")
    await arequire_credentials()
    image = (await build_image(engine, home, config, progress=build_progress)).image

    def manifest_of(batch_id: str) -> BatchManifest:
        return BatchManifest(
            batch_id=batch_id,
            config=config.name,
            tag=tag,
            created=now_iso(),
            image=image,
            source=source,
            options=options,
            items=[
                BatchItem(
                    index=number,
                    tag=item_tag,
                    prompt=prompt.prompt,
                    model=prompt.model,
                    max_turns=prompt.max_turns,
                )
                for number, (prompt, item_tag) in enumerate(
                    zip(prompts, tags, strict=True), start=1
                )
            ],
        )

    return await anyio.to_thread.run_sync(_claim_batch, home, config.name, tag, manifest_of)


def _claim_batch(
    home: Home, config: str, tag: str, manifest_of: Callable[[str], BatchManifest]
) -> BatchManifest:
    """Claim a batch folder and write its manifest in one step: an interrupted
    `batch` leaves a batch that `batch status` lists, or no folder at all."""
    batch_id = claim_batch_dir(home, config, tag, datetime.now())
    paths = BatchPaths(home, batch_id)
    manifest = manifest_of(batch_id)
    try:
        save_manifest(paths, manifest)
    except BaseException:
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    return manifest


async def spawn_supervisor(home: Home, batch_id: str, standby: Standby | None = None) -> int:
    """Start the batch's supervisor in the background (the ``standby`` one, when it is
    still there); returns its pid once it holds the batch. Raises with what it said
    if it ends before."""
    paths = BatchPaths(home, batch_id)
    process = standby.hand_over(batch_id) if standby else None
    if process is None:
        process = await anyio.to_thread.run_sync(_start_process, home, paths, batch_id)
    with anyio.move_on_after(SPAWN_SECONDS):
        while True:
            if process.poll() is not None:
                break
            if await asupervisor_pid(paths) == process.pid:
                return process.pid
            await anyio.sleep(0.05)
    if process.poll() is None:
        raise SessionError(
            f"the supervisor of {batch_id} (pid {process.pid}) has not taken the batch after "
            f"{SPAWN_SECONDS} s; see {paths.supervisor_log} and `scad batch status {batch_id}`"
        )
    raise SessionError(
        f"the supervisor of {batch_id} ended at once: {await anyio.to_thread.run_sync(last_line, paths.supervisor_log)}"
    )


def _start_process(home: Home, paths: BatchPaths, batch_id: str) -> subprocess.Popen[bytes]:
    # SCAD_HOME absolute: the supervisor runs in `/`.
    return spawn(
        __name__, [batch_id], paths.supervisor_log, {**os.environ, "SCAD_HOME": str(home.root)}
    )


async def stop_batch(engine: Engine, home: Home, batch_id: str) -> None:
    """Stop the batch: its live supervisor is asked to (it stops its runs and keeps
    them as ``cancelled``); when it died, what it left running is stopped here, the
    same way."""
    paths = BatchPaths(home, batch_id)
    manifest = await aload_manifest(home, batch_id)
    pid = await asupervisor_pid(paths)
    if pid is not None:
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):  # it was ending anyway
                os.kill(pid, signal.SIGTERM)
        # (A pid of -1: a supervisor took the lock but has not written its pid yet.)
        with anyio.move_on_after(STOP_SECONDS) as waited:
            while await asupervisor_pid(paths) is not None:  # noqa: ASYNC110 (another process)
                await anyio.sleep(0.2)
        if waited.cancelled_caught:
            raise SessionError(f"the supervisor of {batch_id} (pid {pid}) did not stop in time")
    # What a supervisor left (it died, or was killed while stopping) is stopped here.
    state = batch_state(manifest, await aread_batch_events(paths))
    if state.ended:
        return
    for item in state.items:
        if not item.final and item.run_id:
            record = await aload_run(home, item.run_id)
            await stop_run(engine, home, record, record.container_id)
    await aclose_unfinished(paths, manifest, "the batch was stopped")
    await aappend_batch_event(paths, Ended())


def requeue(home: Home, batch_id: str, *, failed_only: bool) -> list[int]:
    """The items a new supervisor of the batch will run. ``failed_only`` (retry):
    those that ended without success, put back in the queue; else (resume) those
    that have not ended, which a new supervisor picks up by itself."""
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
    append_batch_event(paths, Requeued(items=again))
    return again


def main(argv: list[str] | None = None) -> None:
    """The background supervisor's process: supervise the batch named on the command
    line (in ``$SCAD_HOME``), or standing by the one its input names, to its end.
    Its output is the supervisor's log. A SIGTERM or Ctrl-C before the batch's own
    handler is up stops it as an anyio cancellation (see :mod:`scad.interrupts`)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        stopped = anyio.run(
            run_until_stopped, partial(_stand_by_or_supervise, scad_home(), args), backend="asyncio"
        )
    except ScadError as exc:
        sys.stderr.write(f"scad: error: {exc}\n")
        sys.exit(exc.exit_code)
    except _CannotSupervise:
        sys.exit(1)
    if stopped is not None:
        sys.exit(stopped)


async def _stand_by_or_supervise(home: Home, args: list[str]) -> None:
    """The batch supervised, saying how it ended; a standby waits for its batch with its
    event loop already up (asyncio's import and start are off the batch's path)."""
    if args == STANDBY_ARGS:
        if (batch_id := await anyio.to_thread.run_sync(_stand_by)) is None:
            return
    else:
        (batch_id,) = args
    ended = await _supervise(home, batch_id)
    sys.stderr.write(f"batch {batch_id} ended: {ended}\n")


#: What :func:`_supervise` imports (a command that imports this module does not). A
#: swarm batch, or one on an engine elsewhere, imports the Docker client after it is
#: handed its batch: most batches never do.
_SUPERVISING = ("scad.batch.run", "scad.config.registry", "scad.engine._socket")


def _stand_by() -> str | None:
    """What supervising takes imported, the batch id read from the input (None: the
    command ended without one), and the output sent to that batch's log."""
    failed = None
    try:
        for module in _SUPERVISING:  # imported while the command makes the batch
            importlib.import_module(module)
    except Exception:  # said in the batch's log, where the command looks for why
        failed = traceback.format_exc()
    line = sys.stdin.buffer.readline(1024)
    if not line.endswith(b"\n"):
        return None
    batch_id = line.decode().strip()
    with open(BatchPaths(scad_home(), batch_id).supervisor_log, "ab") as log:
        os.dup2(log.fileno(), sys.stdout.fileno())
        os.dup2(log.fileno(), sys.stderr.fileno())
    if failed:
        sys.stderr.write(failed)
        raise _CannotSupervise
    return batch_id


class _CannotSupervise(Exception):
    """What supervising takes could not be imported (why is in the batch's log)."""


async def _supervise(home: Home, batch_id: str) -> str:
    from ..config.registry import aload_registered
    from ..engine import open_engine, open_socket_engine
    from .run import run_batch

    manifest = await aload_manifest(home, batch_id)
    config = await aload_registered(home, manifest.config)
    async with open_batch_engine(manifest, open_engine, open_socket_engine) as engine:
        state = await run_batch(engine, home, config, batch_id)
    succeeded = sum(1 for item in state.items if item.status == "succeeded")
    return f"{succeeded}/{len(state.items)} succeeded"


def open_batch_engine(
    manifest: BatchManifest,
    open_client: Callable[..., AbstractAsyncContextManager[Engine]],
    open_socket: Callable[[], AbstractAsyncContextManager[Engine]],
) -> AbstractAsyncContextManager[Engine]:
    """The engine a batch's supervisor works through: on a local engine, the socket
    engine (a container's life asked straight on the socket, no client imported);
    a swarm's services, or an engine on another host, take ``open_client``'s client
    with a pool sized for the batch (:func:`engine_connections`)."""
    if manifest.options.runs_on == "swarm" or endpoint_of(os.environ).socket is None:
        return open_client(max_connections=engine_connections(manifest.options.parallel))
    return open_socket()


def engine_connections(parallel: int) -> int:
    """Client connections for a batch: each run holds an attach stream and a wait,
    and so does each run made ahead of a slot (up to ``parallel``) its attach
    stream; stops and catch-ups need more."""
    return max(100, 4 * parallel + 20)


if __name__ == "__main__":
    main()
