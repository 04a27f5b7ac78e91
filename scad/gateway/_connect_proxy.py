"""The CONNECT proxy fenced runs reach the world through.

It reads each request's head, finds the run's allowlist (:mod:`._egress`), checks
the name asked for and the addresses it resolves to, and tunnels to an address it
checked, or answers at once why not. What a client could hold open is bounded: the
head's size and time, the connections yet to send one (:mod:`._pending`), the
tunnels at once, and the connections each listener holds (:mod:`._accept`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import cast

import anyio
import msgspec
from anyio.abc import ByteReceiveStream, SocketListener, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from ..config import normal_host
from ._accept import serve_listener
from ._egress import Admit, EgressPolicy, IPAddress
from ._pending import Pending

__all__ = [
    "MAX_HEAD",
    "ConnectProxy",
    "Resolve",
    "open_connect_proxy",
]

#: Names a host, and the port asked for, as the addresses to connect to.
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]

#: The most a CONNECT request's head may hold (its line and headers).
MAX_HEAD = 8192
#: How long a client may take to send its head, a name to resolve, an upstream to accept.
HEAD_TIMEOUT = 30.0
RESOLVE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
#: Tunnels open at once; more wait for one to close.
MAX_TUNNELS = 256
#: Connections yet to send their head; one more cuts the oldest (see :mod:`._pending`).
MAX_PENDING = 128
#: Connections a listener holds at once (each a descriptor); more wait to be accepted.
MAX_CONNECTIONS = 512


class ConnectProxy(msgspec.Struct, frozen=True, kw_only=True):
    """A CONNECT proxy that is serving: where runs reach it."""

    host: str
    port: int


@asynccontextmanager
async def open_connect_proxy(
    policy: EgressPolicy | Admit,
    *,
    hosts: Sequence[str],
    port: int = 0,
    resolve: Resolve | None = None,
) -> AsyncIterator[ConnectProxy]:
    """Serve the CONNECT proxy on ``port`` (0: any free port) of each of ``hosts``
    until the block ends. ``policy`` is one for every client, or how to find each
    request's from its proxy credentials (refused with a 407 when there is none)."""
    resolver = resolve or _resolve
    limiter = anyio.CapacityLimiter(MAX_TUNNELS)
    pending = Pending(MAX_PENDING)

    async def handle(client: SocketStream) -> None:
        async with client:
            incoming, head = BufferedByteReceiveStream(client), None
            with pending.waiting():  # cut, it leaves ``head`` None
                head = await _head(client, incoming)
            if head is not None:  # a tunnel's place is taken only by a request said
                async with limiter:
                    await _serve_one(client, incoming, head, policy, resolver)

    listeners = [await anyio.create_tcp_listener(local_host=hosts[0], local_port=port)]
    bound = listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    try:
        for host in hosts[1:]:
            listeners.append(await anyio.create_tcp_listener(local_host=host, local_port=bound))
        async with anyio.create_task_group() as tg:
            for listener in listeners:
                for each in listener.listeners:  # one a socket
                    slots = anyio.Semaphore(MAX_CONNECTIONS)
                    tg.start_soon(serve_listener, cast(SocketListener, each), handle, slots)
            try:
                yield ConnectProxy(host=hosts[0], port=bound)
            finally:
                tg.cancel_scope.cancel()
    finally:
        for listener in listeners:
            await listener.aclose()


class _Refusal(Exception):
    """An answer to the client instead of a tunnel."""

    def __init__(self, status: int, reason: str, text: str, headers: str = "") -> None:
        super().__init__(text)
        self.status, self.reason, self.text, self.headers = status, reason, text, headers


_UNKNOWN_RUN = _Refusal(
    407,
    "Proxy Authentication Required",
    "the proxy's password must be a fenced run's gateway token",
    'Proxy-Authenticate: Basic realm="scad"\r\n',
)


