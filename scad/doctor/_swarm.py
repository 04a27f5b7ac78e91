"""A swarm a config runs on, as the host sees it: its manager answers and manages, its
nodes are ready and some match the placement, and its registry answers ``/v2/``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from ..config.schema import Config
from ._check import Check, failed
from ._http import http_status

if TYPE_CHECKING:
    from ..engine import EngineInfo, NodeState

__all__ = [
    "REGISTRY_TIMEOUT",
    "check_manager",
    "check_nodes",
    "check_registry",
    "matches",
    "where",
]

#: Bound on one ``GET /v2/`` from the host.
REGISTRY_TIMEOUT = 10.0


def where(config: Config) -> str:
    """The manager, as messages name it."""
    return config.swarm.manager or "the local engine"


def check_manager(config: Config, info: EngineInfo, name: str) -> Check:
    """``info`` is of a manager that can take orders; else what to do about it."""
    at = where(config)
    state = info.swarm_state
    if state == "active" and info.swarm_manager:
        return Check(
            name="swarm manager", status="pass", detail=f"{at} manages a swarm", config=name
        )
    if state == "inactive":
        return failed(
            "swarm manager",
            f"{at} is not in a swarm",
            f"`docker swarm init` on it (then `docker swarm join` the other machines), or point "
            f"swarm.manager at a manager of your swarm (`scad config edit {name}`)",
            name,
        )
    if state == "active":
        return failed(
            "swarm manager",
            f"{at} is a worker of a swarm, not a manager",
            f"point swarm.manager at a manager (`docker node ls` on one lists them; "
            f"`scad config edit {name}`)",
            name,
        )
    if state == "locked":
        return failed("swarm manager", f"{at} is locked", "`docker swarm unlock` on it", name)
    return failed(
        "swarm manager",
        f"{at} is in a swarm that is {state}",
        "`docker info` on it says why; `docker swarm leave --force` and join again",
        name,
    )


def matches(constraints: Sequence[str], node: NodeState) -> bool:
    """Whether ``node`` meets every placement constraint, as swarmkit reads them: keys and
    values compared without case, a label the node lacks meets only ``!=``."""
    return all(_meets(constraint, node) for constraint in constraints)


def _meets(constraint: str, node: NodeState) -> bool:
    key, operator, value = (part.strip() for part in re.split(r"(==|!=)", constraint, maxsplit=1))
    lowered = key.lower()
    fields = {
        "node.id": node.id,
        "node.hostname": node.hostname,
        "node.role": node.role,
        "node.platform.os": node.os,
        "node.platform.arch": node.arch,
    }
    have: str | None
    if lowered.startswith("node.labels."):
        have = node.labels.get(key[len("node.labels.") :])
    elif lowered.startswith("engine.labels."):
        have = node.engine_labels.get(key[len("engine.labels.") :])
    else:
        have = fields.get(lowered)
    equal = have is not None and have.lower() == value.lower()
    return equal if operator == "==" else not equal


def check_nodes(config: Config, nodes: Sequence[NodeState], name: str) -> Check:
    """How many nodes are ready, which are not (down, drained), and whether a node that
    takes work matches the placement."""
    placement = config.swarm.placement
    ready = [n for n in nodes if n.state == "ready"]
    takers = [n for n in ready if n.availability == "active"]
    matching = [n for n in takers if matches(placement, n)]
    absent = [f"{n.hostname} ({n.state})" for n in nodes if n.state != "ready"]
    held = [f"{n.hostname} ({_availability(n)})" for n in ready if n.availability != "active"]
    count = f"{len(ready)} of {len(nodes)} nodes ready"
    if placement:
        count += f", {len(matching)} of them match the placement {', '.join(placement)}"
    if not matching:
        why = "no ready node takes work" if not placement else "no ready node matches"
        return failed(
            "swarm nodes",
            f"{count}: {why}" + (f"; not ready: {', '.join(absent)}" if absent else ""),
            "label a node to match (`docker node update --label-add KEY=VALUE NODE`), or change "
            f"swarm.placement (`scad config edit {name}`)"
            if placement and takers
            else "`docker node ls` on the manager: start a node's engine, or "
            "`docker node update --availability active NODE`",
            name,
        )
    if absent or held:
        return Check(
            name="swarm nodes",
            status="warn",
            detail=f"{count}; not taking work: {', '.join([*absent, *held])}",
            fix="start the engine of a node that is down (or `docker node rm` it); "
            "`docker node update --availability active NODE` for a paused or drained one",
            config=name,
        )
    return Check(name="swarm nodes", status="pass", detail=count, config=name)


def _availability(node: NodeState) -> str:
    return "drained" if node.availability == "drain" else node.availability or "unknown"


async def check_registry(config: Config, name: str) -> Check:
    """``GET http://<registry>/v2/`` from the host answers 200 or 401 (a registry that
    wants a login still answers)."""
    registry = config.swarm.registry
    assert registry is not None  # runs_on: swarm names one
    answer = await anyio.to_thread.run_sync(_get_v2, registry, abandon_on_cancel=True)
    if answer in (200, 401):
        detail = f"{registry} answers GET /v2/ ({answer})"
        return Check(name="registry", status="pass", detail=detail, config=name)
    said = f"answered {answer}" if isinstance(answer, int) else answer
    return failed(
        "registry",
        f"GET http://{registry}/v2/ {said}",
        f"start a registry there (Debian's docker-registry, or `docker run -d -p PORT:5000 "
        f"registry:2`), or set swarm.registry to where one listens (`scad config edit {name}`)",
        name,
    )


def _get_v2(registry: str) -> int | str:
    """The status of ``GET /v2/`` at ``registry`` (host:port), or why there was none. Blocks."""
    host, _, port = registry.rpartition(":")
    answer = http_status(host.strip("[]"), int(port), "GET", "/v2/", timeout=REGISTRY_TIMEOUT)
    return answer if isinstance(answer, int) else f"had no answer ({answer})"
