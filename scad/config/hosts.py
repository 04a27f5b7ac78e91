"""Host patterns: the ``host[:port]`` entries of an egress allowlist, parsed and matched.

Pure: no resolving, no I/O. A pattern names a host exactly (``pypi.org``), every
subdomain of one (``*.pythonhosted.org``, not the bare domain), or an IP address
(``127.0.0.1:8080``, ``[::1]:443``). Without a port it allows 443 only: the CONNECT
proxy carries TLS, and another port is a service the user names on purpose.
"""

from __future__ import annotations

import ipaddress
import re

import msgspec

__all__ = [
    "DEFAULT_PORT",
    "HostPattern",
    "IPAddress",
    "allows",
    "normal_host",
    "parse_host_pattern",
]

#: The port a pattern without one allows.
DEFAULT_PORT = 443

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A DNS name of letters, digits and hyphens (lowercase once normalised), at most 253 long.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_NAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")


class HostPattern(msgspec.Struct, frozen=True, kw_only=True):
    """One allowlist entry: ``host`` is a DNS name (lowercase) or an IP address;
    ``subdomains`` says it stands for every name under ``host`` instead."""

    host: str
    port: int
    subdomains: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'*.' if self.subdomains else ''}{host}:{self.port}"

    @property
    def address(self) -> IPAddress | None:
        """The IP address it names, or None for a DNS name."""
        return None if self.subdomains else _address(self.host)


def normal_host(host: str) -> str | None:
    """``host`` as patterns compare it (lowercase, no trailing dot, IPv6 without
    brackets and compressed), or None when it is neither a DNS name nor an IP."""
    host = host.strip().lower().removesuffix(".")
    if host.startswith("[") and host.endswith("]"):
        address = _address(host[1:-1])
        return str(address) if isinstance(address, ipaddress.IPv6Address) else None
    address = _address(host)
    if address is not None:
        return str(address)
    return host if _NAME_RE.match(host) else None


def parse_host_pattern(entry: str) -> HostPattern | None:
    """The pattern written as ``entry``, or None when it is not one."""
    text = entry.strip()
    subdomains = text.startswith("*.")
    text = text.removeprefix("*.")
    host, port = text, DEFAULT_PORT
    if text.startswith("["):  # [v6] or [v6]:port
        close = text.find("]")
        rest = text[close + 1 :] if close > 0 else "x"
        if rest and not rest.startswith(":"):
            return None
        host, port_text = text[: close + 1], rest.removeprefix(":")
        if rest:
            port = _port(port_text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text)
    normal = normal_host(host)
    if normal is None or port == 0:
        return None
    if subdomains and _address(normal) is not None:
        return None  # "*.10.0.0.1" names nothing
    return HostPattern(host=normal, port=port, subdomains=subdomains)


def allows(pattern: HostPattern, host: str, port: int) -> bool:
    """Whether ``pattern`` allows ``host`` (normalised by :func:`normal_host`) on ``port``."""
    if port != pattern.port:
        return False
    if pattern.subdomains:
        return host.endswith(f".{pattern.host}")
    return host == pattern.host


def _port(text: str) -> int:
    """The port ``text`` names, or 0 when it names none."""
    return int(text) if _PORT_RE.match(text) and 0 < int(text) < 65536 else 0


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
