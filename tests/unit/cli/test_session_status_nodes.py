"""Which swarm node each run is on, in `session status` and `session info`: the latest
attempt's, shown escaped and cut, and the table still 80 columns wide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scad.cli.session.status import _screen
from scad.home import Home
from scad.runs.records import RunPaths, list_runs
from scad.sessions.status import run_statuses
from scad.text import display_width
from tests.conftest import Cli
from tests.unit.test_projects import add_run
from tests.unit.test_summaries import Log, crashed, headless, retried_across_nodes, running

pytestmark = pytest.mark.anyio

LOCAL, MOVED, BACK_HOME, HOSTILE, HUGE = (
    "calc-local-Nov27-1030",
    "calc-moved-Nov27-1030",
    "calc-back-home-Nov27-1030",
    "calc-hostile-node-Nov27-1030",
    "calc-huge-node-Nov27-1030",
)
#: A node its owner named to rewrite the screen, and to take the clipboard.
EVIL = "evil\x1b[2J\x1b]52;c;Zm9v\x07\u202e"


def remote_day(home: Home) -> None:
    """A local run; one retried from a node to another; one retried locally after a
    node; one on a node named to attack the terminal; one on a node named in 10 kB."""
    headless(Log(RunPaths(home, add_run(home, LOCAL).run_id)))
    retried_across_nodes(Log(RunPaths(home, add_run(home, MOVED, minute=1).run_id)))
    log = Log(RunPaths(home, add_run(home, BACK_HOME, minute=2).run_id))
    crashed(log, node="node-1")
    log.scad("retry", cid=None, detail="attempt 2")
    running(log)
    crashed(Log(RunPaths(home, add_run(home, HOSTILE, minute=3).run_id)), node=EVIL)
    headless(Log(RunPaths(home, add_run(home, HUGE, minute=4).run_id)), node="n" * 10_000)


async def screen(home: Home, *, width: int | None, wide: bool = False) -> list[str]:
    rows = await run_statuses(None, home, list_runs(home))
    shown = _screen(rows, include_all=True, wide=wide, width=width, known=home.run_ids())
    return shown.splitlines()


def row_of(lines: list[str], run_id: str) -> str:
    (line,) = [line for line in lines if line.startswith(run_id.split("-Nov")[0])]
    return line


async def test_the_status_table_shows_each_runs_latest_node(tmp_path: Path) -> None:
    home = Home(tmp_path)
    remote_day(home)
    lines = await screen(home, width=None)
    assert lines[0].split() == ["RUN", "ID", "STATE", "ACTIVE", "TURNS", "COST", "NODE"]
    assert row_of(lines, LOCAL).endswith("  -")
    assert row_of(lines, MOVED).endswith("  node-2")
    assert row_of(lines, BACK_HOME).endswith("  -")
    assert row_of(lines, HOSTILE).endswith("  evil\\x1b[2J\\x1b]52;c;Zm9v\\x07\\u202e")
    assert row_of(lines, HUGE).endswith("  " + "n" * 63 + "\u2026")
    assert all("\x1b" not in line and "\u202e" not in line for line in lines)


@pytest.mark.parametrize("width", [80, 200])
async def test_the_status_table_with_nodes_fits_the_terminal(tmp_path: Path, width: int) -> None:
    home = Home(tmp_path)
    remote_day(home)
    lines = await screen(home, width=width)
    assert max(display_width(line) for line in lines) <= width, "\n".join(lines)
    assert row_of(lines, MOVED).endswith("  node-2")  # a short name is whole


async def test_without_a_node_the_table_is_as_it_was(tmp_path: Path) -> None:
    home = Home(tmp_path)
    headless(Log(RunPaths(home, add_run(home, LOCAL).run_id)))
    lines = await screen(home, width=80)
    assert lines[0].split() == ["RUN", "ID", "STATE", "ACTIVE", "TURNS", "COST"]


async def test_too_wide_even_cut_shows_run_ids_as_the_beginnings_that_name_them(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path)
    long_ids = [f"calc-day1-{n}-with-a-long-tag-Nov27-1030" for n in ("first", "other")]
    for n, run_id in enumerate(long_ids):
        headless(Log(RunPaths(home, add_run(home, run_id, minute=n).run_id)), node="node-7")
    lines = await screen(home, width=80)
    assert max(display_width(line) for line in lines) <= 80, "\n".join(lines)
    assert [line.split()[0] for line in lines[1:]] == [
        f"{run_id[:31]}\u2026" for run_id in long_ids
    ]
    assert [line.split()[-1] for line in lines[1:]] == ["node-7", "node-7"]
    wide = await screen(home, width=None, wide=True)
    assert [line.split()[0] for line in wide[1:]] == long_ids


async def test_session_status_json_and_info_name_the_node(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    home = Home(scad_home)
    remote_day(home)
    listed = json.loads((await run_cli("session", "status", "--all", "--json")).stdout)
    nodes = {row["run_id"]: row["summary"]["node"] for row in listed["sessions"]}
    assert nodes == {LOCAL: None, MOVED: "node-2", BACK_HOME: None, HOSTILE: EVIL,
                     HUGE: "n" * 10_000}  # fmt: skip
    info = json.loads((await run_cli("session", "info", MOVED, "--json")).stdout)
    assert info["summary"]["node"] == "node-2"
    text = (await run_cli("session", "info", MOVED)).stdout
    assert "   node node-2" in text.splitlines()[2], text
    hostile = (await run_cli("session", "info", HOSTILE)).stdout
    assert "node evil\\x1b[2J\\x1b]52;c;Zm9v\\x07\\u202e" in hostile and "\x1b" not in hostile
    huge = (await run_cli("session", "info", HUGE)).stdout
    assert max(len(line) for line in huge.splitlines()) < 200, huge
    local = (await run_cli("session", "info", LOCAL)).stdout
    assert " node " not in local
