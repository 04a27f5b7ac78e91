"""A run on a swarm as a service: its local container spec, without the mounts, as one
job of one task that fetches its files through the gateway. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from ..config.schema import Config
from ..engine import ContainerSpec, Limits, ServiceSpec, labels
from ..image.remote_env import remote_command

__all__ = [
    "TOKEN_FILE",
    "TOKEN_PATH",
    "run_service_spec",
    "secret_name",
    "service_name",
]

#: The run's token, as the file ``/run/secrets/<TOKEN_FILE>`` in its container.
TOKEN_FILE = "scad-token"
#: Where the run's container finds it.
TOKEN_PATH = f"/run/secrets/{TOKEN_FILE}"


def service_name(run_id: str, home_key: str) -> str:
    """Service names are the swarm's: the home's key keeps two homes' runs apart."""
    return f"scad-{run_id}-{home_key}"


def secret_name(run_id: str, home_key: str, attempt: str) -> str:
    """A secret's name is unique in the swarm and cannot change: one per attempt."""
    return f"scad-{run_id}-{home_key}-{attempt}"


def run_service_spec(
    config: Config,
    local: ContainerSpec,
    *,
    name: str,
    image: str,
    env: Mapping[str, str],
) -> ServiceSpec:
    """The service of a run whose local container would be ``local``: the same labels,
    user, environment, limits and hardening, no mounts (the transport
    carries the files), the image by digest, the config's reservations and placement.
    Its token is added as a secret when the service is made.

    The engine's service API (1.41) has capabilities to drop but no no-new-privileges:
    a run on a swarm keeps every capability dropped, as a local one does."""
    resources = config.resources
    return ServiceSpec(
        name=name,
        image=image,
        labels={**local.labels, labels.MODE: "headless"},
        command=remote_command(local.command),
        user=local.user or "",
        env={**local.env, **env},
        # None: the engine would make the folder, as root, where the run clones its
        # repo; scad-remote-run goes there itself (SCAD_WORKDIR).
        workdir=None,
        limits=local.limits,
        # Placed where what it may use is free: a node is never promised beyond its size.
        reservations=Limits(cpus=resources.cpus, memory=resources.memory_bytes),
        constraints=list(config.swarm.placement),
        security=local.security,
        init=local.init,
    )
