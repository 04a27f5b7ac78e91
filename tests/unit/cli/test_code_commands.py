"""`scad code fetch` from the command line: its usage errors, and runs that cannot be
fetched beside ones that can."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import msgspec
import pytest

from scad.runs.records import RunPaths, save_run
from tests.conftest import Cli, on_a_terminal
from tests.unit.test_codefetch import BRANCH, RUN, commit, git, make_run

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name runs by RUN_ID, or a batch with --batch BATCH_ID (one of them)"),
        (
            ("r", "--batch", "b"),
            "name runs by RUN_ID, or a batch with --batch BATCH_ID (one of them)",
        ),
        (("--batch", "p-b-Nov27-1000"), 'no batch "p-b-Nov27-1000"'),
        (("nope",), 'no run "nope"'),
    ],
)
async def test_fetch_refuses_bad_arguments_in_one_line(
    run_cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = await run_cli("code", "fetch", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"scad: error: {message}") and result.stderr.count("\n") == 1


async def test_runs_that_cannot_be_fetched_are_named_and_the_others_come_home(
    run_cli: Cli, tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    monkeypatch.setenv("SCAD_HOME", str(home.root))
    work = commit(RunPaths(home, RUN).clone("code"), "work.txt")
    gone = msgspec.structs.replace(record, run_id="gone", cleaned="2026-11-27T01:00:00.000Z")
    RunPaths(home, "gone").root.mkdir()
    save_run(home, gone)

    result = await run_cli("code", "fetch", RUN, "gone")
    assert result.exit_code == 1
    assert result.stderr == "error: gone was cleaned; its clones are gone\n"
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows == [
        [RUN, "code", "main", "-", "current", "0", "-"],
        [RUN, "code", BRANCH, BRANCH, "new", "1", "1:", "work.txt"],
    ]
    assert git(repo, "rev-parse", BRANCH) == work

    as_json = json.loads((await run_cli("code", "fetch", RUN, "gone", "--json")).stdout)
    assert as_json["problems"] == ["gone was cleaned; its clones are gone"]
    assert [r["run_id"] for r in as_json["runs"]] == [RUN]


async def test_fetching_many_runs_shows_its_progress_on_a_terminal(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    commit(RunPaths(home, RUN).clone("code"), "work.txt")
    gone = msgspec.structs.replace(record, run_id="gone", cleaned="2026-11-27T01:00:00.000Z")
    RunPaths(home, "gone").root.mkdir()
    save_run(home, gone)
    env = {**os.environ, "SCAD_HOME": str(home.root)}
    stdout, shown = await anyio.to_thread.run_sync(
        on_a_terminal, ["code", "fetch", RUN, "gone"], env
    )
    assert RUN in stdout
    steps = "".join(f"\r\x1b[Kfetching runs: {n}/2" for n in range(2))
    assert shown == steps + "\r\x1b[Kerror: gone was cleaned; its clones are gone\r\n"
    # With --json: no progress.
    _, shown = await anyio.to_thread.run_sync(
        on_a_terminal, ["code", "fetch", RUN, "gone", "--json"], env
    )
    assert shown == ""
