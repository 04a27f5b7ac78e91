"""`scad doctor`'s cluster checks against the test swarm (tests/integration/cluster.py):
all pass on it, and a registry nobody listens on is named with its fix."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scad.doctor import Check, run_checks
from scad.doctor._cluster import SWARM_CHECKS
from scad.engine import open_engine
from scad.gateway import stop_gateway
from scad.home import Home
from tests.conftest import make_repo

from .cluster import MANAGER_ADDRESS, NODE_LABEL, Swarm
from .conftest import BASE_IMAGE, project_config

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.swarm]


@pytest.fixture
async def home(tmp_path: Path) -> AsyncIterator[Home]:
    made = Home(tmp_path / "home")
    made.configs.mkdir(parents=True)
    try:
        yield made
    finally:
        await stop_gateway(made)


def swarm_config(home: Home, name: str, registry: str) -> None:
    repo = make_repo(home.root.parent / f"{name}-repo")
    swarm = (
        f"gateway_address: {MANAGER_ADDRESS}\nswarm: {{registry: '{registry}', "
        f"placement: ['node.labels.{NODE_LABEL}==w1']}}\n"
    )
    extra = f"image: {{base: '{BASE_IMAGE}'}}\nruns_on: swarm\n{swarm}"
    home.config_file(name).write_text(project_config(name, repo, extra))


async def cluster_checks(home: Home) -> dict[str, Check]:
    environ = {"HOME": os.environ.get("HOME", "/root"), "ANTHROPIC_API_KEY": "sk-test"}
    checks = await run_checks(home, environ)
    return {f"{c.name} ({c.config})": c for c in checks if c.name in SWARM_CHECKS}


async def jobs_left() -> list[str]:
    async with open_engine() as engine:
        docker = engine._docker  # type: ignore[attr-defined]
        services = await docker.services.list(filters={"label": ["scad.doctor"]})
    return [s["ID"] for s in services]


async def test_the_test_swarm_passes_every_cluster_check(swarm: Swarm, home: Home) -> None:
    swarm_config(home, "onswarm", swarm.registry)

    found = await cluster_checks(home)

    assert {name: c.status for name, c in found.items()} == {
        f"{check} (onswarm)": "pass" for check in SWARM_CHECKS
    }, found
    assert found["swarm nodes (onswarm)"].detail == (
        f"4 of 4 nodes ready, 1 of them match the placement node.labels.{NODE_LABEL}==w1"
    )
    # The image is the one pushed to the registry, and the job ran on w1.
    assert found["from a node (onswarm)"].detail.startswith(
        f"a task on w1 pulled {swarm.registry}/"
    )
    assert await jobs_left() == []


async def test_a_registry_nobody_listens_on_fails_with_its_fix(swarm: Swarm, home: Home) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{probe.getsockname()[1]}"
    swarm_config(home, "noreg", nobody)

    found = await cluster_checks(home)

    registry = found["registry (noreg)"]
    assert registry.status == "fail"
    assert registry.detail.startswith(f"GET http://{nobody}/v2/ had no answer (")
    assert registry.fix is not None and registry.fix.startswith("start a registry there")
    assert found["from a node (noreg)"].status == "skip"
    assert found["swarm manager (noreg)"].status == "pass"