async def _head(client: SocketStream, incoming: BufferedByteReceiveStream) -> bytes | None:
    """The head of the client's request; None when it went, said nothing in time, was
    cut (see :class:`._pending.Pending`), or said too much (answered)."""
    too_large = _Refusal(431, "Request Header Fields Too Large", "request head too large")
    try:
        with anyio.fail_after(HEAD_TIMEOUT):
            head = await incoming.receive_until(b"\r\n\r\n", MAX_HEAD)
    except anyio.DelimiterNotFound:
        await _answer(client, too_large)
        return None
    except (TimeoutError, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.EndOfStream):
        return None  # gone, or never said anything: nothing to answer
    if len(head) > MAX_HEAD:  # found in the last read, which may overshoot the bound
        await _answer(client, too_large)
        return None
    return head


async def _serve_one(
    client: SocketStream,
    incoming: BufferedByteReceiveStream,
    head: bytes,
    policy: EgressPolicy | Admit,
    resolve: Resolve,
) -> None:
    try:
        host, port = _target(head)
        if not isinstance(policy, EgressPolicy):
            found = await policy(_header(head, b"proxy-authorization"))
            if found is None:
                raise _UNKNOWN_RUN
            policy = found
        upstream = await _open_upstream(host, port, policy, resolve)
    except _Refusal as refusal:
        await _answer(client, refusal)
        return
    async with upstream:
        try:
            await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return
        async with anyio.create_task_group() as tg:
            # Bytes sent after the head (a TLS hello, say) are in ``incoming`` and go first.
            tg.start_soon(_pipe, incoming, upstream, tg.cancel_scope)
            tg.start_soon(_pipe, upstream, client, tg.cancel_scope)


def _header(head: bytes, name: bytes) -> str | None:
    """The value of the head's header ``name`` (lower case), if it has one."""
    for line in head.split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def _target(head: bytes) -> tuple[str, int]:
    """The ``host`` (normalised) and port a CONNECT request's head asks for."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _Refusal(400, "Bad Request", "not an HTTP/1 request")
    method, target, _ = parts
    if method != "CONNECT":
        raise _Refusal(405, "Method Not Allowed", "only CONNECT is served; use https")
    name, colon, port_text = target.rpartition(":")
    host = normal_host(name) if colon else None
    if host is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _Refusal(400, "Bad Request", "CONNECT wants host:port")
    return host, int(port_text)


async def _open_upstream(
    host: str, port: int, policy: EgressPolicy, resolve: Resolve
) -> SocketStream:
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if not policy.admits(host, port):
        raise _Refusal(403, "Forbidden", f"{shown} is not in the egress allowlist")
    literal = _address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            with anyio.fail_after(RESOLVE_TIMEOUT):
                addresses = await resolve(host, port)
        except (OSError, TimeoutError):
            addresses = []
        if not addresses:
            raise _Refusal(502, "Bad Gateway", f"{host} does not resolve")
    for address in addresses:
        if not policy.admits_address(address, port):
            raise _Refusal(
                403, "Forbidden", f"{host} resolves to {address}, which the allowlist does not name"
            )
    try:
        with anyio.fail_after(CONNECT_TIMEOUT):
            return await _connect_first(addresses, port)
    except (OSError, TimeoutError):
        raise _Refusal(502, "Bad Gateway", f"{shown} did not accept a connection") from None


async def _connect_first(addresses: list[IPAddress], port: int) -> SocketStream:
    """A connection to the first of ``addresses`` that accepts one."""
    error: OSError = OSError(f"no address for port {port}")
    for address in addresses:
        try:
            return await anyio.connect_tcp(str(address), port)
        except OSError as exc:
            error = exc
    raise error


async def _pipe(source: ByteReceiveStream, sink: SocketStream, tunnel: anyio.CancelScope) -> None:
    """Copy ``source`` to ``sink`` (each send waits for room: backpressure) and pass its
    end on as a half close; a side that breaks ends the whole tunnel."""
    try:
        async for chunk in source:
            await sink.send(chunk)
        await sink.send_eof()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        tunnel.cancel()


async def _answer(client: SocketStream, refusal: _Refusal) -> None:
    body = f"scad egress: {refusal.text}\n".encode()
    head = (
        f"HTTP/1.1 {refusal.status} {refusal.reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"{refusal.headers}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await client.send(head.encode() + body)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
