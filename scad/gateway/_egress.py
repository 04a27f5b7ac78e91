"""A fenced run's egress allowlist, and how a request to its CONNECT proxy finds it.

A run's only way out is the gateway, which tunnels to allowed hosts. A fenced run
sits on an ``--internal`` network (:mod:`._network`): no route out, only the host's
own address on that network, where the gateway listens. Besides the model API it
serves an HTTP CONNECT proxy (:mod:`._connect_proxy`) that tunnels to the
``host[:port]`` patterns of an allowlist and refuses anything else at once with a
403. Each run has its own allowlist, found by the run's gateway token, which it
presents as the proxy's password (:func:`token_admission`): a run cannot pass for
another, as its address could be taken. The allowlist is by name, so the address a
name resolves to is checked too: one that is not public (loopback, private,
link-local, the gateway's own) is reached only when the allowlist names that very
address, and the tunnel goes to the address that was checked, never to a second lookup.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Awaitable, Callable, Iterable

import anyio
import msgspec

from ..config import HostPattern, allows, parse_host_pattern
from ..errors import UsageError
from ..home import Home
from ..text import printable
from ._registry import check_token

__all__ = [
    "Admit",
    "EgressPolicy",
    "IPAddress",
    "egress_policy",
    "token_admission",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
