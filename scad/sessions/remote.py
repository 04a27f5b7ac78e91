"""A headless run made ready for a swarm: its record and Claude state as a local run's,
no clones (its container clones through the gateway), its token for a swarm secret,
its image on the swarm's registry and its service's spec. What every run away from
this host shares (a gateway address, no bind mounts, no fence, its transport) is here
too, for a run on a remote engine as well."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..code.git import git_status
from ..config.schema import Config
from ..engine import ServiceSpec, SwarmEngine, labels, swarm_of
from ..errors import SessionError, UsageError
from ..home import Home
from ..image.remote_env import remote_env
from ..layout import agent_owner
from ..names import home_key
from ..runs import envelopes
from ..runs.events import append_event
from ..runs.records import RunPaths, RunRecord
from ..swarm import TOKEN_PATH, publish_image, retire_services, run_service_spec, service_name
from .claude_setup import container_workdir
from .claude_state import write_claude_state
from .container import acontainer_spec
from .gateway_access import ModelAccess, connect_run

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "SwarmRun",
    "Transport",
    "check_away",
    "check_swarm_config",
    "host_bases",
    "open_transport",
    "prepare_swarm_restart",
    "prepare_swarm_run",
    "swarm_manager",
]


class SwarmRun(msgspec.Struct, frozen=True, kw_only=True):
    """What a run on a swarm is started with: its service and its token (for a secret)."""

    service: ServiceSpec
    token: str
    #: What the agent had left in its Claude state that scad could not use.
    notes: list[str] = []

    def __repr__(self) -> str:  # never print a secret by accident
        return f"SwarmRun(service={self.service.name!r})"


def check_swarm_config(config: Config) -> str:
    """The gateway address of a config that runs on a swarm; what it lacks, as an error."""
    if not config.swarm.registry:
        raise UsageError(f"{config.name}: runs on a swarm need swarm.registry (host:port)")
    return check_away(config, "on a swarm", "the nodes' containers")


def check_away(config: Config, where: str, whose: str) -> str:
    """The gateway address of a config whose runs go ``where``, away from this host (the
    containers ``whose`` reach it there); what such a run cannot have, as one line: no
    address, a fence (it is this engine's network), anything bind-mounted from here."""
    name = config.name
    if not config.gateway_address:
        raise UsageError(
            f"{name}: runs {where} need gateway_address, the address of this host that "
            f"{whose} reach; add `gateway_address: IP` to the config (`scad config edit {name}`)"
        )
    if config.egress.mode == "gateway":
        raise UsageError(f"{name}: a fenced config (egress.mode: gateway) runs locally only")
    if config.mounts:
        raise UsageError(
            f"{name}: mounts[0] ({config.mounts[0].host}) is a folder of this host, which "
            f"runs {where} cannot see; remove it from the config to run there"
        )
    for key, market in config.claude.marketplaces.items():
        if market.path:
            raise UsageError(
                f"{name}: claude.marketplaces.{key} ({market.path}) is a folder of this host, "
                f"which runs {where} cannot see; name it by github: or git: instead"
            )
    return config.gateway_address


def swarm_manager(engine: Engine, config: Config) -> SwarmEngine:
    """The swarm manager of ``config``: the engine scad talks to."""
    if config.swarm.manager is not None:
        raise UsageError(
            f"{config.name}: swarm.manager names another engine; point DOCKER_HOST at the "
            "manager and leave swarm.manager unset"
        )
    return swarm_of(engine)


async def host_bases(config: Config) -> dict[str, str]:
    """Each repo's HEAD on the host: what a run's clone through the gateway starts from."""
    bases = {}
    for key, repo in config.repos.items():
        status, out = await git_status(Path(repo.path), "rev-parse", "--verify", "HEAD")
        if status != 0:
            raise SessionError(f"{config.name}: repo {key} has no commit to start a run from")
        bases[key] = out.strip()
    return dict(sorted(bases.items()))


class Transport(msgspec.Struct, frozen=True, kw_only=True):
    """A run away from this host made ready to fetch its files: its way to the
    gateway, and what scad could not use of the Claude state the agent left."""

    access: ModelAccess
    notes: list[str] = []


async def open_transport(
    engine: Engine,
    home: Home,
    config: Config,
    record: RunRecord,
    *,
    address: str,
    max_usd: float | None,
) -> Transport:
    """A new token for the run (at ``address``, where its container reaches this
    host), its Claude state written for the gateway to hand out, and its repos served."""
    paths = RunPaths(home, record.run_id)
    access = await connect_run(
        engine, home, config, record.run_id, max_usd=max_usd, address=address
    )
    try:
        notes = await anyio.to_thread.run_sync(
            write_claude_state, config, paths, access, agent_owner()
        )
    except OSError as exc:
        raise SessionError(f"{record.run_id}: cannot write its Claude state: {exc}") from exc
    from ..gateway import enable_transport  # its HTTP server: imported when a run goes remote

    await enable_transport(home, record.run_id, {k: Path(r.path) for k, r in config.repos.items()})
    return Transport(access=access, notes=notes)


async def prepare_swarm_run(
    engine: Engine,
    home: Home,
    config: Config,
    record: RunRecord,
    *,
    max_usd: float | None,
) -> SwarmRun:
    """The run's token, Claude state and transport, and its service's spec (its image
    pushed to the swarm's registry when the registry does not have it)."""
    address = check_swarm_config(config)
    paths = RunPaths(home, record.run_id)
    transport = await open_transport(engine, home, config, record, address=address, max_usd=max_usd)
    assert config.swarm.registry is not None  # checked above
    image = await publish_image(swarm_manager(engine, config), config.swarm.registry, record.image)
    local = await acontainer_spec(config, record, paths, resume=False)
    env = remote_env(
        config, gateway_url=transport.access.base_url, branch=record.branch,
        workdir=container_workdir(config), token_file=TOKEN_PATH,
    )  # fmt: skip
    name = service_name(record.run_id, home_key(labels.home_label(home)))
    service = run_service_spec(config, local, name=name, image=image, env=env)
    return SwarmRun(service=service, token=transport.access.token, notes=transport.notes)


async def prepare_swarm_restart(
    engine: Engine, home: Home, config: Config, record: RunRecord
) -> SwarmRun:
    """A run on a swarm made ready to start again: what a supervisor that died left
    of it put away, and a new token, Claude state and service; its container goes on
    from the branches its last attempt pushed."""
    await retire_services(swarm_manager(engine, config), home, record)
    prepared = await prepare_swarm_run(engine, home, config, record, max_usd=record.max_usd_per_run)
    paths = RunPaths(home, record.run_id)
    for note in prepared.notes:
        await append_event(paths, envelopes.Warned(detail=note))
    return prepared
