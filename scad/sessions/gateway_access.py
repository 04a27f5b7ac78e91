"""A run's way to the model: the gateway, at an address its container reaches, and the
run's own token for it.

That token is all a container holds: the host's key or login stays with the gateway.
The two lines reach Claude through a file of the run (mounted read-only under
``/run/scad`` and sourced by the entrypoint), never the container's environment.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..config.schema import Config
from ..errors import SessionError
from ..gateway import LOOPBACK, ensure_gateway, load_registration, register_run, upstream_of
from ..home import Home

if TYPE_CHECKING:
    from ..engine._types import Engine

__all__ = [
    "RESERVED_ENV",
    "ModelAccess",
    "connect_run",
    "container_env",
    "gateway_address",
    "model_env_file",
]

#: What the gateway alone sets for a run (its address and token), and credentials a
#: container must never get: left out of the config's ``claude.env``.
RESERVED_ENV = frozenset(
    {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"}
)


class ModelAccess(msgspec.Struct, frozen=True, kw_only=True):
    """What a run's Claude is given: the gateway's URL and the run's token."""

    base_url: str
    token: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"ModelAccess(base_url={self.base_url!r})"


def container_env(config: Config) -> dict[str, str]:
    """The config's ``claude.env`` a container may hold (``ANTHROPIC_BASE_URL`` there
    is the gateway's upstream, not the container's)."""
    return {k: v for k, v in config.claude.env.items() if k not in RESERVED_ENV}


def model_env_file(access: ModelAccess) -> str:
    """Shell lines the container's entrypoint sources before it starts Claude."""
    return (
        f"ANTHROPIC_BASE_URL={shlex.quote(access.base_url)}\n"
        f"ANTHROPIC_AUTH_TOKEN={shlex.quote(access.token)}\n"
    )


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
) -> ModelAccess:
    """Give run ``run_id`` a new gateway token (the one before stops working; its
    budget stays, unless ``max_usd`` gives it one) and the home's gateway, started if
    need be where its container reaches it. Without ``engine``, that is where the run
    reached it before."""
    upstream = upstream_of(config.claude.env)
    before = await anyio.to_thread.run_sync(load_registration, home, run_id)
    if engine is not None:
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
        ).token

    token = await anyio.to_thread.run_sync(register)
    gateway = await ensure_gateway(home, addresses=[address])
    return ModelAccess(base_url=gateway.url(address), token=token)
