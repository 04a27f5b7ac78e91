"""The web application: its routes, its guard, its headers, and one line for what
went wrong in the user's hands."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..errors import NotFound, ScadError
from . import _actions, _batch, _index, _run, _sse
from ._security import Handler, guard, set_headers
from ._sources import SERVED, Served

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A domain error as one line: JSON for an action or a live view, text for a page."""
    try:
        return await handler(request)
    except ScadError as exc:
        status = 404 if isinstance(exc, NotFound) else 409
        if request.method == "POST" or request.path.endswith(".json"):
            return web.json_response({"error": str(exc)}, status=status)
        return web.Response(text=f"{exc}\n", status=status)


async def _closing(app: web.Application) -> None:
    app[SERVED].closing.set()  # live streams end, so the server stops at once


def create_app(served: Served) -> web.Application:
    app = web.Application(middlewares=[guard(served.secrets, served.bound), _errors])
    app[SERVED] = served
    app.on_response_prepare.append(set_headers)
    app.on_shutdown.append(_closing)
    for routes in (_index.routes, _batch.routes, _run.routes, _sse.routes, _actions.routes):
        app.add_routes(routes())
    app.router.add_static("/static", STATIC, follow_symlinks=False)
    return app
