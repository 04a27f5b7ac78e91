"""Serving the web view: bound first (so its address, port and all, is known to its
guard), then served until the block ends, its runner cleaned up whatever ends it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from aiohttp import web

from ._app import create_app
from ._security import Bound, Secrets
from ._sources import Served, Sources

__all__ = ["Serving", "serve_ui"]

#: How long open connections are given to end when the server stops.
SHUTDOWN_SECONDS = 1.0


class Serving:
    """A running server: where it listens, and the address to open (token and all)."""

    def __init__(self, bound: Bound, token: str) -> None:
        self.bound = bound
        self.url = f"{bound.origin}/?token={token}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def serve_ui(
    sources: Sources, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Serving]:
    """Serve the web view on ``host:port`` (0: a free port) until the block exits.
    Raises OSError when it cannot listen there."""
    sock = _bind(host, port)
    bound = Bound(host, sock.getsockname()[1])
    served = Served(sources=sources, secrets=Secrets.create(), bound=bound)
    runner = web.AppRunner(
        create_app(served),
        access_log=None,
        handler_cancellation=True,  # a page closed ends its stream
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        yield Serving(bound, served.secrets.token)
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
        sock.close()
