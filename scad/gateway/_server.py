"""Serving the gateway on its addresses: the model API (and a run's word that it waits
for its user) on one port, the CONNECT proxy of fenced runs on another."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

import aiohttp
import anyio
import msgspec
from aiohttp import web

from ..config.schema import NotifySettings
from ..home import Home
from ..notify.deliver import deliver
from ..notify.hook import IDLE_PATH
from ..notify.notifier import Deliver, Notifier
from ._connect_proxy import open_connect_proxy
from ._credentials import CredentialSource
from ._egress import token_admission
from ._idle import IdleNotices, report_failures
from ._journal import Journal
from ._lifecycle import LOOPBACK
from ._proxy import Gateway

__all__ = ["LOOPBACK", "Listening", "serve_gateway"]
#: How long a new connection to the model API may take; an answer may take as long
#: as it takes (the API keeps a quiet stream alive with pings).
_CONNECT_SECONDS = 30
#: How long a client's connection may sit without a whole request head: from its
#: first byte, and between requests (Claude Code opens another when it needs one).
HEAD_SECONDS = 30.0
#: How long the rest of a refused request's body is read and dropped, so its client
#: sees the answer rather than a reset connection.
_LINGER_SECONDS = 2.0


class Listening(msgspec.Struct, frozen=True):
    port: int
    addresses: list[str]
    proxy_port: int


@asynccontextmanager
async def serve_gateway(
    home: Home,
    credential: CredentialSource | None,
    *,
    addresses: Sequence[str] = (),
    port: int = 0,
    proxy_port: int = 0,
    deliver: Deliver = deliver,
) -> AsyncIterator[Listening]:
    """Serve the gateway of ``home`` on 127.0.0.1 and ``addresses``, until the block ends.

    ``port`` and ``proxy_port`` are the ones to take again (a restarted gateway keeps
    its runs' address); when the first is taken by something else, any free port.
    ``deliver`` delivers the notices of runs that wait for their users.
    """
    journal = Journal(home)
    notifier = Notifier(NotifySettings(), partial(report_failures, journal), deliver=deliver)
    # No pool limit: every stream a run has open holds a connection, and runs are
    # bounded where they start; compressed answers pass through as they are.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_SECONDS)
    async with (
        aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, trust_env=True
        ) as client,
        anyio.create_task_group() as tg,
    ):
        await tg.start(journal.run)
        gateway = Gateway(home, credential, client, journal)
        idle = IdleNotices(home, notifier)
        runner = web.AppRunner(
            gateway.application(web.post(IDLE_PATH, idle.heard)),
            access_log=None,
            shutdown_timeout=5.0,
            keepalive_timeout=HEAD_SECONDS,
            lingering_time=_LINGER_SECONDS,
        )
        await runner.setup()
        everywhere = [LOOPBACK, *(a for a in addresses if a != LOOPBACK)]
        try:
            async with notifier:
                try:
                    api_port = await _listen(runner, everywhere, port)
                    async with _open_proxy(home, everywhere, proxy_port) as proxy:
                        yield Listening(port=api_port, addresses=everywhere, proxy_port=proxy)
                finally:
                    # A notice still on its way when the gateway stops is given up.
                    notifier.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()
                journal.close()


@asynccontextmanager
async def _open_proxy(home: Home, addresses: list[str], port: int) -> AsyncIterator[int]:
    """The CONNECT proxy on ``port`` when it is free, else on any free port."""
    admit = token_admission(home)
    async with AsyncExitStack() as stack:
        try:
            served = await stack.enter_async_context(
                open_connect_proxy(admit, hosts=addresses, port=port)
            )
        except OSError as exc:
            if port == 0 or exc.errno != errno.EADDRINUSE:
                raise
            served = await stack.enter_async_context(open_connect_proxy(admit, hosts=addresses))
        yield served.port


async def _listen(runner: web.AppRunner, addresses: list[str], port: int) -> int:
    try:
        await web.TCPSite(runner, addresses[0], port).start()
    except OSError as exc:
        if port == 0 or exc.errno != errno.EADDRINUSE:
            raise
        await web.TCPSite(runner, addresses[0], 0).start()
    bound = runner.addresses[0][1]
    for address in addresses[1:]:
        await web.TCPSite(runner, address, bound).start()
    return bound
