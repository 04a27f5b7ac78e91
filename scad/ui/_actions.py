"""What a page may change, each the very library call its command makes: stop a run
(``session stop``), stop a batch (``batch stop``), run a batch's failed prompts again
(``batch retry``), bring a run's branches home (``code fetch``). Each answers JSON.

Only POSTs reach these, past the origin and CSRF checks (:mod:`._security`).
"""

from __future__ import annotations

import anyio
import msgspec
from aiohttp import web

from ..batch import process
from ..batch.store import aload_manifest, find_batch_id
from ..code.fetch import fetch_run
from ..config.registry import load_registered
from ..runs.records import find_run
from ..sessions import stop_sessions
from ._sources import served

__all__ = ["routes"]


def _answer(value: object) -> web.Response:
    return web.json_response(msgspec.to_builtins(value))


async def stop_run(request: web.Request) -> web.Response:
    state = served(request)
    home = state.sources.home
    record = await anyio.to_thread.run_sync(find_run, home, request.match_info["run_id"])
    async with state.sources.open_engine() as engine:
        results = await stop_sessions(engine, home, [record])
    return _answer({"results": results})


async def fetch_branches(request: web.Request) -> web.Response:
    home = served(request).sources.home
    record = await anyio.to_thread.run_sync(find_run, home, request.match_info["run_id"])
    return _answer(await fetch_run(home, record))


async def _batch_id(request: web.Request) -> str:
    home = served(request).sources.home
    return await anyio.to_thread.run_sync(find_batch_id, home, request.match_info["batch_id"])


async def stop_batch(request: web.Request) -> web.Response:
    state = served(request)
    batch_id = await _batch_id(request)
    async with state.sources.open_engine() as engine:
        await process.stop_batch(engine, state.sources.home, batch_id)
    return _answer({"stopped": batch_id})


async def retry_batch(request: web.Request) -> web.Response:
    """As ``batch retry`` does: the config must still load, the prompts that did not
    succeed go back in the queue, and a supervisor takes them in the background."""
    home = served(request).sources.home
    batch_id = await _batch_id(request)
    manifest = await aload_manifest(home, batch_id)
    await anyio.to_thread.run_sync(load_registered, home, manifest.config)
    items = await anyio.to_thread.run_sync(
        lambda: process.requeue(home, batch_id, failed_only=True)
    )
    pid = await process.spawn_supervisor(home, batch_id)
    return _answer({"batch_id": batch_id, "requeued": items, "supervisor": pid})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/run/{run_id}/stop", stop_run),
        web.post("/run/{run_id}/fetch", fetch_branches),
        web.post("/batch/{batch_id}/stop", stop_batch),
        web.post("/batch/{batch_id}/retry", retry_batch),
    ]
