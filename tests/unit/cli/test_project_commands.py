"""`scad project status` against a temporary $SCAD_HOME, with no engine to ask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scad.home import Home
from scad.runs import records
from scad.runs.ledger import keep_collected
from scad.runs.records import RunPaths
from scad.runs.summaries import summarise_log
from tests.conftest import SCAD, Cli, on_a_terminal
from tests.unit.cli.test_main import _bash_complete
from tests.unit.test_projects import add_run, register
from tests.unit.test_summaries import Log, failed, headless, running

pytestmark = pytest.mark.anyio


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    socket = f"unix://{tmp_path}/none.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)
    return (
        f"warning: cannot reach the Docker engine at {socket}; start dockerd (or Docker "
        "Desktop) or point DOCKER_HOST (or a Docker context) at a running engine; states are unknown and totals "
        "are as last read\n"
    )


def three_runs(scad_home: Path, tmp_path: Path) -> Home:
    home = Home(scad_home)
    register(home, "proj", tmp_path / "repo")
    headless(Log(RunPaths(home, add_run(home, "proj-a-Nov27-1001", minute=1).run_id)),
             cost=0.25, duration_ms=65_000)  # fmt: skip
    failed(Log(RunPaths(home, add_run(home, "proj-b-Nov27-1002", minute=2).run_id)))
    running(Log(RunPaths(home, add_run(home, "proj-c-Nov27-1003", minute=3).run_id)))
    headless(Log(RunPaths(home, add_run(home, "other-a-Nov27-1004", config="other").run_id)))
    return home


async def test_status_prints_a_row_a_run_and_the_totals(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str
) -> None:
    three_runs(scad_home, tmp_path)
    result = await run_cli("project", "status", "proj", "-o", "wide")
    assert (result.exit_code, result.stderr) == (0, no_engine)
    assert result.stdout == (
        "RUN ID             STATE    OUTCOME    TURNS  IN   OUT    CACHE  COST      DURATION  BRANCH                  AHEAD\n"
        "proj-a-Nov27-1001  unknown  succeeded  3      100  40000  340    $0.2500   1m05s     scad-proj-a-Nov27-1001  -\n"
        "proj-b-Nov27-1002  unknown  failed     3      100  40000  340    $0.2500   4s        scad-proj-b-Nov27-1002  -\n"
        "proj-c-Nov27-1003  unknown  running    0      20   6      200    ~$0.0002  0s        scad-proj-c-Nov27-1003  -\n"
        "TOTAL                                  6      220  80006  880    ~$0.5002  1m09s                             0\n"
        "3 runs: 1 failed, 1 running, 1 succeeded\n"
    )


async def test_status_json_has_rows_and_totals(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str
) -> None:
    three_runs(scad_home, tmp_path)
    result = await run_cli("project", "status", "proj", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert sorted(out) == ["config", "cost_problem", "rows", "schema", "totals"]
    assert out["config"] == "proj"
    assert [(r["run_id"], r["outcome"], r["cost_usd"]) for r in out["rows"]] == [
        ("proj-a-Nov27-1001", "succeeded", 0.25),
        ("proj-b-Nov27-1002", "failed", 0.25),
        ("proj-c-Nov27-1003", "running", pytest.approx(0.00021)),
    ]
    assert out["rows"][0] == {
        "run_id": "proj-a-Nov27-1001", "created": "2026-11-27T10:01:00.000Z",
        "state": "unknown", "exit_code": None,
        "outcome": "succeeded", "turns": 3, "input_tokens": 100, "output_tokens": 40_000,
        "cache_read_tokens": 300, "cache_creation_tokens": 40, "cost_usd": 0.25,
        "cost_estimated": False, "duration_ms": 65000, "branch": "scad-proj-a-Nov27-1001",
        "ahead": None, "problem": None, "ccusage_cost_usd": None, "ccusage_tokens": None, "gateway": None,
    }  # fmt: skip
    totals = out["totals"]
    assert {k: v for k, v in totals.items() if k != "cost_usd"} == {
        "runs": 3, "outcomes": {"succeeded": 1, "failed": 1, "running": 1}, "turns": 6,
        "input_tokens": 220, "output_tokens": 80_006, "cache_read_tokens": 800,
        "cache_creation_tokens": 80, "cost_estimated": True, "duration_ms": 69000, "ahead": 0,
        "ccusage_cost_usd": None, "ccusage_tokens": None, "gateway": None,
    }  # fmt: skip
    assert totals["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in out["rows"]))


async def test_one_look_reads_each_run_record_once(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_runs(scad_home, tmp_path)
    loaded: list[str] = []
    real = records.load_run

    def counted(home: Home, run_id: str) -> records.RunRecord:
        loaded.append(run_id)
        return real(home, run_id)

    monkeypatch.setattr(records, "load_run", counted)
    result = await run_cli("project", "status", "proj", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["rows"]) == 3
    assert sorted(loaded) == sorted(set(loaded))  # four runs in the home, each read once
    assert len(loaded) == 4


async def test_an_unknown_config_is_one_line_and_exit_code_2(
    run_cli: Cli, scad_home: Path, tmp_path: Path
) -> None:
    three_runs(scad_home, tmp_path)
    result = await run_cli("project", "status", "nope")
    assert (result.exit_code, result.stdout) == (2, "")
    assert (
        result.stderr == 'scad: error: no config "nope" and no runs of it; see `scad config list`\n'
    )


async def test_a_config_without_runs_is_an_empty_table(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str
) -> None:
    register(Home(scad_home), "proj", tmp_path / "repo")
    result = await run_cli("project", "status", "proj", "-o", "wide")
    assert (result.exit_code, result.stderr) == (0, no_engine)
    assert result.stdout == (
        "RUN ID  STATE  OUTCOME  TURNS  IN  OUT  CACHE  COST     DURATION  BRANCH  AHEAD\n"
        "TOTAL                   0      0   0    0      $0.0000  0s                0\n"
        "0 runs\n"
    )
    result = await run_cli("project", "status", "proj", "--json")
    assert json.loads(result.stdout)["rows"] == []


async def test_a_run_whose_clone_cannot_be_read_is_named_with_its_problem(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str
) -> None:
    home = Home(scad_home)
    record = add_run(home, "proj-a-Nov27-1001", repo=tmp_path / "repo")
    headless(Log(RunPaths(home, record.run_id)))
    clone = RunPaths(home, record.run_id).clone("code")
    clone.parent.mkdir()
    clone.symlink_to(tmp_path)  # the clone itself a link: never followed
    result = await run_cli("project", "status", "proj", "-o", "wide")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].endswith("scad-proj-a-Nov27-1001  ?")
    assert result.stderr == no_engine + (
        "warning: proj-a-Nov27-1001: commits ahead unknown: "
        f"code: {clone} is a symbolic link; not followed\n"
    )


def test_config_names_complete(scad_home: Path) -> None:
    (scad_home / "configs").mkdir(parents=True)
    for name in ("alpha", "beta", "alps"):
        (scad_home / "configs" / f"{name}.yml").write_text("name: x\n")
    assert _bash_complete("scad project status al", scad_home) == ["alpha", "alps"]


@pytest.mark.parametrize(
    ("ccusage", "why"),
    [
        ("exit 3", "ccusage failed: exit code 3"),
        ("echo '[1, 2'", "ccusage printed something scad cannot read"),
    ],
)
async def test_cost_without_ccusage_is_one_warning_and_the_table_still_prints(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
    no_engine: str,
    monkeypatch: pytest.MonkeyPatch,
    ccusage: str,
    why: str,
) -> None:
    three_runs(scad_home, tmp_path)
    script = tmp_path / "ccusage"
    script.write_text(f"#!/bin/sh\n{ccusage}\n")
    script.chmod(0o755)
    monkeypatch.setenv("SCAD_CCUSAGE", str(script))
    result = await run_cli("project", "status", "proj", "--cost", "-o", "wide")
    assert result.exit_code == 0
    warning = result.stderr.removeprefix(no_engine)
    assert warning.startswith(f"warning: no ccusage figures: {why}") and warning.count("\n") == 1
    lines = result.stdout.splitlines()
    assert lines[0].split()[-4:] == ["CCUSAGE", "$", "CCUSAGE", "TOKENS"]
    assert [line.split()[-2:] for line in lines[1:4]] == [["-", "-"]] * 3
    assert lines[-1] == "3 runs: 1 failed, 1 running, 1 succeeded"


async def test_cost_shows_ccusage_figures_beside_scad(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_runs(scad_home, tmp_path)
    totals = {"inputTokens": 100, "outputTokens": 20, "totalCost": 0.125}
    script = tmp_path / "ccusage"
    script.write_text(f"#!/bin/sh\necho '{json.dumps({'totals': totals})}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("SCAD_CCUSAGE", str(script))
    result = await run_cli("project", "status", "proj", "--cost", "--json")
    status = json.loads(result.stdout)
    assert [(r["ccusage_cost_usd"], r["ccusage_tokens"]) for r in status["rows"]] == [
        (0.125, 120)
    ] * 3
    assert (status["totals"]["ccusage_cost_usd"], status["totals"]["ccusage_tokens"]) == (
        0.375,
        360,
    )
    assert status["cost_problem"] is None


async def test_hide_cleaned_leaves_out_cleaned_and_collected_runs(
    run_cli: Cli, scad_home: Path, tmp_path: Path, no_engine: str
) -> None:
    home = three_runs(scad_home, tmp_path)
    cleaned = add_run(home, "proj-d-Nov27-1005", minute=5, cleaned="2026-11-27T11:00:00.000Z")
    headless(Log(RunPaths(home, cleaned.run_id)), cost=1.0)
    keep_collected(home, cleaned, summarise_log(RunPaths(home, cleaned.run_id)))
    shutil.rmtree(RunPaths(home, cleaned.run_id).root)
    shown = json.loads((await run_cli("project", "status", "proj", "--json")).stdout)
    assert [(r["run_id"], r["state"]) for r in shown["rows"]][-1] == (cleaned.run_id, "collected")
    assert shown["totals"]["cost_usd"] == pytest.approx(1.5002, abs=1e-4)
    hidden = await run_cli("project", "status", "proj", "--hide-cleaned", "--json")
    assert hidden.exit_code == 0
    rows = json.loads(hidden.stdout)["rows"]
    assert [r["run_id"] for r in rows] == [
        "proj-a-Nov27-1001",
        "proj-b-Nov27-1002",
        "proj-c-Nov27-1003",
    ]


def test_cost_shows_its_progress_on_a_terminal_only(
    scad_home: Path, tmp_path: Path, no_engine: str
) -> None:
    three_runs(scad_home, tmp_path)
    script = tmp_path / "ccusage"
    script.write_text('#!/bin/sh\necho \'{"totals": {"totalCost": 0.125}}\'\n')
    script.chmod(0o755)
    env = {**os.environ, "SCAD_HOME": str(scad_home), "SCAD_CCUSAGE": str(script)}
    stdout, shown = on_a_terminal(["project", "status", "proj", "--cost"], env)
    assert stdout.splitlines()[-1] == "3 runs: 1 failed, 1 running, 1 succeeded"
    steps = [f"\r\x1b[Kcounting cost with ccusage: {n}/3" for n in range(4)]
    assert shown.removeprefix(no_engine.replace("\n", "\r\n")) == "".join(steps) + "\r\x1b[K"
    # Piped, or with --json: not a byte of it.
    piped = subprocess.run(
        [SCAD, "project", "status", "proj", "--cost"], capture_output=True, env=env, timeout=60
    )
    assert piped.stderr.decode() == no_engine
    stdout, shown = on_a_terminal(["project", "status", "proj", "--cost", "--json"], env)
    assert json.loads(stdout)["totals"]["ccusage_cost_usd"] == 0.375
    assert shown == no_engine.replace("\n", "\r\n")
