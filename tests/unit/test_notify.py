"""Notices: the document, its delivery to a command and to a URL, and the rules a
notifier's settings and ``--notify`` follow."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from scad.config.loading import parse_config
from scad.config.notifying import is_url
from scad.config.schema import NotifySettings
from scad.errors import ConfigError
from scad.notify.deliver import command_argv, deliver
from scad.notify.notice import Notice, encode_notice
from scad.notify.notifier import Notifier

pytestmark = pytest.mark.anyio

NOTICE = Notice(
    kind="run-needs-attention", config="p", run_id="p-b-01-Nov27-1000", batch_id="p-b-Nov27-1000",
    item=1, outcome="failed", detail="exit 1", time="2026-11-27T10:00:00.000Z",
)  # fmt: skip


def test_the_document_has_every_field_named_and_its_schema() -> None:
    assert json.loads(encode_notice(NOTICE)) == {
        "schema": 1,
        "kind": "run-needs-attention",
        "config": "p",
        "run_id": "p-b-01-Nov27-1000",
        "batch_id": "p-b-Nov27-1000",
        "item": 1,
        "outcome": "failed",
        "detail": "exit 1",
        "counts": None,
        "time": "2026-11-27T10:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        pytest.param("notify-me --urgent 'a b'", ["notify-me", "--urgent", "a b"], id="words"),
        pytest.param("cat > /tmp/x", ["/bin/sh", "-c", "cat > /tmp/x"], id="redirection"),
        pytest.param("a | b", ["/bin/sh", "-c", "a | b"], id="pipe"),
        pytest.param("echo $HOME", ["/bin/sh", "-c", "echo $HOME"], id="variable"),
        pytest.param("X=1 run", ["/bin/sh", "-c", "X=1 run"], id="assignment"),
    ],
)
def test_a_command_speaks_shell_only_when_its_words_do(command: str, argv: list[str]) -> None:
    assert command_argv(command) == argv


def python_command(script: str) -> str:
    return f"{sys.executable} -c '{script}'"


async def test_a_command_receives_exactly_the_document_once(tmp_path: Path) -> None:
    got = tmp_path / "got"
    script = tmp_path / "take.py"
    script.write_text("import sys\nopen(sys.argv[1], 'ab').write(sys.stdin.buffer.read())\n")
    command = f"{sys.executable} {script} {got}"
    [done] = await deliver(NotifySettings(command=command), NOTICE)
    assert done.ok and done.detail == "exit 0"
    assert got.read_bytes() == encode_notice(NOTICE)


async def test_a_command_that_fails_is_reported_with_what_it_said() -> None:
    script = 'import sys; print("no route to pager"); sys.exit(3)'
    [done] = await deliver(NotifySettings(command=python_command(script)), NOTICE)
    assert not done.ok and done.detail == "exit 3: no route to pager"


async def test_a_command_whose_child_holds_its_output_is_done_when_it_exits() -> None:
    # The child keeps stdout open long past the drain; the command's exit decides.
    command = "echo paging; sleep 30 & exit 4"
    [done] = await deliver(NotifySettings(command=command, timeout=20), NOTICE)
    assert not done.ok and done.detail == "exit 4: paging"


async def test_a_command_that_sleeps_forever_is_stopped_at_its_time(tmp_path: Path) -> None:
    [done] = await deliver(NotifySettings(command="sleep infinity", timeout=0.2), NOTICE)
    assert not done.ok and done.detail == "timed out after 0.2 s"


async def test_a_command_that_cannot_start_is_reported() -> None:
    [done] = await deliver(NotifySettings(command="/nonexistent/notifier"), NOTICE)
    assert not done.ok and done.detail.startswith("could not start")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[str, bytes]], list[int]]]:
    """A local HTTP server answering each POST with the next status given."""
    received: list[tuple[str, bytes]] = []
    statuses: list[int] = []

    async def take(request: web.Request) -> web.Response:
        received.append((request.content_type, await request.read()))
        return web.Response(status=statuses.pop(0) if statuses else 204, text="busy")

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/hook", received, statuses
    await runner.cleanup()


async def test_a_url_receives_exactly_the_document_once(
    receiver: tuple[str, list[tuple[str, bytes]], list[int]],
) -> None:
    url, received, _ = receiver
    [done] = await deliver(NotifySettings(url=url), NOTICE)
    assert done.ok and done.detail.startswith("HTTP 204")
    assert received == [("application/json", encode_notice(NOTICE))]


async def test_a_url_answering_500_is_reported_not_raised(
    receiver: tuple[str, list[tuple[str, bytes]], list[int]],
) -> None:
    url, received, statuses = receiver
    statuses.append(500)
    [done] = await deliver(NotifySettings(url=url), NOTICE)
    assert not done.ok and done.detail == "HTTP 500: busy" and len(received) == 1


async def test_a_url_nobody_listens_on_is_reported() -> None:
    with anyio.fail_after(30):
        [done] = await deliver(NotifySettings(url="http://127.0.0.1:9/"), NOTICE)
    assert not done.ok and done.detail.startswith("could not post")


async def test_a_notifier_that_hangs_holds_nothing_up() -> None:
    """send() returns at once; the caller's work goes on and ends while the
    delivery still hangs, and its end reaches the report once released."""
    release, delivering = anyio.Event(), anyio.Event()
    reported: list[bool] = []

    async def hanging(settings: NotifySettings, notice: Notice) -> list:  # type: ignore[type-arg]
        delivering.set()
        await release.wait()
        raise RuntimeError("gave up")

    async def report(notice: Notice, deliveries: list) -> None:  # type: ignore[type-arg]
        reported.extend(d.ok for d in deliveries)

    work_done = False
    async with Notifier(NotifySettings(url="http://127.0.0.1:9/"), report, deliver=hanging) as n:
        n.send(NOTICE)
        await delivering.wait()
        work_done = True  # the caller's work, done while the notifier hangs
        assert not reported
        release.set()
    assert work_done and reported == [False]


CONFIG = "name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\nnotify: {notify}\n"


@pytest.mark.parametrize(
    ("notify", "field", "problem"),
    [
        pytest.param(
            "{url: 'ftp://h/x'}", "notify.url", "is not an http:// or https:// URL", id="scheme"
        ),
        pytest.param("{url: 'http:///x'}", "notify.url", "names no host", id="no-host"),
        pytest.param(
            "{url: 'https://u:p@h/x'}", "notify.url", "user name or password", id="credentials"
        ),
        pytest.param("{command: '  '}", "notify.command", "is empty", id="empty-command"),
        pytest.param(
            "{command: 'say \"hi'}", "notify.command", "cannot be read", id="unbalanced-quote"
        ),
        pytest.param("{command: x, timeout: 0}", "notify.timeout", "is not a number", id="no-time"),
    ],
)
def test_a_bad_notifier_in_the_config_is_one_line_naming_its_field(
    tmp_path: Path, notify: str, field: str, problem: str
) -> None:
    (tmp_path / "repo").mkdir()
    text = CONFIG.format(repo=tmp_path / "repo", notify=notify)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, label="p.yml", base_dir=tmp_path)
    assert caught.value.field == field and problem in caught.value.problem
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("https://hooks.example/x", True),
        ("HTTP://h", True),
        ("notify-send x", False),
        ("./http-notifier", False),
    ],
)
def test_notify_tells_a_url_from_a_command_by_its_scheme(value: str, url: bool) -> None:
    assert is_url(value) is url


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        pytest.param(
            ("https://a/x", "https://b/x"), "give at most one URL and one command", id="two-urls"
        ),
        pytest.param(("https:///x",), "names no host", id="no-host"),
        pytest.param(("a", "b"), "give at most one URL and one command", id="two-commands"),
        pytest.param(("  ",), "the command is empty", id="empty"),
    ],
)
async def test_a_bad_notify_option_is_one_line(
    run_cli: Any, values: tuple[str, ...], problem: str
) -> None:
    args = [arg for value in values for arg in ("--notify", value)]
    result = await run_cli("batch", "calc", "--tag", "t", "-p", "x", *args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("scad: error: --notify: ") and problem in line
