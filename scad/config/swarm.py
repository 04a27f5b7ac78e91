"""The rules a config's ``swarm:`` keeps: a manager scad can reach, a registry every node
can name, placement constraints the engine accepts and that can match a node; and the
``gateway_address`` the containers of a swarm or a remote engine connect to.

Pure: no resolving, no I/O. Each ``*_problem`` returns why a value breaks its rule
(one line) or None.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NoReturn

import msgspec

from ..errors import UsageError
from .hosts import normal_host

if TYPE_CHECKING:
    from .schema import Config

#: Where a config's runs go: this engine, or the swarm its ``swarm:`` names.
Target = Literal["local", "swarm"]

__all__ = [
    "CONTEXT_NAME_RE",
    "Target",
    "check_swarm",
    "constraint_problem",
    "gateway_address_problem",
    "manager_problem",
    "placed",
    "registry_problem",
]

#: A Docker context's name, as the docker CLI accepts it.
CONTEXT_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$")
# swarmkit's constraint parser: the key, and the value after the operator.
_KEY_RE = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.IGNORECASE)
_VALUE_RE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.IGNORECASE)
#: Keys a constraint may name (besides ``node.labels.*`` and ``engine.labels.*``); the
#: engine takes any key, but a node matches none other, so the run would wait forever.
_NODE_KEYS = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")
_LABEL_PREFIXES = ("node.labels.", "engine.labels.")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
_EXAMPLE = 'like "node.labels.gpu==true" or "node.role!=manager"'


def check_swarm(config: Config, fail: Callable[[str, str], NoReturn]) -> None:
    """Call ``fail(field, problem)`` for the first part of ``swarm:`` that breaks a rule."""
    swarm = config.swarm
    if swarm.manager is not None and (problem := manager_problem(swarm.manager)):
        fail("swarm.manager", problem)
    if swarm.registry is not None and (problem := registry_problem(swarm.registry)):
        fail("swarm.registry", problem)
    for index, constraint in enumerate(swarm.placement):
        if problem := constraint_problem(constraint):
            fail(f"swarm.placement[{index}]", problem)
    if config.gateway_address is not None and (
        problem := gateway_address_problem(config.gateway_address)
    ):
        fail("gateway_address", problem)
    if config.runs_on == "swarm" and swarm.registry is None:
        fail(
            "swarm.registry",
            "runs_on: swarm needs the registry every node pulls from, like registry.lan:5000",
        )


def placed(config: Config, target: Target) -> Config:
    """``config`` with its runs going to ``target`` (``--on``, or what a batch recorded);
    one line when ``swarm`` is asked of a config that names no registry."""
    if target == "swarm" and config.swarm.registry is None:
        raise UsageError(
            f"--on swarm: {config.name} names no swarm.registry; add swarm: {{registry: host:port}} "
            f"to its config (`scad config edit {config.name}`)"
        )
    return msgspec.structs.replace(config, runs_on=target)


def manager_problem(manager: str) -> str | None:
    """Why ``manager`` is not ``unix:///path``, ``tcp://host:port`` or ``context:NAME``."""
    shown = f'"{manager}"'
    if manager.startswith("context:"):
        name = manager.removeprefix("context:")
        if not CONTEXT_NAME_RE.match(name):
            return f"{shown} does not name a Docker context (`docker context ls` lists them)"
        return None
    if manager.startswith("unix://"):
        path = manager.removeprefix("unix://")
        if not path.startswith("/") or "\0" in path:
            return f"{shown} is not a socket path; write it like unix:///var/run/docker.sock"
        return None
    if manager.startswith("tcp://"):
        if not _is_host_port(manager.removeprefix("tcp://")):
            return f"{shown} is not an engine address; write it like tcp://manager.lan:2376"
        return None
    return (
        f"{shown} is not an engine address; write unix:///path, tcp://host:port "
        "or context:NAME (a Docker context)"
    )


def registry_problem(registry: str) -> str | None:
    """Why ``registry`` is not ``host:port``."""
    if not _is_host_port(registry):
        return (
            f'"{registry}" is not a registry address; write it as host:port, like registry.lan:5000'
        )
    return None


def constraint_problem(constraint: str) -> str | None:
    """Why ``constraint`` is not a placement constraint the engine takes and a node can
    match (``key==value`` or ``key!=value``)."""
    shown = f'"{constraint}"'
    parts = re.split(r"(==|!=)", constraint, maxsplit=1)
    if len(parts) != 3:
        return f"{shown} has no == or !=; write a constraint {_EXAMPLE}"
    key, _, value = (part.strip() for part in parts)
    if not _KEY_RE.match(key):
        return f"{shown}: {key or 'the key'} is not a constraint key; write one {_EXAMPLE}"
    if not value or not _VALUE_RE.match(value):
        return f"{shown}: {value or 'the value'} is not a constraint value; write one {_EXAMPLE}"
    if key.lower().startswith(_LABEL_PREFIXES):
        label = key[key.index("labels.") + len("labels.") :]
        return None if label else f"{shown} names no label after {key}"
    if key.lower() not in _NODE_KEYS:
        keys = ", ".join(_NODE_KEYS)
        return f"{shown}: no node has {key}; use node.labels.NAME or one of {keys}"
    if key.lower() == "node.role" and value.lower() not in ("manager", "worker"):
        return f"{shown}: a node's role is manager or worker"
    return None


def gateway_address_problem(address: str) -> str | None:
    """Why ``address`` is not an IP address of this host another machine can connect to."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return (
            f'"{address}" is not an IP address; give the address the containers of a swarm '
            "or remote engine reach this host at"
        )
    if parsed.is_unspecified or parsed.is_multicast:
        return f'"{address}" is not an address a container can connect to; give this host\'s own'
    return None


def _is_host_port(text: str) -> bool:
    """Whether ``text`` is ``host:port`` (``[v6]:port`` for IPv6)."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        host = f"[{host}]" if sep else ""
    else:
        host, sep, port = text.rpartition(":")
    if not sep or normal_host(host) is None or not _PORT_RE.match(port):
        return False
    return 0 < int(port) < 65536
