"""A run's way to the model: the gateway, at an address its container reaches, and the
run's own token for it.

That token is all a container holds: the host's key or login stays with the gateway.
The two lines reach Claude through a file of the run (mounted read-only under
``/run/scad`` and sourced by the entrypoint), never the container's environment.

A fenced config (``egress.mode: gateway``) puts its runs on the home's internal
network, where the gateway is the only address left (:func:`fenced_run`); the same
file then names the gateway's CONNECT proxy, with the run's token as its password,
for the hosts of the config's allowlist.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import msgspec

from ..config.schema import Config
from ..engine import BindMount, ContainerSpec
from ..errors import SessionError
from ..gateway import (
    LOOPBACK,
    egress_network_name,
    ensure_egress_network,
    ensure_gateway,
    load_registration,
    register_run,
    upstream_of,
)
from ..home import Home
from ..runs.fence import fenced_spec
from ..runs.records import RunPaths

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "FENCED_RESOLV_CONF",
    "RESERVED_ENV",
    "RESOLV_CONF",
    "ModelAccess",
    "connect_run",
    "container_env",
    "fenced_run",
    "gateway_address",
    "model_env_file",
]

#: What the gateway alone sets for a run (its address and token), and credentials a
#: container must never get: left out of the config's ``claude.env``.
RESERVED_ENV = frozenset(
    {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"}
)


#: The run's file (in its inputs) that a fenced container has as ``/etc/resolv.conf``.
RESOLV_CONF = "resolv.conf"


class ModelAccess(msgspec.Struct, frozen=True, kw_only=True):
    """What a run's Claude is given: the gateway's URL and the run's token."""

    base_url: str
    token: str
    proxy: str | None = None
    """A fenced run's CONNECT proxy (its URL holds the token); None on an open network."""

    def __repr__(self) -> str:  # never print a secret by accident
        return f"ModelAccess(base_url={self.base_url!r})"


def container_env(config: Config) -> dict[str, str]:
    """The config's ``claude.env`` a container may hold (``ANTHROPIC_BASE_URL`` there
    is the gateway's upstream, not the container's)."""
    return {k: v for k, v in config.claude.env.items() if k not in RESERVED_ENV}


#: A fenced run's name server: nothing, at once. On an internal network the engine's
#: own resolver never answers a name from outside (a lookup waited 10 s); a query to a
#: port nobody holds is refused at once (measured: 5 ms).
FENCED_RESOLV_CONF = "# scad: a fenced run resolves no names; use the proxy\nnameserver 127.0.0.1\n"


def fenced_run(config: Config, paths: RunPaths, spec: ContainerSpec) -> ContainerSpec:
    """The container of a run of ``config``: a fenced config's goes on the home's
    internal network, has its routes cut at each start (:mod:`scad.runs.fence`) and
    resolves no names (:data:`FENCED_RESOLV_CONF`, written with its Claude state)."""
    if config.egress.mode != "gateway":
        return spec
    resolv = BindMount(str(paths.inputs / RESOLV_CONF), "/etc/resolv.conf", read_only=True)
    return fenced_spec(
        msgspec.structs.replace(
            spec, network=egress_network_name(paths.home), mounts=[*spec.mounts, resolv]
        )
    )


def model_env_file(access: ModelAccess) -> str:
    """Shell lines the container's entrypoint sources before it starts Claude."""
    lines = {"ANTHROPIC_BASE_URL": access.base_url, "ANTHROPIC_AUTH_TOKEN": access.token}
    if access.proxy is not None:
        # Every client's spelling; the gateway itself is reached directly.
        gateway = urlsplit(access.base_url).hostname or ""
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            lines[name] = access.proxy
        lines["NO_PROXY"] = lines["no_proxy"] = gateway
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in lines.items())


async def gateway_address(engine: Engine, config: Config) -> str:
    """Where a container of ``config`` reaches a host process: on the host's network,
    the loopback; on a bridge, the host's address on that network."""
    if config.network in ("host", "none"):
        return LOOPBACK
    network = await engine.network(config.network)
    if network is None or network.gateway is None:
        raise SessionError(
            f"the engine's {config.network} network gives no host address for the model "
            "gateway to listen on; check `docker network inspect "
            f"{config.network}`, or set network: host"
        )
    return network.gateway


async def connect_run(
    engine: Engine | None,
    home: Home,
    config: Config,
    run_id: str,
    *,
    max_usd: float | None = None,
    interactive: bool = False,
    address: str | None = None,
) -> ModelAccess:
    """Give run ``run_id`` a new gateway token (the one before stops working; its
    budget stays, unless ``max_usd`` gives it one) and the home's gateway, started if
    need be where its container reaches it. Without ``engine``, that is where the run
    reached it before. An ``interactive`` session is registered with the config's
    notifier, told when it waits for its user. ``address``: where the run reaches the
    host, when that is not for the engine to say (a run on another machine)."""
    upstream = upstream_of(config.claude.env)
    before = await anyio.to_thread.run_sync(load_registration, home, run_id)
    fenced = config.egress.mode == "gateway"
    if address is not None:
        pass
    elif engine is not None and fenced:
        address = (await ensure_egress_network(engine, home)).gateway
    elif engine is not None:
        address = await gateway_address(engine, config)
    elif before is not None and before.address is not None:
        address = before.address
    elif config.network in ("host", "none"):
        address = LOOPBACK
    else:
        raise SessionError(f"{run_id}: where its container reaches the model gateway is unknown")

    def register() -> str:
        return register_run(
            home,
            run_id,
            upstream=upstream,
            max_usd=max_usd if max_usd is not None or before is None else before.max_usd,
            batch=before.batch if before else None,
            batch_max_usd=before.batch_max_usd if before else None,
            address=address,
            egress=list(config.egress.allow) if fenced else None,
            config=config.name,
            notify=config.notify if interactive else None,
        ).token

    token = await anyio.to_thread.run_sync(register)
    gateway = await ensure_gateway(home, addresses=[address])
    proxy = gateway.proxy_url(token, address) if fenced else None
    if fenced and proxy is None:
        raise SessionError("the model gateway serves no CONNECT proxy; restart it")
    return ModelAccess(base_url=gateway.url(address), token=token, proxy=proxy)
