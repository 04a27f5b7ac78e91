"""A connection on a unix socket, read and written with the loop's own socket calls.

anyio's unix stream wakes a waiting read by setting its future's result from the
loop's reader callback, unguarded. When a cancellation (a Ctrl-C) and the socket's
next bytes land in one turn of the loop, that wake-up reaches a future already
cancelled, and asyncio prints the ``InvalidStateError`` as a traceback. asyncio's
``sock_recv`` and ``sock_sendall`` look at their future first.
"""

from __future__ import annotations

import asyncio
import socket

import anyio
import anyio.lowlevel

__all__ = ["UnixConnection", "connect"]

#: How soon a connection the listener's full queue refused is tried again.
_QUEUE_FULL_RETRY = 0.01


class UnixConnection:
    """A connected unix socket: bytes in, bytes out, closed with :meth:`close`."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock

    async def receive(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes, as soon as any came; b"" once the peer closed.
        Raises OSError when the connection broke."""
        # A checkpoint first: a socket that always has bytes must not keep the loop.
        await anyio.lowlevel.checkpoint()
        return await asyncio.get_running_loop().sock_recv(self._socket, max_bytes)

    async def send(self, data: bytes) -> None:
        """All of ``data``. Raises OSError when the connection broke."""
        await anyio.lowlevel.checkpoint()
        await asyncio.get_running_loop().sock_sendall(self._socket, data)

    def close(self) -> None:
        self._socket.close()


async def connect(path: str) -> UnixConnection:
    """A connection to the socket at ``path``, waiting (for as long as the caller
    allows) while the listener's queue is full. Raises OSError when none is made."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        while True:
            try:
                sock.connect(path)
                break
            except BlockingIOError:
                # A full queue (EAGAIN). Not asyncio's sock_connect: it takes EAGAIN for
                # a connection under way, and a unix socket that is not connected is
                # writable at once, so it reports one that never connected as made.
                await anyio.sleep(_QUEUE_FULL_RETRY)
    except BaseException:
        sock.close()
        raise
    return UnixConnection(sock)
