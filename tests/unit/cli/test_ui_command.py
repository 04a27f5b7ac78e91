"""`scad ui`: prints its address with the token, serves it, and stops at Ctrl-C."""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest
from anyio.abc import Process

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def scad_ui(*args: str, env: dict[str, str]) -> AsyncIterator[Process]:
    """``scad ui`` in a process of its own, killed if the test ends while it runs."""
    process = await anyio.open_process(
        [sys.executable, "-m", "scad", "ui", "--port", "0", *args], env=env, stdout=subprocess.PIPE
    )
    async with process:
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()


async def printed_url(process: Process) -> str:
    """The address ``scad ui`` printed first."""
    assert process.stdout is not None
    with anyio.fail_after(30):
        printed = b""
        while b"\n" not in printed:
            printed += await process.stdout.receive()
    line = printed.decode().splitlines()[0]
    assert line.startswith("scad ui: http://127.0.0.1:") and "/?token=" in line
    return line.removeprefix("scad ui: ")


async def test_it_prints_its_address_serves_it_and_stops_at_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "SCAD_HOME": str(tmp_path / "home")}
    async with scad_ui(env=env) as process:
        url = await printed_url(process)
        async with aiohttp.ClientSession() as http:
            async with http.get(url, allow_redirects=False) as response:
                assert response.status == 200
            async with http.get(url.split("?")[0]) as response:
                assert response.status == 403
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(30):
            assert await process.wait() == 0


#: A browser for ``$BROWSER``: it keeps what it was given (its arguments, and the page
#: named there with its mode and its folder's) for the test to read.
RECORDING_BROWSER = """\
import json, os, sys
from urllib.parse import urlsplit, unquote
page = unquote(urlsplit(sys.argv[1]).path)
seen = {"argv": sys.argv[1:], "page": page, "text": open(page).read(),
        "mode": os.stat(page).st_mode & 0o777,
        "folder_mode": os.stat(os.path.dirname(page)).st_mode & 0o777}
with open(os.environ["RECORD"], "w") as record:
    json.dump(seen, record)
"""


async def test_open_does_not_put_the_token_in_the_browsers_arguments(tmp_path: Path) -> None:
    """``--open`` hands the browser a private page that refreshes to the address: the
    token is never in an argument list (every local user reads those in /proc), and
    the page is gone when the server stops."""
    browser = tmp_path / "browser.py"
    browser.write_text(RECORDING_BROWSER)
    record = tmp_path / "record.json"
    env = {
        **os.environ,
        "SCAD_HOME": str(tmp_path / "home"),
        "BROWSER": f"{sys.executable} {browser} %s",
        "RECORD": str(record),
    }
    async with scad_ui("--open", env=env) as process:
        url = await printed_url(process)
        with anyio.fail_after(30):
            while not record.exists() or not record.read_text():
                await anyio.sleep(0.05)  # a poll of the browser's record, bounded above
        token = url.split("?token=", 1)[1]
        seen = json.loads(record.read_text())
        assert all(token not in argument for argument in seen["argv"])
        assert seen["argv"] == [Path(seen["page"]).as_uri()]
        assert seen["mode"] == 0o600 and seen["folder_mode"] == 0o700
        assert f'<meta http-equiv="refresh" content="0; url={html.escape(url)}">' in seen["text"]
        assert "<script" not in seen["text"]
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(30):
            assert await process.wait() == 0
    assert not Path(seen["page"]).parent.exists()
