"""A home with a batch and a hostile run (its branch, log lines and commit subject
carry markup), the web view served over it on 127.0.0.1, and a client that logs in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from scad.batch.store import BatchPaths, append_batch_event, save_manifest
from scad.code.clones import create_clone
from scad.engine import ContainerSpec
from scad.home import Home
from scad.runs.envelopes import Started
from scad.runs.events import append_event
from scad.runs.records import RunPaths, RunRecord, save_run
from scad.ui import Serving, Sources, serve_ui
from tests.conftest import opening
from tests.fakes import FakeEngine, batch_event
from tests.unit.test_batches import manifest
from tests.unit.test_projects import register
from tests.unit.test_review import AGENT
from tests.unit.test_summaries import Log, init, result

BATCH = "p-b-Nov27-1000"
RUN = "p-b-01-Nov27-1000"
BRANCH = "<script>alert(1)</script>"
SAID = "<img src=x onerror=alert(1)>"
SUBJECT = """say "hi" & 'bye' <b>"""
CSRF = re.compile(r'<meta name="scad-csrf" content="([^"]+)">')


def agent_git(clone: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(clone), *args],
        check=True, capture_output=True,
    )  # fmt: skip


def said(text: str, message_id: str = "m1") -> dict[str, Any]:
    """What the agent said, as Claude prints it."""
    content = [{"type": "text", "text": text}]
    return {"type": "assistant", "message": {"id": message_id, "content": content}}


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
async def home(tmp_path: Path, repo: Path, engine: FakeEngine) -> Home:
    """A batch of two prompts: the first's run (hostile) ran and failed, the second
    is queued; the run's container still runs in the engine."""
    home = Home(tmp_path / "home")
    register(home, "p", repo)
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    save_manifest(paths, msgspec.structs.replace(manifest(2), batch_id=BATCH))
    run = RunPaths(home, RUN)
    run.worktrees.mkdir(parents=True)
    record = RunRecord(
        run_id=RUN, config="p", tag="b-01", mode="headless", image="scad-p:x", branch=BRANCH,
        created="2026-11-27T10:00:00.000Z", repos={"code": str(repo)}, batch_id=BATCH, item=1,
    )  # fmt: skip
    await create_clone(repo, run.clone("code"), BRANCH, owner=AGENT)
    (run.clone("code") / "work.txt").write_text("work\n")
    agent_git(run.clone("code"), "add", "work.txt")
    agent_git(run.clone("code"), "commit", "-q", "-m", SUBJECT)
    spec = ContainerSpec(image="scad-p:x", name=f"scad-{RUN}", labels={"scad.run": RUN})
    record.container_id = await engine.create_container(spec)
    await engine.start(record.container_id)
    save_run(home, record)
    await append_event(run, Started(cid=record.container_id))
    log = Log(run)
    log.claude(init()).claude(said(SAID)).claude(result(0.5))
    log.scad("checked", cid=None, name="tests", exit_code=1, output=f"1 failed: {SAID}")
    append_batch_event(paths, batch_event("started", item=1, run_id=RUN, attempt=1))
    append_batch_event(
        paths,
        batch_event("attempt", item=1, run_id=RUN, attempt=1, status="failed", final=True,
                    detail=SAID),
    )  # fmt: skip
    return home


@pytest.fixture
async def serving(home: Home, engine: FakeEngine) -> AsyncIterator[Serving]:
    async with serve_ui(Sources(home, opening(engine), opening(engine))) as serving:
        yield serving


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies (an IP address's too, as a browser does)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


async def log_in(http: aiohttp.ClientSession, serving: Serving) -> str:
    """Open the printed address as a browser does (its page sets the cookie and
    refreshes to the index); the index's CSRF token."""
    async with http.get(serving.url) as response:
        assert response.status == 200
    async with http.get(f"{serving.bound.origin}/") as response:
        assert response.status == 200
        match = CSRF.search(await response.text())
    assert match is not None
    return match[1]


def origin(serving: Serving) -> dict[str, str]:
    return {"Origin": serving.bound.origin}
