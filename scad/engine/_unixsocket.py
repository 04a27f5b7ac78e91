"""A connection on a unix socket, read and written with the loop's own socket calls.

anyio's unix stream wakes a waiting read by setting its future's result from the
loop's reader callback, unguarded. When a cancellation (a Ctrl-C) and the socket's
next bytes land in one turn of the loop, that wake-up reaches a future already
cancelled, and asyncio prints the ``InvalidStateError`` as a traceback. asyncio's
``sock_*`` calls look at their future first.
"""

from __future__ import annotations

import asyncio
import socket

import anyio.lowlevel

__all__ = ["UnixConnection", "connect"]


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
    """A connection to the socket at ``path``. Raises OSError when none is made."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, path)
    except BaseException:
        sock.close()
        raise
    return UnixConnection(sock)
