"""A listener's accept loop: as many connections at once as its slots hold, each
handled in a task of its own, and a shortage of descriptors or memory waited out
instead of ending the listener (the CONNECT proxy's, which every fenced run needs).
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import SocketListener, SocketStream

__all__ = ["serve_listener"]

#: How long a listener waits to accept again when the process runs short of
#: descriptors or memory (the connection waits in the backlog meanwhile).
ACCEPT_BACKOFF = 0.5
_ACCEPT_SHORTAGES = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED}
)


async def serve_listener(
    listener: SocketListener,
    handle: Callable[[SocketStream], Awaitable[None]],
    slots: anyio.Semaphore,
) -> None:
    """Accept on ``listener`` and ``handle`` each connection, as many at once as
    ``slots`` holds. A shortage of descriptors or memory waits and accepts again: a
    flood of connections must not end the proxy for every run."""
    async with anyio.create_task_group() as tg:
        while True:
            await slots.acquire()
            try:
                client = await listener.accept()
            except OSError as exc:
                slots.release()
                if exc.errno not in _ACCEPT_SHORTAGES:
                    raise
                await anyio.sleep(ACCEPT_BACKOFF)
                continue
            tg.start_soon(_serve_in_slot, client, handle, slots)


async def _serve_in_slot(
    client: SocketStream, handle: Callable[[SocketStream], Awaitable[None]], slots: anyio.Semaphore
) -> None:
    try:
        await handle(client)
    finally:
        slots.release()
