"""The cluster checks of every config that runs on a swarm, in the order they are
reported: its manager, its nodes, its registry, and a job on one of its nodes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import anyio

from ..config.schema import Config
from ..engine import swarm_of
from ..errors import ScadError
from ..home import Home
from ..taskgroups import open_task_group
from ._check import Check, failed
from ._engine import valid_configs
from ._from_node import check_from_node
from ._host import LoadedConfig
from ._swarm import check_manager, check_nodes, check_registry, matches, where

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["SWARM_CHECKS", "ManagerFactory", "check_swarms"]

SWARM_CHECKS = ("swarm manager", "swarm nodes", "registry", "from a node")
#: Opens the engine of a ``swarm.manager`` (None: the local one).
ManagerFactory = Callable[[str | None], AbstractAsyncContextManager["Engine"]]
#: Bound on reaching the manager and reading its info and nodes.
MANAGER_TIMEOUT = 20.0


async def check_swarms(
    configs: Sequence[LoadedConfig],
    home: Home,
    environ: Mapping[str, str],
    open_manager: ManagerFactory,
) -> dict[str, list[Check]]:
    """Each check's lines, one per config that runs on a swarm (none when no config does)."""
    swarms = [(c, config) for c, config in valid_configs(configs) if config.runs_on == "swarm"]
    results: list[list[Check]] = [[] for _ in swarms]

    async def one(index: int) -> None:
        loaded, config = swarms[index]
        results[index] = await _one_swarm(loaded, config, home, environ, open_manager)

    async with open_task_group() as tg:
        for index in range(len(swarms)):
            tg.start_soon(one, index)
    found: dict[str, list[Check]] = {name: [] for name in SWARM_CHECKS}
    for check in (check for checks in results for check in checks):
        found[check.name].append(check)
    return found


async def _one_swarm(
    loaded: LoadedConfig,
    config: Config,
    home: Home,
    environ: Mapping[str, str],
    open_manager: ManagerFactory,
) -> list[Check]:
    name = loaded.name
    registry = await check_registry(config, name)
    try:
        async with open_manager(config.swarm.manager) as engine:
            with anyio.fail_after(MANAGER_TIMEOUT):
                manager = check_manager(config, await engine.info(), name)
                nodes = await swarm_of(engine).nodes() if manager.status == "pass" else []
            if manager.status != "pass":
                return [manager, _skip("swarm nodes", "there is no manager to ask", name), registry,
                        _skip("from a node", "there is no manager to run a job", name)]  # fmt: skip
            placed = check_nodes(config, nodes, name)
            takers = [n for n in nodes if n.state == "ready" and n.availability == "active"]
            if not any(matches(config.swarm.placement, n) for n in takers):
                return [manager, placed, registry,
                        _skip("from a node", "no node could take the job", name)]  # fmt: skip
            if registry.status != "pass":
                return [manager, placed, registry,
                        _skip("from a node", "the registry does not answer", name)]  # fmt: skip
            try:
                job = await check_from_node(
                    engine, home, config, name, tag=loaded.tag, nodes=nodes, environ=environ
                )
            except ScadError as exc:  # the manager refused the job, or went away
                job = failed("from a node", str(exc), "`docker service ls` on the manager", name)
            return [manager, placed, registry, job]
    except (ScadError, TimeoutError) as exc:
        why = str(exc) or f"no answer within {MANAGER_TIMEOUT:.0f} s"
        return [
            failed(
                "swarm manager",
                f"{where(config)}: {why}",
                "start its engine, or point swarm.manager at one that answers "
                f"(`docker -H ADDRESS info`; `scad config edit {name}`)",
                name,
            ),
            _skip("swarm nodes", "the manager did not answer", name),
            registry,
            _skip("from a node", "the manager did not answer", name),
        ]


def _skip(check: str, why: str, name: str) -> Check:
    return Check(name=check, status="skip", detail=why, config=name)
