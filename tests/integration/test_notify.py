"""Being told: a batch's notices and an idle session's, end to end: real engine, real
image, real Claude Code, the offline model; the notifiers are a local HTTP server and a
command, both the test's."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from scad.gateway import events_path
from scad.home import Home
from scad.runs.gatewaylog import NotifyFailed, read_gateway_events

from .conftest import project_config, session_settings
from .sessions_support import Project, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: Every field of the document, in every notice.
FIELDS = {
    "schema", "kind", "config", "run_id", "batch_id", "item", "outcome", "detail", "counts",
    "time",
}  # fmt: skip


class Listener:
    """An HTTP server on 127.0.0.1 that keeps every document POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def take(self, request: web.Request) -> web.Response:
        assert request.headers["content-type"] == "application/json"
        self.received.append(json.loads(await request.read()))
        return web.Response(status=204)


@asynccontextmanager
async def listening() -> AsyncIterator[Listener]:
    listener = Listener()
    app = web.Application()
    app.router.add_post("/told", listener.take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        listener.url = f"http://127.0.0.1:{runner.addresses[0][1]}/told"
        yield listener
    finally:
        await runner.cleanup()


def appending_command(tmp_path: Path) -> tuple[str, Path]:
    """A notifier command that appends the document on its stdin to a file, one a line."""
    script, told = tmp_path / "append.py", tmp_path / "told.jsonl"
    script.write_text(
        "import sys\n"
        "with open(sys.argv[1], 'ab') as out:\n"
        "    out.write(sys.stdin.buffer.read() + b'\\n')\n"
    )
    return shlex.join([sys.executable, str(script), str(told)]), told


def set_notify(project: Project, notify: str) -> None:
    """The project's config, telling ``notify`` (a flow mapping's body)."""
    config = project.home / "configs" / "scadtest.yml"
    config.write_text(
        project_config(
            "scadtest",
            project.repo,
            session_settings(project.model.url) + f"notify: {{{notify}}}\n",
        )
    )


def batch_id_of(project: Project) -> str:
    (batch,) = (project.home / "batches").iterdir()
    return batch.name


def batch_events(project: Project, batch_id: str) -> list[dict[str, Any]]:
    text = (project.home / "batches" / batch_id / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def runs_of(project: Project, batch_id: str) -> dict[int, str]:
    found = {}
    for record in (project.home / "runs").glob("*/run.json"):
        data = json.loads(record.read_text())
        if data.get("batch_id") == batch_id:
            found[data["item"]] = data["run_id"]
    return found


@pytest.fixture
def no_leftover_sleeps() -> Iterator[str]:
    """A command that sleeps (as good as) forever, by a number no other process uses;
    afterwards, no process of it is left."""
    marker = f"{os.getpid() % 10000 + 987_650_000}"
    yield f"sleep {marker}"
    left = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in words:
            left.append(cmdline.parent.name)
    assert left == [], "a notifier command outlived its time"


@pytest.mark.timeout(600)
async def test_a_batch_tells_a_url_and_a_command_once_each(
    project: Project, tmp_path: Path
) -> None:
    command, told = appending_command(tmp_path)
    async with listening() as listener:
        set_notify(project, f"url: '{listener.url}', command: {json.dumps(command)}")
        ended = await project.scad(
            "batch", "scadtest", "--tag", "tell", "-p", "FAIL: 403", "-p", "SAY: fine",
            "-j", "2", "--foreground", check=False,
        )  # fmt: skip
        assert "Traceback" not in ended.stderr, ended.stderr
    batch_id = batch_id_of(project)
    runs = runs_of(project, batch_id)
    by_command = [json.loads(line) for line in told.read_text().splitlines()]
    for documents in (listener.received, by_command):
        assert all(set(document) == FIELDS for document in documents), documents
        kinds = sorted(document["kind"] for document in documents)
        assert kinds == ["batch-ended", "run-needs-attention"], documents
        (attention,) = [d for d in documents if d["kind"] == "run-needs-attention"]
        assert attention["schema"] == 1 and attention["config"] == "scadtest"
        assert attention["batch_id"] == batch_id and attention["item"] == 1
        assert attention["run_id"] == runs[1] and attention["outcome"] == "failed"
        (end,) = [d for d in documents if d["kind"] == "batch-ended"]
        assert end["batch_id"] == batch_id and end["run_id"] is None
        assert end["outcome"] == "failed"
        assert end["counts"] == {"failed": 1, "succeeded": 1}
    # One claim each in the batch's log, and no failure.
    events = batch_events(project, batch_id)
    claimed = sorted(e["kind"] for e in events if e["event"] == "notified")
    assert claimed == ["batch-ended", "run-needs-attention"]
    assert not [e for e in events if e["event"] == "notify-failed"]


@pytest.mark.timeout(600)
async def test_a_notifier_that_sleeps_forever_holds_no_batch_up(
    project: Project, no_leftover_sleeps: str
) -> None:
    set_notify(project, f"command: '{no_leftover_sleeps}', timeout: 3")
    ended = await project.scad(
        "batch", "scadtest", "--tag", "hang", "-p", "FAIL: 403", "-p", "SAY: fine",
        "-j", "2", "--foreground", check=False,
    )  # fmt: skip
    assert "Traceback" not in ended.stderr, ended.stderr
    batch_id = batch_id_of(project)
    failed = [e for e in batch_events(project, batch_id) if e["event"] == "notify-failed"]
    assert sorted(e["kind"] for e in failed) == ["batch-ended", "run-needs-attention"]
    assert all(e["target"] == "command" and "timed out" in e["detail"] for e in failed)
    shown = await project.scad("batch", "status", batch_id, "--json", check=False)
    status = json.loads(shown.stdout)
    assert any("notice to the command: timed out" in note for note in status["notes"]), status
    assert sorted(row["outcome"] for row in status["rows"]) == ["failed", "succeeded"]


@pytest.mark.timeout(600)
async def test_an_idle_session_is_told_once(project: Project) -> None:
    async with listening() as listener:
        set_notify(project, f"url: '{listener.url}', idle_seconds: 3")
        run_id = await project.start("--tag", "idle", "--prompt", "SAY: waiting for you")
        await wait_until(lambda: listener.received, timeout=180)
        # Claude Code says it once for each wait; a second would come within a few of
        # its idle_seconds.
        await anyio.sleep(12)
        await project.scad("session", "stop", run_id, check=False)
    (notice,) = listener.received
    assert set(notice) == FIELDS
    assert notice["schema"] == 1 and notice["kind"] == "session-idle"
    assert notice["config"] == "scadtest" and notice["run_id"] == run_id
    assert notice["batch_id"] is notice["item"] is notice["outcome"] is None
    gateway_events = list(read_gateway_events(events_path(Home(project.home), run_id)))
    assert not [e for e in gateway_events if isinstance(e, NotifyFailed)]
