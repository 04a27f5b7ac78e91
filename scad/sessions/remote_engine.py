"""A headless run on a remote engine (``DOCKER_HOST=tcp://...``, or a context naming
one): a plain container there, made as a run on a swarm is (no clones on this host,
nothing mounted, ``scad-remote-run`` fetching its files through the gateway), its
token a file the engine writes into the container before it starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from ..config.schema import Config
from ..engine import ContainerFile, ContainerSpec, labels
from ..errors import SessionError, UsageError
from ..home import Home
from ..image.remote_env import remote_command, remote_env
from ..runs.records import RunPaths, RunRecord
from .claude_setup import container_workdir
from .container import acontainer_spec
from .remote import check_away, open_transport

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "TOKEN_PATH",
    "RemoteRun",
    "RunsOn",
    "check_remote_config",
    "prepare_remote_run",
    "remote_container_spec",
    "runs_on",
]

#: Where a run goes: this engine, the config's swarm, or the remote engine scad talks to.
RunsOn = Literal["local", "swarm", "remote"]

#: Where a run's container on a remote engine finds its token.
TOKEN_PATH = "/run/scad-token"


def runs_on(engine: Engine, config: Config) -> RunsOn:
    """Where a run of ``config`` goes: its swarm when it says so; else the engine, on
    this host or another."""
    if config.runs_on == "swarm":
        return "swarm"
    return "remote" if engine.endpoint.remote else "local"


def check_remote_config(engine: Engine, config: Config) -> str:
    """The gateway address of a config whose runs go to ``engine``, on another host;
    what it lacks, as one line."""
    where = f"on the remote engine at {engine.endpoint.shown}"
    if config.network == "none":
        raise UsageError(
            f"{config.name}: runs {where} reach their files through the gateway; "
            "network: none cannot"
        )
    if config.checks:
        raise UsageError(
            f"{config.name}: checks run in a container with a checkout of this host mounted, "
            f"which runs {where} cannot see; remove checks: to run there"
        )
    return check_away(config, where, "its containers")


class RemoteRun(msgspec.Struct, frozen=True, kw_only=True):
    """A run on a remote engine, ready to start: its container (its token in a file of
    it) and what scad could not use of the Claude state the agent left."""

    spec: ContainerSpec
    notes: list[str] = []


async def prepare_remote_run(
    engine: Engine,
    home: Home,
    config: Config,
    record: RunRecord,
    *,
    max_usd: float | None,
    resume: bool = False,
) -> RemoteRun:
    """The run's token, Claude state and transport, and its container's spec."""
    address = check_remote_config(engine, config)
    paths = RunPaths(home, record.run_id)
    transport = await open_transport(engine, home, config, record, address=address, max_usd=max_usd)
    local = await acontainer_spec(config, record, paths, resume=resume)
    env = remote_env(
        config, gateway_url=transport.access.base_url, branch=record.branch,
        workdir=container_workdir(config), token_file=TOKEN_PATH,
    )  # fmt: skip
    spec = remote_container_spec(local, env=env, token=transport.access.token)
    return RemoteRun(spec=spec, notes=transport.notes)


def remote_container_spec(
    local: ContainerSpec, *, env: dict[str, str], token: str
) -> ContainerSpec:
    """The container of a run whose local one would be ``local``: the same labels, user,
    limits, network and hardening; nothing mounted (the transport carries the files);
    the bootstrap as its command; its token a file only its user reads. Pure."""
    uid, _, gid = (local.user or "").partition(":")
    if not uid.isdigit() or not gid.isdigit():
        raise SessionError(f"{local.name}: its user {local.user!r} is not uid:gid")
    token_file = ContainerFile(
        path=TOKEN_PATH, data=token.encode(), uid=int(uid), gid=int(gid), mode=0o400
    )
    return msgspec.structs.replace(
        local,
        labels={**local.labels, labels.MODE: "headless"},
        command=remote_command(local.command),
        env={**local.env, **env},
        mounts=[],
        # None: the engine would make the folder, as root, where the run clones its
        # repo; scad-remote-run goes there itself (SCAD_WORKDIR).
        workdir=None,
        files=[token_file],
    )
