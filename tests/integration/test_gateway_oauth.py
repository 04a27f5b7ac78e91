"""Runs sharing the host's OAuth login through the home's gateway, with the real engine,
the real Claude Code and the offline model behind it, while the login expires: the
gateway refreshes it once, both runs go on, and the host's file holds the new tokens."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from scad.gateway import gateway_info
from scad.gateway.process import TOKEN_ENDPOINT_VARIABLE
from scad.home import Home
from tests.integration.test_gateway import RecordingModel
from tests.unit.gateway.oauth_support import TokenEndpoint, write_login

from .sessions_support import Project, wait_until
from .test_batch import Spawned
from .test_gateway_runs import model as model  # a fixture, shared

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    """Claude's OAuth token endpoint, stood in for on 127.0.0.1."""
    fake = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/v1/oauth/token", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/oauth/token"
        yield fake
    finally:
        fake.gate.set()
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


def connections_to(port: int) -> int:
    """How many TCP connections to ``port`` on 127.0.0.1 are established now."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "01")


async def test_two_runs_share_one_refresh_of_an_expiring_login(
    project: Project, model: RecordingModel, endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    project.env.pop("ANTHROPIC_API_KEY")
    project.env[TOKEN_ENDPOINT_VARIABLE] = endpoint.url
    login = project.root / "host-home" / ".claude" / ".credentials.json"
    # Within the refresh margin: the first model call of either run needs a new token.
    write_login(login, access="access-old", refresh="refresh-old", expires_at=time.time() + 60)
    endpoint.gate = anyio.Event()  # the refresh is answered once both runs wait for it
    batch = await Spawned.start(
        project, tmp_path, "batch", "batch", "scadtest", "--tag", "oauth",
        "-p", "TOKENS: 200 20\nSAY: one", "-p", "TOKENS: 200 20\nSAY: two",
        "-j", "2", "--foreground", "--json",
    )  # fmt: skip
    home = Home(project.home)
    with anyio.fail_after(120):
        await endpoint.received.wait()
    gateway = gateway_info(home)
    assert gateway is not None
    # Both runs' calls are at the gateway, held behind the one refresh.
    await wait_until(lambda: connections_to(gateway.port) >= 2, timeout=120)
    endpoint.gate.set()
    assert await batch.wait(180) == 0, batch.err
    view = json.loads(batch.out)
    assert [row["outcome"] for row in view["rows"]] == ["succeeded", "succeeded"]
    assert len(endpoint.bodies) == 1
    assert endpoint.bodies[0]["refresh_token"] == "refresh-old"
    assert model.credentials and set(model.credentials) == {"Bearer access-1"}
    written = json.loads(login.read_text())["claudeAiOauth"]
    assert (written["accessToken"], written["refreshToken"]) == ("access-1", "refresh-1")
    assert written["expiresAt"] > (time.time() + 3000) * 1000
    assert json.loads(login.read_text())["mcpOAuth"] == {"server": {"accessToken": "kept"}}
    assert login.stat().st_mode & 0o777 == 0o600
