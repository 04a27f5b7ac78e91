"""Egress control: a run's only way out is the gateway, which tunnels to allowed hosts.

A fenced run sits on an ``--internal`` network (:func:`ensure_egress_network`): no
route out, only the host's own address on that network, where the gateway listens.
Besides the model API it serves an HTTP CONNECT proxy (:func:`open_connect_proxy`)
that tunnels to the ``host[:port]`` patterns of an allowlist and refuses anything
else at once with a 403. Each run has its own allowlist, found by the run's gateway
token, which it presents as the proxy's password (:func:`token_admission`): a run
cannot pass for another, as its address could be taken. The allowlist is by name, so the address a name resolves to
is checked too: one that is not public (loopback, private, link-local, the gateway's
own) is reached only when the allowlist names that very address, and the tunnel goes
to the address that was checked, never to a second lookup.
"""

from __future__ import annotations

import base64
import binascii
import errno
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import cast

import anyio
import msgspec
from anyio.abc import ByteReceiveStream, SocketListener, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from ..config import HostPattern, allows, normal_host, parse_host_pattern
from ..engine import Engine, labels
from ..errors import EngineError, UsageError
from ..home import Home
from ..names import home_key
from ..text import printable
from ._pending import Pending
from ._registry import check_token

__all__ = [
    "MAX_HEAD",
    "Admit",
    "ConnectProxy",
    "EgressNetwork",
    "EgressPolicy",
    "Resolve",
    "egress_network_name",
    "egress_policy",
    "ensure_egress_network",
    "open_connect_proxy",
    "serve_listener",
    "token_admission",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
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
#: How long a listener waits to accept again when the process runs short of
#: descriptors or memory (the connection waits in the backlog meanwhile).
ACCEPT_BACKOFF = 0.5
_ACCEPT_SHORTAGES = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED}
)


class EgressPolicy(msgspec.Struct, frozen=True):
    """The hosts a fenced run may reach through the CONNECT proxy."""

    allow: tuple[HostPattern, ...]

    def admits(self, host: str, port: int) -> bool:
        """Whether ``host`` (as :func:`~scad.config.normal_host` gives it) is allowed."""
        return any(allows(pattern, host, port) for pattern in self.allow)

    def admits_address(self, address: IPAddress, port: int) -> bool:
        """Whether a name may lead to ``address``: a public one may, any other only
        when the allowlist names it."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_global and not address.is_multicast:
            return True
        return any(p.address == address and p.port == port for p in self.allow)


def egress_policy(entries: Iterable[str]) -> EgressPolicy:
    """The policy of a config's ``egress.allow`` (already checked when it loaded)."""
    patterns = []
    for entry in entries:
        pattern = parse_host_pattern(entry)
        if pattern is None:
            raise UsageError(f'"{printable(entry)}" is not a host pattern like "pypi.org:443"')
        patterns.append(pattern)
    return EgressPolicy(tuple(patterns))


class ConnectProxy(msgspec.Struct, frozen=True, kw_only=True):
    """A CONNECT proxy that is serving: where runs reach it."""

    host: str
    port: int


#: The policy of a request's ``Proxy-Authorization`` value (None: it sent none); None
#: when that value opens no fenced run.
Admit = Callable[[str | None], Awaitable[EgressPolicy | None]]


def token_admission(home: Home) -> Admit:
    """The allowlist of the fenced run whose live gateway token is the password of a
    request's Basic proxy credentials (any user name: clients need one)."""

    async def admit(credentials: str | None) -> EgressPolicy | None:
        token = _basic_password(credentials)
        if token is None:
            return None
        registration = await anyio.to_thread.run_sync(check_token, home, token)
        if registration is None or registration.egress is None:
            return None
        return egress_policy(registration.egress)

    return admit


def _basic_password(credentials: str | None) -> str | None:
    scheme, _, encoded = (credentials or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon else None


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


class EgressNetwork(msgspec.Struct, frozen=True, kw_only=True):
    """The network a fenced run joins, and the host's address on it: where the gateway
    binds, the only address such a run can reach."""

    name: str
    gateway: str


def egress_network_name(home: Home) -> str:
    """The network of ``home``'s fenced runs: one per home, so homes stay apart."""
    return f"scad-egress-{home_key(labels.home_label(home))}"


async def ensure_egress_network(engine: Engine, home: Home) -> EgressNetwork:
    """Make ``home``'s internal network unless it is there (two callers at once make it
    once), and say where the host reaches it."""
    name = egress_network_name(home)
    network = await engine.network(name)
    if network is None:
        try:
            network = await engine.create_network(
                name, labels={labels.HOME: labels.home_label(home)}, internal=True
            )
        except EngineError as exc:
            if exc.status != 409:
                raise
            network = await engine.network(name)  # made meanwhile by another caller
    if network is None:
        raise EngineError(f"network {name} vanished while it was being made; try again")
    if not network.internal:
        raise EngineError(
            f"network {name} has a route out; remove it with `docker network rm {name}` "
            "and scad makes it again without one"
        )
    if network.gateway is None:
        raise EngineError(f"network {name} has no gateway address for the host to listen on")
    return EgressNetwork(name=name, gateway=network.gateway)
