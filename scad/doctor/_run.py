"""Running every check: concurrently, each bounded in time, reported in a fixed order."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import anyio

from ..errors import ScadError
from ..gateway import START_SECONDS
from ..home import Home
from ..layout import agent_ids
from ..taskgroups import open_task_group
from ._check import Check, failed, skipped
from ._cluster import MANAGER_TIMEOUT, SWARM_CHECKS, ManagerFactory, check_swarms
from ._containers import (
    CLEANUP_TIMEOUT,
    PROBE_TIMEOUT,
    ROUND_TRIP_TIMEOUT,
    VERSION_TIMEOUT,
    check_claude_versions,
    check_round_trip,
)
from ._engine import check_base_images, check_engine_disk, check_live_restore, engine_check
from ._from_node import JOB_TIMEOUT
from ._gateway import HEAD_TIMEOUT, check_gateway
from ._host import (
    LoadedConfig,
    check_ca_certificates,
    check_configs,
    check_credentials,
    check_disk,
    check_home,
    check_mounts,
    load_configs,
)
from ._swarm import REGISTRY_TIMEOUT

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["CHECKS", "ENGINE_TIMEOUT", "EngineFactory", "run_checks"]

EngineFactory = Callable[[], AbstractAsyncContextManager["Engine"]]

#: The checks, in the order they are reported.
CHECKS = (
    "engine",
    "base image",
    "config",
    "credentials",
    "CA certificates",
    "home",
    "disk",
    "engine disk",
    "mounts",
    "live-restore",
    "claude --version",
    "gateway",
    "round trip",
    *SWARM_CHECKS,
)
#: Bound on connecting to the engine and reading its version.
ENGINE_TIMEOUT = 20.0
#: Bound on a check that runs no container (git, files, one engine request or two).
QUICK_TIMEOUT = 60.0
ENGINE_FIX = (
    "start dockerd (or Docker Desktop), or point DOCKER_HOST (or a Docker context) at a running engine; "
    "`docker info` must answer"
)
_ENGINE_CHECKS = (
    "base image",
    "engine disk",
    "live-restore",
    "claude --version",
    "gateway",
    "round trip",
)


class _Report:
    """Results in the fixed order, each handed to ``on_check`` as soon as it and all
    before it are in."""

    def __init__(self, on_check: Callable[[Check], None] | None) -> None:
        self._slots: dict[str, list[Check] | None] = dict.fromkeys(CHECKS)
        self._shown = 0
        self._on_check = on_check

    def put(self, name: str, checks: list[Check]) -> None:
        self._slots[name] = checks
        while self._shown < len(CHECKS):
            ready = self._slots[CHECKS[self._shown]]
            if ready is None:
                break
            if self._on_check is not None:
                for check in ready:
                    self._on_check(check)
            self._shown += 1

    def checks(self) -> list[Check]:
        return [check for checks in self._slots.values() for check in checks or ()]


async def _bounded(
    report: _Report, name: str, run: Callable[[], Awaitable[list[Check]]], limit: float
) -> None:
    """Run one check into the report; a check that overruns or meets an unforeseen
    engine error fails rather than ending the others."""
    try:
        with anyio.fail_after(limit):
            checks = await run()
    except TimeoutError:
        checks = [failed(name, f"did not finish within {limit:.0f} s")]
    except ScadError as exc:
        checks = [failed(name, str(exc))]
    report.put(name, checks)


def _open_engine() -> AbstractAsyncContextManager[Engine]:
    from ..engine import open_engine

    return open_engine()


def _manager_factory(environ: Mapping[str, str]) -> ManagerFactory:
    def open_manager(manager: str | None) -> AbstractAsyncContextManager[Engine]:
        from ..engine import endpoint_of, open_engine

        return open_engine(endpoint=endpoint_of(environ, manager))

    return open_manager


async def run_checks(
    home: Home,
    environ: Mapping[str, str],
    *,
    engine_factory: EngineFactory | None = None,
    manager_factory: ManagerFactory | None = None,
    now: datetime | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> list[Check]:
    """Check that sessions can run here; the checks in the order of :data:`CHECKS`
    (several lines for checks made per config).

    ``environ`` is where credentials are looked up (``HOME``, ``CLAUDE_CONFIG_DIR``,
    the keys); the engine is ``engine_factory``'s (default: :func:`scad.engine.open_engine`,
    which reads ``DOCKER_HOST``), a swarm's manager ``manager_factory``'s (default: the
    engine its ``swarm.manager`` names). Checks run concurrently; ``on_check`` gets each
    result in order as soon as it is known. Checks that need the engine are skipped
    when it does not answer.
    """
    configs = await anyio.to_thread.run_sync(load_configs, home)
    report = _Report(on_check)
    moment = now or datetime.now(UTC)
    agent = agent_ids(os.getuid(), os.getgid())

    async def host(name: str, blocking: Callable[[], list[Check]]) -> None:
        run = partial(anyio.to_thread.run_sync, blocking, abandon_on_cancel=True)
        await _bounded(report, name, run, QUICK_TIMEOUT)

    async with open_task_group() as tg:
        tg.start_soon(
            _engine_checks, report, engine_factory or _open_engine, home, configs, environ
        )
        tg.start_soon(_bounded, report, "config", partial(check_configs, configs), QUICK_TIMEOUT)
        tg.start_soon(host, "credentials", lambda: [check_credentials(environ, moment)])
        tg.start_soon(host, "CA certificates", partial(check_ca_certificates, configs))
        tg.start_soon(host, "home", lambda: [check_home(home)])
        tg.start_soon(host, "disk", lambda: [check_disk(home.root)])
        tg.start_soon(host, "mounts", partial(check_mounts, configs, agent))
        tg.start_soon(
            _cluster_checks,
            report,
            partial(
                check_swarms, configs, home, environ, manager_factory or _manager_factory(environ)
            ),
        )
    return report.checks()


async def _cluster_checks(
    report: _Report, run: Callable[[], Awaitable[dict[str, list[Check]]]]
) -> None:
    """The swarm checks of every config that runs on one (no lines when none does),
    bounded together."""
    limit = MANAGER_TIMEOUT + REGISTRY_TIMEOUT + START_SECONDS + JOB_TIMEOUT + 2 * CLEANUP_TIMEOUT
    try:
        with anyio.fail_after(limit):
            found = await run()
    except TimeoutError:
        found = {name: [] for name in SWARM_CHECKS}
        found[SWARM_CHECKS[0]] = [failed(SWARM_CHECKS[0], f"did not finish within {limit:.0f} s")]
    for name in SWARM_CHECKS:
        report.put(name, found[name])


async def _engine_checks(
    report: _Report,
    factory: EngineFactory,
    home: Home,
    configs: Sequence[LoadedConfig],
    environ: Mapping[str, str],
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        try:
            with anyio.fail_after(ENGINE_TIMEOUT):
                engine = await stack.enter_async_context(factory())
                version = await engine.version()
                info = await engine.info()
        except (ScadError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {ENGINE_TIMEOUT:.0f} s"
            report.put("engine", [failed("engine", why, ENGINE_FIX)])
            for name in _ENGINE_CHECKS:
                report.put(name, [skipped(name, "the engine did not answer")])
            return
        report.put("engine", [engine_check(engine.endpoint, version)])
        report.put("live-restore", check_live_restore(info))
        container = CLEANUP_TIMEOUT + 10  # beyond a container's own bound and its removal
        async with open_task_group() as tg:
            for name, run, limit in (
                ("base image", partial(check_base_images, engine, configs), QUICK_TIMEOUT),
                (
                    "engine disk",
                    partial(check_engine_disk, info, engine.endpoint.host),
                    QUICK_TIMEOUT,
                ),
                (
                    "claude --version",
                    partial(check_claude_versions, engine, configs),
                    VERSION_TIMEOUT + container,
                ),
                (
                    "gateway",
                    partial(check_gateway, engine, home, configs, environ),
                    START_SECONDS + HEAD_TIMEOUT + PROBE_TIMEOUT + container,
                ),
                (
                    "round trip",
                    partial(check_round_trip, engine, home, configs, environ),
                    START_SECONDS + ROUND_TRIP_TIMEOUT + container,
                ),
            ):
                tg.start_soon(_bounded, report, name, run, limit)
