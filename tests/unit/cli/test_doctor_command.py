"""`scad doctor`: one line per check, fixes under warnings and failures, --json, exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from scad.doctor import CHECKS
from scad.doctor._cluster import SWARM_CHECKS
from scad.engine._types import Engine
from scad.errors import EngineUnavailable
from tests.conftest import Cli, opening
from tests.unit.conftest import Disk
from tests.unit.test_doctor import ENGINE_FIX, UNAVAILABLE, FakeGateway, Host
from tests.unit.test_doctor import gateway as gateway  # the fixture: no gateway process

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_gateway_process(gateway: FakeGateway) -> FakeGateway:
    """No doctor here starts a gateway process of its own."""
    return gateway


@pytest.fixture
def patched(
    run_cli: Cli, scad_home: Path, tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch,
    gateway: FakeGateway,
) -> Host:  # fmt: skip
    """A host whose engine and environment the CLI sees."""
    host = Host(scad_home, tmp_path)
    run_cli.use_engine(scad_home, opening(host.engine))
    monkeypatch.setenv("HOME", host.environ["HOME"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", host.environ["ANTHROPIC_API_KEY"])
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return host


def timing(text: str) -> str:
    return re.sub(r"in \d+\.\d s", "in T s", text)


async def test_a_healthy_host_prints_a_line_per_check(
    run_cli: Cli, patched: Host, gateway: FakeGateway
) -> None:
    patched.config()
    tag = patched.build()

    result = await run_cli("doctor")

    assert result.exit_code == 0
    assert timing(result.stdout) == (
        "ok    engine: Docker fake at unix:///var/run/docker.sock (the local socket), on this host\n"
        "ok    base image (proj): python:3.11-slim is present\n"
        "ok    config (proj): valid; repos: code\n"
        "ok    credentials: ANTHROPIC_API_KEY (an API key)\n"
        "ok    CA certificates: none configured\n"
        f"ok    home: {patched.home.root} is writable\n"
        f"ok    disk: 100.0 GiB free at {patched.home.root}\n"
        f"ok    engine disk: 100.0 GiB free at {patched.tmp}/docker (images and containers)\n"
        "ok    mounts: no config mounts a host folder\n"
        "ok    live-restore: on: running sessions survive a restart of the engine\n"
        f"ok    claude --version (proj): 2.1.332 (Claude Code) in {tag}\n"
        f"ok    gateway (proj): pid 4321, port {gateway.port}: answers HEAD /, and a container "
        "on the bridge network reaches it at 172.17.0.1\n"
        f"ok    round trip (proj): claude in {tag} answered the offline model in T s\n"
    )


async def test_an_unavailable_engine_fails_with_its_fix_and_no_traceback(
    run_cli: Cli, patched: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    patched.config()

    @asynccontextmanager
    async def unavailable(*, max_connections: int = 100) -> AsyncIterator[Engine]:
        raise EngineUnavailable(UNAVAILABLE)
        yield  # pragma: no cover

    run_cli.use_engine(patched.home.root, unavailable)

    result = await run_cli("doctor")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"FAIL  engine: {UNAVAILABLE}", f"      fix: {ENGINE_FIX}"]
    assert [line for line in lines if line.startswith("skip")] == [
        "skip  base image: the engine did not answer",
        "skip  engine disk: the engine did not answer",
        "skip  live-restore: the engine did not answer",
        "skip  claude --version: the engine did not answer",
        "skip  gateway: the engine did not answer",
        "skip  round trip: the engine did not answer",
    ]
    assert (
        len(lines) == len(CHECKS) - len(SWARM_CHECKS) + 1
    )  # one line a check, and the engine's fix
    assert "Traceback" not in result.output and result.stderr == ""


async def test_warnings_show_their_fix_and_do_not_fail(
    run_cli: Cli, patched: Host, disk: Disk
) -> None:
    patched.config()
    patched.build()
    patched.engine.live_restore_enabled = False
    disk.free = 2 * 1024**3

    result = await run_cli("doctor")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    at = lines.index(
        "WARN  live-restore: off: a restart of dockerd ends every running session (exit 143)"
    )
    assert lines[at + 1] == (
        '      fix: set "live-restore": true in /etc/docker/daemon.json and reload dockerd '
        "(systemctl reload docker, or kill -HUP its pid)"
    )
    assert f"WARN  disk: 2.0 GiB free at {patched.home.root}; less than 5 GiB" in lines


async def test_a_failure_exits_1(
    run_cli: Cli, patched: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = await run_cli("doctor")
    assert result.exit_code == 1
    assert (
        "FAIL  credentials: no Claude credentials on this host\n"
        "      fix: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, or run `claude` to log in\n"
    ) in result.stdout


async def test_json_gives_every_check_and_whether_all_passed(run_cli: Cli, patched: Host) -> None:
    patched.config()
    patched.engine.live_restore_enabled = False

    result = await run_cli("doctor", "--json")

    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["ok"] is True
    assert [c["name"] for c in shown["checks"]] == [n for n in CHECKS if n not in SWARM_CHECKS]
    by_name = {c["name"]: c for c in shown["checks"]}
    assert by_name["base image"] == {
        "name": "base image",
        "status": "pass",
        "detail": "python:3.11-slim is present",
        "fix": None,
        "config": "proj",
    }
    assert by_name["live-restore"]["status"] == "warn" and by_name["live-restore"]["fix"]
    assert by_name["claude --version"] == {
        "name": "claude --version",
        "status": "skip",
        "detail": "not built; run `scad build proj`",
        "fix": None,
        "config": "proj",
    }


async def test_json_says_not_ok_and_exits_1_on_a_failure(
    run_cli: Cli, patched: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = await run_cli("doctor", "--json")
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert shown["ok"] is False
    assert [c["status"] for c in shown["checks"] if c["name"] == "credentials"] == ["fail"]
