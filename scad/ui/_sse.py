"""``/run/ID/events``: a run's log as server-sent events, from the offset the page
was rendered to (or the ``Last-Event-ID`` a reconnecting browser sends): each event's
id is the offset after its lines, so a stream resumed there repeats and loses none."""

from __future__ import annotations

import anyio
import msgspec
from aiohttp import web

from ..runs.records import RunPaths, find_run
from ._follow import follow_log
from ._log import LogChunk
from ._params import count
from ._sources import served

__all__ = ["event_bytes", "routes", "start_offset"]

#: How soon a browser reconnects after the stream broke, in milliseconds.
RETRY_MS = 1000


def event_bytes(chunk: LogChunk) -> bytes:
    """One event: its id the offset after the lines, its data the lines as a JSON
    array (JSON escapes every line break: a line cannot end the event early)."""
    return b"id: %d\ndata: %s\n\n" % (chunk.end, msgspec.json.encode(chunk.lines))


def start_offset(last_event_id: str | None, offset: str | None) -> int:
    """Where the stream starts: the last event a reconnecting browser saw, else the
    offset the page was rendered to, else the log's start."""
    for given in (last_event_id, offset):
        if (start := count(given)) is not None:
            return start
    if last_event_id is not None or offset is not None:
        raise web.HTTPBadRequest(text="the offset is a number of bytes\n")
    return 0


async def run_events(request: web.Request) -> web.StreamResponse:
    state = served(request)
    home = state.sources.home
    record = await anyio.to_thread.run_sync(find_run, home, request.match_info["run_id"])
    offset = start_offset(request.headers.get("Last-Event-ID"), request.query.get("offset"))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    await response.write(b"retry: %d\n\n" % RETRY_MS)

    async def send(chunk: LogChunk) -> None:
        await response.write(event_bytes(chunk))

    await follow_log(state.followers, RunPaths(home, record.run_id), offset, send)
    return response


def routes() -> list[web.RouteDef]:
    return [web.get("/run/{run_id}/events", run_events)]
