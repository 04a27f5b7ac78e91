"""The transport's handlers served on 127.0.0.1 for one registered remote run."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from scad.code.pushed import read_pushed
from scad.gateway import TransportLimits, enable_transport
from scad.gateway._registry import register_run
from scad.gateway._transport import Transport
from scad.home import Home
from scad.runs.records import RunPaths
from tests.conftest import make_repo

RUN = "proj-t-Jan01-0000"


class Served(msgspec.Struct, kw_only=True):
    home: Home
    url: str
    token: str
    repo: Path
    work: Path


def plain_git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def new_run(home: Home, run_id: str) -> str:
    home.run_dir(run_id).mkdir(parents=True)
    return register_run(home, run_id).token


@pytest.fixture
def limits() -> TransportLimits:
    return TransportLimits()


@pytest.fixture
async def served(tmp_path: Path, limits: TransportLimits) -> AsyncIterator[Served]:
    home = Home(tmp_path / "home")
    token = new_run(home, RUN)
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    await enable_transport(home, RUN, {"code": repo})
    app = web.Application()
    Transport(home, limits).add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    work = tmp_path / "work"
    work.mkdir()
    try:
        yield Served(home=home, url=f"http://127.0.0.1:{port}", token=token, repo=repo, work=work)
    finally:
        await runner.cleanup()


async def pushed_branches(served: Served) -> dict[str, str]:
    return (await read_pushed(RunPaths(served.home, RUN).pushed("code"), "scad-r")).branches


def write_state(home: Home) -> None:
    paths = RunPaths(home, RUN)
    (paths.claude_dir / "projects").mkdir(parents=True)
    (paths.claude_dir / "projects" / "t.jsonl").write_text("old\n")
    paths.claude_json.write_text('{"old": true}')
    paths.inputs.mkdir()
    (paths.inputs / "prompt.txt").write_text("do it")
    (paths.inputs / "credentials.env").write_text("SECRET=1")
