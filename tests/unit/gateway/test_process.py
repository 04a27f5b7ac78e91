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


async def test_callers_asking_for_other_addresses_at_once_end_on_one_gateway_with_all(
    tmp_path: Path,
) -> None:
    """Two callers of one process ask for the home's gateway at once, each on an
    address of its own (doctor's checks do): the one whose start loses to the other's
    gateway looks at it again, and the home ends with one gateway on both."""
    import anyio

    from scad.gateway import gateway_info

    home = Home(tmp_path / "home")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_API_KEY": "sk-t"}
    try:
        async with anyio.create_task_group() as tg:
            for address in ("127.0.0.2", "127.0.0.3"):
                tg.start_soon(
                    lambda a=address: ensure_gateway(home, addresses=[a], environ=environ)
                )
        info = gateway_info(home)
        assert info is not None
        assert {"127.0.0.2", "127.0.0.3"} <= set(info.addresses)
    finally:
        await stop_gateway(home)


async def test_a_gateway_this_process_started_is_reaped_when_it_stops_it(tmp_path: Path) -> None:
    """Stopped by the process that started it, the gateway leaves no zombie behind (and
    no process object that says it still runs, which Python warns about at exit)."""
    from scad.gateway import _lifecycle

    home = Home(tmp_path / "home")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_API_KEY": "sk-t"}
    info = await ensure_gateway(home, environ=environ)
    assert await stop_gateway(home)
    assert [p.pid for p in _lifecycle._STARTED if p.returncode is None] == []
    assert not Path(f"/proc/{info.pid}").exists()
