"""Cut a network namespace's IPv4 routes down to one: the host's address on its network.

Run as root with ``CAP_NET_ADMIN`` in the namespace of a fenced run (this file's text,
with ``python3 -I -c``, in a helper container sharing the run's network). It reads
the main table from ``/proc/net/route``, adds a link route to the default route's
gateway (the host's address on the network, where the model gateway listens),
deletes every other route, the default route last, and checks what is left. A
connection anywhere else then fails at once with ENETUNREACH instead of waiting for
packets the network drops. Standard library only: it runs on the run's own image.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys

#: Netlink's route messages (linux/rtnetlink.h, linux/netlink.h).
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
RTA_DST, RTA_OIF = 1, 4
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 253, 255
RTN_UNICAST = 1


class Route:
    """A row of ``/proc/net/route``: addresses there are in host byte order hex."""

    def __init__(self, interface: str, destination: str, gateway: str, mask: str) -> None:
        self.interface = interface
        self.destination = ipaddress.IPv4Address(_address(destination))
        self.gateway = ipaddress.IPv4Address(_address(gateway))
        netmask = ipaddress.IPv4Address(_address(mask))
        self.prefix = ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen

    @property
    def is_default(self) -> bool:
        return self.prefix == 0


def _address(hex_text: str) -> bytes:
    return struct.pack("=I", int(hex_text, 16))


def parse_routes(table: str) -> list[Route]:
    """The routes of a ``/proc/net/route`` text."""
    routes = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8:
            routes.append(Route(fields[0], fields[1], fields[2], fields[7]))
    return routes


def route_message(
    kind: int, destination: ipaddress.IPv4Address, prefix: int, interface: int = 0, seq: int = 1
) -> bytes:
    """A netlink request to add (a link route out of ``interface``) or delete a route."""
    attributes = b""
    if prefix:
        attributes += _attribute(RTA_DST, destination.packed)
    if kind == RTM_NEWROUTE:
        attributes += _attribute(RTA_OIF, struct.pack("=i", interface))
        header = struct.pack(
            "=BBBBBBBBI",
            socket.AF_INET, prefix, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_LINK, RTN_UNICAST, 0,
        )  # fmt: skip
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
    else:  # scope "nowhere" and type 0 match any route to that destination
        header = struct.pack(
            "=BBBBBBBBI", socket.AF_INET, prefix, 0, 0, RT_TABLE_MAIN, 0, RT_SCOPE_NOWHERE, 0, 0
        )
        flags = NLM_F_REQUEST | NLM_F_ACK
    body = header + attributes
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def acknowledged(reply: bytes) -> int:
    """The errno a netlink acknowledgement carries (0: done)."""
    _, kind, _, _, _ = struct.unpack_from("=IHHII", reply)
    if kind != NLMSG_ERROR:
        return 0
    (error,) = struct.unpack_from("=i", reply, 16)
    return -error


def _send(sock: socket.socket, message: bytes) -> None:
    sock.send(message)
    error = acknowledged(sock.recv(65536))
    if error:
        raise OSError(error, os.strerror(error))


def cut_routes(table_path: str = "/proc/net/route") -> ipaddress.IPv4Address:
    """Leave only the link route to the default route's gateway; returns that address."""
    with open(table_path) as table:
        routes = parse_routes(table.read())
    default = next((route for route in routes if route.is_default), None)
    if default is None:
        raise SystemExit("scad fence: no default route: nothing says where the host is")
    gateway = default.gateway
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:  # NETLINK_ROUTE
        interface = socket.if_nametoindex(default.interface)
        _send(sock, route_message(RTM_NEWROUTE, gateway, 32, interface))
        others = [r for r in routes if not (r.prefix == 32 and r.destination == gateway)]
        for route in sorted(others, key=lambda r: r.is_default):  # the default route last
            _send(sock, route_message(RTM_DELROUTE, route.destination, route.prefix))
    with open(table_path) as table:
        left = [(r.destination, r.prefix) for r in parse_routes(table.read())]
    if left != [(gateway, 32)]:
        raise SystemExit(f"scad fence: routes left besides {gateway}: {left}")
    return gateway


if __name__ == "__main__":
    print(f"scad fence: only {cut_routes()} is reachable", file=sys.stderr)
