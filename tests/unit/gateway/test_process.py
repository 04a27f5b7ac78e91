"""The gateway's process takes the host's credential as Claude Code would: an OAuth
login in Claude Code's credentials file too, refreshed by the gateway itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from scad.gateway import ensure_gateway, stop_gateway
from scad.home import Home

from .oauth_support import NOW, write_login

pytestmark = pytest.mark.anyio


async def test_a_gateway_on_an_oauth_login_holds_the_login(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    write_login(tmp_path / "host" / ".claude" / ".credentials.json",
                access="a", refresh="r", expires_at=NOW)  # fmt: skip
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "host")}
    info = await ensure_gateway(home, environ=environ)
    try:
        assert info.credential == "oauth-login"
    finally:
        if not await stop_gateway(home):
            os.kill(info.pid, signal.SIGKILL)
