"""Session commands that fail before they need the engine, or go on without it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from scad.cli._json import SCHEMA
from scad.home import Home
from scad.runs.records import RunPaths
from tests.conftest import Cli
from tests.unit.test_projects import add_run
from tests.unit.test_summaries import Log, headless

pytestmark = pytest.mark.anyio

SCAD = str(Path(sys.executable).parent / "scad")


@pytest.mark.parametrize("command", ["info", "logs", "attach", "resume"])
async def test_unknown_run_id_suggests_what_it_may_mean(
    run_cli: Cli, scad_home: Path, command: str
) -> None:
    home = Home(scad_home)
    add_run(home, "proj-feat-Dec06-1000")
    add_run(home, "proj-fix-Dec06-1000")
    add_run(home, "web-feat-Dec01-0900")
    result = await run_cli("session", command, "proj-feat-06")
    assert result.exit_code == 2
    assert (
        result.stderr == 'scad: error: no run "proj-feat-06"; did you mean proj-feat-Dec06-1000?\n'
    )
    result = await run_cli("session", command, "proj-faet-Dec06-1000")
    assert result.stderr == (
        'scad: error: no run "proj-faet-Dec06-1000"; '
        "did you mean proj-feat-Dec06-1000, proj-fix-Dec06-1000?\n"
    )


@pytest.mark.parametrize(
    ("given", "found"), [("proj-fe", "proj-feat-Dec06-1000"), ("w", "web-feat-Dec01-0900")]
)
async def test_a_unique_beginning_of_a_run_id_names_the_run(
    run_cli: Cli, scad_home: Path, given: str, found: str
) -> None:
    home = Home(scad_home)
    for run_id in ("proj-feat-Dec06-1000", "proj-fix-Dec06-1000", "web-feat-Dec01-0900"):
        add_run(home, run_id)
    result = await run_cli("session", "info", given, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["record"]["run_id"] == found


async def test_an_ambiguous_beginning_lists_the_runs_it_could_be(
    run_cli: Cli, scad_home: Path
) -> None:
    home = Home(scad_home)
    for run_id in ("proj-feat-Dec06-1000", "proj-feat-Dec06-1000-2", "proj-fix-Dec06-1000"):
        add_run(home, run_id)
    result = await run_cli("session", "info", "proj-f")
    assert result.exit_code == 2
    assert result.stderr == (
        'scad: error: "proj-f" begins 3 run ids (proj-feat-Dec06-1000, '
        "proj-feat-Dec06-1000-2, proj-fix-Dec06-1000); give more of one\n"
    )
    # The whole id names its run even when it begins another.
    result = await run_cli("session", "info", "proj-feat-Dec06-1000", "--json")
    assert json.loads(result.stdout)["record"]["run_id"] == "proj-feat-Dec06-1000"


@pytest.mark.parametrize("command", [("session", "info"), ("session", "stop"), ("code", "fetch")])
async def test_a_batch_id_where_a_run_id_belongs_says_so(
    run_cli: Cli, scad_home: Path, command: tuple[str, ...]
) -> None:
    (scad_home / "batches" / "proj-fix-Dec06-1000").mkdir(parents=True)
    add_run(Home(scad_home), "proj-fix-01-Dec06-1000")
    result = await run_cli(*command, "proj-fix-Dec06-1000")
    assert result.exit_code == 2
    assert result.stderr == (
        'scad: error: "proj-fix-Dec06-1000" is a batch, not a run; '
        "`scad batch status proj-fix-Dec06-1000` lists its runs\n"
    )


async def test_a_run_folder_without_its_record_says_so(run_cli: Cli, scad_home: Path) -> None:
    run_dir = scad_home / "runs" / "proj-x-Dec06-1000"
    run_dir.mkdir(parents=True)
    result = await run_cli("session", "info", "proj-x")
    assert result.exit_code == 2
    assert result.stderr == (
        f"scad: error: run proj-x-Dec06-1000 has no run.json; remove {run_dir} by hand\n"
    )


async def test_unknown_run_id_without_close_matches(run_cli: Cli) -> None:
    result = await run_cli("session", "info", "zzz")
    assert result.stderr == 'scad: error: no run "zzz"; see `scad session status --all`\n'


async def test_an_unreadable_run_record_is_one_line(run_cli: Cli, scad_home: Path) -> None:
    run_dir = scad_home / "runs" / "proj-x-Nov27-1000"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text("{not json")
    result = await run_cli("session", "info", "proj-x-Nov27-1000")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "scad: error: run proj-x-Nov27-1000 has an unreadable run.json ("
    )
    assert result.stderr.endswith(f"; remove {run_dir} by hand\n")


async def test_status_without_an_engine_shows_what_the_logs_hold(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from scad.home import Home
    from scad.runs.envelopes import Started
    from scad.runs.events import LogLine, append_event, ingest
    from scad.runs.records import RunPaths, RunRecord, save_run

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    home = Home(scad_home)
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="scad-p:x",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={}, container_id="c1",
    )  # fmt: skip
    paths = RunPaths(home, record.run_id)
    paths.root.mkdir(parents=True)
    save_run(home, record)
    await append_event(paths, Started(cid="c1"))
    result_line = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 4,
        "total_cost_usd": 0.5,
        "usage": {"input_tokens": 7, "output_tokens": 10_000},  # could cost $0.75: all counts
    }
    init = {"type": "system", "subtype": "init", "session_id": "s"}
    await ingest(
        paths,
        "c1",
        0,
        [LogLine("t1", json.dumps(init).encode()), LogLine("t2", json.dumps(result_line).encode())],
    )

    result = await run_cli("session", "status", "--json")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        f"warning: cannot reach the Docker engine at unix://{tmp_path}/none.sock;"
    )
    (row,) = json.loads(result.stdout)["sessions"]
    assert (row["run_id"], row["state"], row["summary"]["turns"], row["summary"]["cost_usd"]) == (
        "p-t-Nov27-1000",
        "unknown",
        4,
        0.5,
    )


async def test_info_without_an_engine_shows_the_log_as_last_read(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = f"unix://{tmp_path}/none.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)
    home = Home(scad_home)
    record = add_run(home, "proj-a-Nov27-1001", container_id="c0ffee000001")
    headless(Log(RunPaths(home, record.run_id)), cost=0.25)

    result = await run_cli("session", "info", record.run_id, "--json")

    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: cannot reach the Docker engine at {socket}; start dockerd (or Docker "
        "Desktop) or point DOCKER_HOST (or a Docker context) at a running engine; its state is unknown and its "
        "totals are as last read\n"
    )
    info = json.loads(result.stdout)
    assert (info["state"], info["container"], info["summary"]["cost_usd"]) == (
        "unknown",
        None,
        0.25,
    )
    text = await run_cli("session", "info", record.run_id)
    assert text.exit_code == 0 and "unknown" in text.stdout


@pytest.mark.parametrize("tail", ["0", "2", "100"])
async def test_logs_tail_prints_the_last_lines_of_all_runs_merged(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: str
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    home = Home(scad_home)
    for run_id in ("proj-a-Dec06-1000", "proj-b-Dec06-1000"):
        add_run(home, run_id)
        headless(Log(RunPaths(home, run_id)))
    whole = (await run_cli("logs")).stdout.splitlines()
    assert len(whole) > 4
    result = await run_cli("logs", "--tail", tail)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == (whole[-int(tail) :] if int(tail) else [])
    as_json = (await run_cli("logs", "-n", "1", "--json")).stdout.splitlines()
    assert [json.loads(line)["run_id"] for line in as_json] == ["proj-b-Dec06-1000"]


async def test_info_shows_what_the_gateway_measured_beside_what_claude_reported(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scad.gateway import register_run
    from scad.runs.gatewaylog import BudgetRefused, Exchange, encode_event

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    home = Home(scad_home)
    measured = add_run(home, "proj-a-Nov27-1001")
    paths = RunPaths(home, measured.run_id)
    headless(Log(paths), cost=999.0)  # what the run printed
    register_run(home, measured.run_id, upstream="http://127.0.0.1:1", max_usd=0.5)
    answer = Exchange(ts="t", method="POST", path="/v1/messages", status=200, input_tokens=10,
                      output_tokens=20, cost_usd=0.125, complete=True)  # fmt: skip
    limited = Exchange(ts="t", method="POST", path="/v1/messages", status=429, retry_after=3.0)
    refused = BudgetRefused(ts="t", scope="run", spent_usd=0.5, cap_usd=0.5)
    paths.gateway_events.write_bytes(
        encode_event(answer) * 4 + encode_event(limited) + encode_event(refused)
    )
    before = add_run(home, "proj-b-Nov27-1002")  # made before the gateway
    headless(Log(RunPaths(home, before.run_id)), cost=0.25)

    info = json.loads((await run_cli("session", "info", measured.run_id, "--json")).stdout)
    claude = info["summary"]["cost_usd"]
    assert claude > 1  # what the run printed, kept apart from what was measured
    gateway = info["gateway"]
    assert (gateway["requests"], gateway["cost_usd"], gateway["input_tokens"]) == (5, 0.5, 40)
    assert (gateway["output_tokens"], gateway["rate_limited"], gateway["budget_refusals"]) == (
        80,
        1,
        1,
    )
    assert info["max_usd"] == 0.5
    text = (await run_cli("session", "info", measured.run_id)).stdout
    assert f"cost       ${claude:.4f}" in text
    assert (
        "gateway    5 requests  in 40  out 80  cache read 0  cache write 0  $0.5000 "
        "of $0.50   rate limited 1   refused for budget 1"
    ) in text
    old = json.loads((await run_cli("session", "info", before.run_id, "--json")).stdout)
    assert (old["gateway"], old["max_usd"]) == (None, None)
    assert "gateway " not in (await run_cli("session", "info", before.run_id)).stdout


async def test_logs_without_an_engine_shows_the_log_as_last_read(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = f"unix://{tmp_path}/none.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)
    home = Home(scad_home)
    record = add_run(home, "proj-a-Nov27-1001", container_id="c0ffee000001")
    paths = RunPaths(home, record.run_id)
    headless(Log(paths), cost=0.25)
    warning = (
        f"warning: cannot reach the Docker engine at {socket}; start dockerd (or Docker "
        "Desktop) or point DOCKER_HOST (or a Docker context) at a running engine; showing the log as last read\n"
    )

    as_json = await run_cli("session", "logs", record.run_id, "--json")
    assert (as_json.exit_code, as_json.stderr) == (0, warning)
    stored = paths.events.read_text().splitlines()
    assert as_json.stdout.splitlines() == [f'{{"schema":{SCHEMA},' + line[1:] for line in stored]
    text = await run_cli("session", "logs", record.run_id)
    assert (text.exit_code, text.stderr) == (0, warning)
    lines = text.stdout.splitlines()
    assert (lines[0], lines[-1]) == (
        "10:00:01 [scad] started",
        "10:00:07 [scad] exited with code 0",
    )


async def test_logs_follow_without_an_engine_follows_the_file(
    scad_home: Path, tmp_path: Path
) -> None:
    home = Home(scad_home)
    record = add_run(home, "proj-a-Nov27-1001", container_id="c0ffee000001")
    paths = RunPaths(home, record.run_id)
    log = Log(paths).scad("started", cid="c0ffee000001")
    env = {**os.environ, "SCAD_HOME": str(scad_home), "DOCKER_HOST": f"unix://{tmp_path}/x.sock"}
    argv = [SCAD, "session", "logs", record.run_id, "-f", "--json"]
    async with await anyio.open_process(argv, env=env) as process:
        assert process.stdout is not None and process.stderr is not None
        with anyio.fail_after(30):
            said = await process.stderr.receive()
            assert b"showing the log as last read" in said
            printed = b""
            while printed.count(b"\n") < 1:
                printed += await process.stdout.receive()
            # Another writer (a supervisor, elsewhere) appends: the follower prints it.
            headless(log)
            stored = paths.events.read_bytes().splitlines()
            schema = f'{{"schema":{SCHEMA},'.encode()
            whole = b"".join(schema + line[1:] + b"\n" for line in stored)
            while len(printed) < len(whole):
                printed += await process.stdout.receive()
        process.terminate()
    assert printed == whole
