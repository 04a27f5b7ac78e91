"""One short job on a node a config's runs could go to: its image pulled from the
registry, and a connection to the gateway at the address the nodes are given. A pull
that fails says the node cannot reach the registry; a connection that fails, the gateway."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import anyio

from ..config.schema import Config
from ..engine import ServiceSpec, labels, swarm_of
from ..errors import ScadError
from ..gateway import ensure_gateway
from ..home import Home
from ._check import Check, failed
from ._containers import CLEANUP_TIMEOUT

if TYPE_CHECKING:
    from ..engine import Engine, NodeState, TaskState

__all__ = ["CONNECT_SECONDS", "JOB_TIMEOUT", "check_from_node", "image_in_registry"]

NAME = "from a node"
#: Bound on the job: placed, pulled, run and ended.
JOB_TIMEOUT = 120.0
#: Bound on the connection attempt inside it.
CONNECT_SECONDS = 10
#: Exit codes of the probe: the gateway did not answer; neither python3 nor bash is there.
NO_CONNECTION, NO_TOOL = 3, 4
#: python3 (with a bounded connect), else bash's /dev/tcp; ``$0`` the address, ``$1`` the port.
PROBE = (
    "if command -v python3 >/dev/null 2>&1; then python3 -c 'import socket, sys; "
    f"socket.create_connection((sys.argv[1], int(sys.argv[2])), {CONNECT_SECONDS})' "
    f'"$0" "$1" || exit {NO_CONNECTION}; exit 0; fi; '
    "if command -v bash >/dev/null 2>&1; then bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' "
    f'"$0" "$1" || exit {NO_CONNECTION}; exit 0; fi; exit {NO_TOOL}'
)
_ENDED = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})


async def image_in_registry(engine: Engine, config: Config, tag: str | None) -> str | None:
    """A name under the config's registry of its built image or of its base image (as
    pushing left it tagged on ``engine``), or None."""
    registry = config.swarm.registry
    for reference in (tag, config.base_image):
        image = await engine.image(reference) if reference else None
        for name in image.tags if image else ():
            if name.startswith(f"{registry}/"):
                return name
    return None


async def check_from_node(
    engine: Engine,
    home: Home,
    config: Config,
    name: str,
    *,
    tag: str | None,
    nodes: Sequence[NodeState],
    environ: Mapping[str, str],
) -> Check:
    """Run the probe as a one-task job on a node matching the config's placement, and say
    what it found."""
    address, registry = config.gateway_address, config.swarm.registry
    if address is None:
        return failed(
            NAME,
            "gateway_address is not set: runs on the nodes could not reach the gateway",
            f"set gateway_address to this host's address on the nodes' network "
            f"(`scad config edit {name}`)",
            name,
        )
    image = await image_in_registry(engine, config, tag)
    if image is None:
        base = config.base_image
        return Check(
            name=NAME,
            status="warn",
            detail=f"neither {tag or 'its image'} nor {base} is in {registry}: nothing to try",
            fix=f"docker tag {base} {registry}/{_repository(base)} && "
            f"docker push {registry}/{_repository(base)}",
            config=name,
        )
    try:
        gateway = await ensure_gateway(home, addresses=[address], environ=environ)
    except (ScadError, OSError) as exc:
        detail = f"the gateway cannot listen on {address}: {exc}"
        fix = "set gateway_address to an address of this host"
        return failed(NAME, detail, fix, name)
    task = await _run_job(engine, config, image, address, gateway.port)
    return _verdict(
        task, nodes, name, image=image, registry=str(registry), at=f"{address}:{gateway.port}"
    )


async def _run_job(
    engine: Engine, config: Config, image: str, address: str, port: int
) -> TaskState | str:
    """The job's task once it ended, or why there is none; the service is removed after."""
    swarm = swarm_of(engine)
    spec = ServiceSpec(
        image=image,
        name=f"scad-doctor-{secrets.token_hex(4)}",
        labels={labels.DOCTOR: NAME},
        command=["sh", "-c", PROBE, address, str(port)],
        constraints=list(config.swarm.placement),
    )
    service = await swarm.create_service(spec)
    last: TaskState | None = None
    try:
        with anyio.move_on_after(JOB_TIMEOUT):
            while True:
                tasks = await swarm.tasks(service)
                last = tasks[0] if tasks else last
                if last is not None and last.state in _ENDED:
                    return last
                await anyio.sleep(0.5)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
            await swarm.remove_service(service)
    state = (
        f" (its task {last.state}: {last.error or last.message})" if last else " (no task was made)"
    )
    return f"the job did not end within {JOB_TIMEOUT:.0f} s{state}"


def _verdict(
    task: TaskState | str,
    nodes: Sequence[NodeState],
    name: str,
    *,
    image: str,
    registry: str,
    at: str,
) -> Check:
    if isinstance(task, str):
        fix = "`docker service ps --no-trunc` of a job shows where it waits; see `swarm nodes`"
        return failed(NAME, task, fix, name)
    hostnames = {node.id: node.hostname for node in nodes}
    node = hostnames.get(task.node_id or "", task.node_id or "no node")
    if task.state == "complete":
        detail = f"a task on {node} pulled {image} and reached the gateway at {at}"
        return Check(name=NAME, status="pass", detail=detail, config=name)
    if task.state == "rejected":
        return failed(
            NAME,
            f"{node} cannot pull {image} from the registry: {task.error or task.message}",
            f"every node must reach {registry} and trust it (a registry over plain HTTP "
            "goes in insecure-registries of each node's /etc/docker/daemon.json)",
            name,
        )
    if task.exit_code == NO_CONNECTION:
        return failed(
            NAME,
            f"a task on {node} cannot reach the gateway at {at}",
            f"the nodes must reach this host at {at.rpartition(':')[0]}: allow port "
            f"{at.rpartition(':')[2]}/tcp in its firewall, or set gateway_address to an "
            f"address of this host the nodes route to (`scad config edit {name}`)",
            name,
        )
    if task.exit_code == NO_TOOL:
        return failed(
            NAME,
            f"{image} has neither python3 nor bash to try the gateway with",
            f"push the config's image to {registry} (`scad build {name}`, then docker push)",
            name,
        )
    return failed(
        NAME,
        f"the task on {node} ended {task.state}: {task.error or task.message}",
        "`docker service logs` of such a job, or the node's engine log, says why",
        name,
    )


def _repository(image: str) -> str:
    """``image``'s last path part, to push it under."""
    return image.rsplit("/", 1)[-1]
