"""Integration fixtures: a real Docker engine, the images CI makes, the real Claude Code.

Under CI a missing engine fails the run; elsewhere the tests skip, loudly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from scad.config.loading import load_config
from scad.config.schema import CLAUDE_CODE_VERSION
from scad.engine import Engine, open_engine
from scad.engine.labels import home_label
from scad.errors import EngineUnavailable
from scad.gateway import gateway_info
from scad.home import Home
from scad.image.build import build_context
from scad.names import image_repository
from scad.reports.ccusage import CCUSAGE_VERSION
from tests.conftest import host_certificates, in_ci, make_repo

from .cluster import Swarm, swarm_cluster
from .sessions_support import OfflineServer, Project, remove_engine_leftovers, remove_images

#: The base image .ci/base-image.sh makes when no registry is reachable.
BASE_IMAGE = os.environ.get("SCAD_TEST_BASE_IMAGE", "python:3.11-slim")
SCAD = str(Path(sys.executable).parent / "scad")


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    try:
        async with open_engine() as engine:
            if await engine.image(BASE_IMAGE) is None:
                raise EngineUnavailable(
                    f"base image {BASE_IMAGE} is missing; run .ci/base-image.sh"
                )
            yield engine
    except EngineUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI needs a Docker engine: {exc}")
        pytest.skip(f"NO DOCKER ENGINE, integration test skipped: {exc}")


@pytest.fixture
def test_label() -> str:
    """A label value unique to one test, to find (and clean) what it made."""
    return f"test-{uuid.uuid4().hex[:12]}"


class BuiltImage:
    """The test project's image, built once per test run through `scad build`."""

    def __init__(self, home: Path, repo: Path, tag: str, build_output: str) -> None:
        self.home = home
        self.repo = repo
        self.tag = tag
        self.build_output = build_output


def scad(
    home: Path, *args: str, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run the real `scad` executable with ``$SCAD_HOME`` at ``home``."""
    env = {**os.environ, "SCAD_HOME": str(home), **kwargs.pop("env", {})}
    result = subprocess.run([SCAD, *args], capture_output=True, text=True, env=env, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"scad {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def project_config(name: str, repo: Path, extra: str = "") -> str:
    certs = ", ".join(host_certificates())
    return (
        f"name: {name}\n"
        f"repos:\n  code: {{path: {repo}, workdir: true}}\n"
        f"ca_certificates: [{certs}]\n"
        f"{extra}"
    )


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    root = tmp_path_factory.mktemp("image")
    home = root / "home"
    repo = make_repo(
        root / "repo", {"README.md": "test project\n", "requirements.txt": "six==1.16.0\n"}
    )
    (home / "configs").mkdir(parents=True)
    config_file = home / "configs" / "scadtest.yml"
    config_file.write_text(
        project_config("scadtest", repo, "python: {requirements: requirements.txt}\n")
    )
    try:
        result = scad(home, "build", "scadtest", timeout=1200)
    except AssertionError as exc:
        if not in_ci() and "cannot reach the Docker engine" in str(exc):
            pytest.skip(f"NO DOCKER ENGINE, integration test skipped: {exc}")
        raise
    tag = build_context(Home(home), load_config(config_file)).tag
    assert tag in result.stdout
    return BuiltImage(home, repo, tag, result.stdout)


def npm_tool(package: str, version: str, binary: str) -> Path:
    """``binary`` of npm ``package`` at ``version``, installed once into the cache folder."""
    cache = Path(os.environ.get("SCAD_TEST_CACHE", Path.home() / ".cache" / "scad-tests"))
    prefix = cache / package.rsplit("/", 1)[-1] / version
    path = prefix / "node_modules" / ".bin" / binary
    if not path.exists():
        if shutil.which("npm") is None:
            if in_ci():
                pytest.fail(f"CI needs npm to install {package}")
            pytest.skip(f"NO NPM: cannot install {package}; the tests that run it are skipped")
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-fund", "--no-audit",
             f"{package}@{version}"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def claude_binary() -> Path:
    """The real Claude Code binary at the pinned version."""
    return npm_tool("@anthropic-ai/claude-code", CLAUDE_CODE_VERSION, "claude")


@pytest.fixture(scope="session")
def ccusage_binary() -> Path:
    """ccusage at the version scad pins."""
    return npm_tool("ccusage", CCUSAGE_VERSION, "ccusage")


@pytest.fixture
async def offline_model() -> AsyncIterator[OfflineServer]:
    """`scad offline serve` in its own process, as a user would run it beside sessions."""
    async with await anyio.open_process([SCAD, "offline", "serve", "--port", "0"]) as process:
        assert process.stdout is not None
        first = b""
        with anyio.fail_after(30):
            while not first.endswith(b"\n"):
                first += await process.stdout.receive(1)
        yield OfflineServer(first.decode().removeprefix("offline model listening on ").strip())
        process.terminate()


SESSION_SETTINGS = """\
python: {{requirements: requirements.txt}}
network: host
claude:
  dangerously_skip_permissions: true
  env: {{ANTHROPIC_BASE_URL: "{url}", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"}}
{claude_extra}"""


def session_settings(url: str, claude_extra: str = "") -> str:
    """Config lines for sessions against the offline model; ``claude_extra`` goes under ``claude:``."""
    return SESSION_SETTINGS.format(url=url, claude_extra=claude_extra)


@pytest.fixture
def project(
    built_image: BuiltImage, tmp_path: Path, offline_model: OfflineServer
) -> Iterator[Project]:
    """A project whose config builds to the session's shared image and uses the offline model."""
    files = {"README.md": "test project\n", "requirements.txt": "six==1.16.0\n"}
    project = Project(tmp_path, make_repo(tmp_path / "repo", files), offline_model)
    (project.home / "configs").mkdir(parents=True)
    config_file = project.home / "configs" / "scadtest.yml"
    config_file.write_text(
        project_config("scadtest", project.repo, session_settings(offline_model.url))
    )
    # The same content as the shared image, tagged in the project's home as `scad
    # build` would tag it (an image of the same content is never built twice).
    context = build_context(Home(project.home), load_config(config_file))
    assert built_image.tag.endswith(f":{context.content_hash}")
    for tag in (context.tag, context.latest):
        subprocess.run(["docker", "tag", built_image.tag, tag], check=True, timeout=60)
    yield project
    remove_engine_leftovers(project.home)
    gateway = gateway_info(Home(project.home))
    if gateway is not None:  # the gateway the project's sessions started, by its pid
        os.kill(gateway.pid, signal.SIGTERM)
    for config in (project.home / "configs").glob("*.yml"):
        remove_images(image_repository(config.stem, home_label(Home(project.home))))


@pytest.fixture(scope="session")
def swarm() -> Iterator[Swarm]:
    """The test swarm (tests/integration/cluster.py), formed once per test run on a
    loop of its own, and undone at the end of the run."""
    missing = [tool for tool in ("dockerd", "ip", "nsenter", "unshare", "tini",
                                 "iptables", "docker-registry") if shutil.which(tool) is None]  # fmt: skip
    if missing or os.geteuid() != 0:
        reason = f"missing {', '.join(missing)}" if missing else "not root"
        if in_ci():
            pytest.fail(f"CI needs to form a swarm: {reason} (run ./setup.sh)")
        pytest.skip(f"NO SWARM, swarm tests skipped: {reason}")
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(swarm_cluster(BASE_IMAGE, workers=3)) as formed,
    ):
        yield formed
