"""A config's runs side by side: rows, totals, and the commits a run's clones hold."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from scad.batch.store import BatchPaths, append_batch_event
from scad.batch.view import BatchWatcher
from scad.code.clones import create_clone
from scad.engine._types import ContainerSpec, ContainerState, Engine
from scad.errors import NotFound
from scad.gc import apply_gc, plan_gc
from scad.home import Home
from scad.reports.project import ProjectRow, ProjectTotals, project_status
from scad.runs.envelopes import Started
from scad.runs.events import append_event
from scad.runs.records import RunPaths, RunRecord, save_run
from scad.sessions import status as status_module
from tests.conftest import make_repo
from tests.fakes import FakeEngine, batch_event
from tests.unit.test_dispatch import make_batch
from tests.unit.test_summaries import (
    CID,
    Log,
    crashed,
    failed,
    headless,
    init,
    result,
    running,
)

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None


def register(home: Home, name: str, repo: Path) -> None:
    home.configs.mkdir(parents=True, exist_ok=True)
    home.config_file(name).write_text(
        f"name: {name}\nrepos:\n  code:\n    path: {repo}\n    workdir: true\n"
    )


def add_run(
    home: Home,
    run_id: str,
    *,
    config: str = "proj",
    repo: Path | None = None,
    minute: int = 0,
    mode: str = "headless",
    cleaned: str | None = None,
    container_id: str | None = None,
) -> RunRecord:
    record = RunRecord(
        run_id=run_id, config=config, tag="t", mode=mode, image="scad-proj:x",  # type: ignore[arg-type]
        branch=f"scad-{run_id}", created=f"2026-11-27T10:{minute:02d}:00.000Z",
        repos={"code": str(repo or "/nonexistent")}, cleaned=cleaned, container_id=container_id,
    )  # fmt: skip
    RunPaths(home, run_id).root.mkdir(parents=True, exist_ok=True)
    save_run(home, record)
    return record


def agent_git(clone: Path, *args: str) -> None:
    """git in a clone, as the agent runs it (only a test may)."""
    subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(clone), *args],
        check=True, capture_output=True,
    )  # fmt: skip


def host_git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True
    )


def add_config(clone: Path, text: str) -> None:
    """Append to the clone's config as the agent could: a file write."""
    with open(clone / ".git" / "config", "a") as f:
        f.write(text)


async def make_clone(home: Home, record: RunRecord, repo: Path) -> Path:
    paths = RunPaths(home, record.run_id)
    paths.worktrees.mkdir(parents=True, exist_ok=True)
    await create_clone(repo, paths.clone("code"), record.branch, owner=AGENT)
    return paths.clone("code")


async def test_rows_and_totals_come_from_the_logs(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    headless(Log(RunPaths(home, add_run(home, "a", minute=1).run_id)), cost=0.25)
    failed(Log(RunPaths(home, add_run(home, "b", minute=2).run_id)))
    running(Log(RunPaths(home, add_run(home, "c", minute=3).run_id)))
    crashed(Log(RunPaths(home, add_run(home, "d", minute=4, mode="interactive").run_id)))
    add_run(home, "e", minute=5, cleaned="2026-11-27T11:00:00.000Z")
    other = Log(RunPaths(home, add_run(home, "x", config="other").run_id))
    headless(other, cost=9.0, tokens=(100, 200_000, 300, 40))

    status = await project_status(None, home, "proj")

    assert status.config == "proj"
    assert [(r.run_id, r.state, r.outcome, r.ahead, r.problem) for r in status.rows] == [
        ("a", "unknown", "succeeded", None, None),
        ("b", "unknown", "failed", None, None),
        ("c", "unknown", "running", None, None),
        ("d", "unknown", None, None, None),  # interactive: no outcome
        ("e", "cleaned", None, None, None),
    ]
    a = status.rows[0]
    assert a == ProjectRow(
        run_id="a", created="2026-11-27T10:01:00.000Z", state="unknown", outcome="succeeded", turns=3, input_tokens=100,
        output_tokens=40_000, cache_read_tokens=300, cache_creation_tokens=40, cost_usd=0.25,
        duration_ms=4000, branch="scad-a",
    )  # fmt: skip
    # The running one is priced by its usage so far (two messages of 10 in, 3 out, 100 read).
    c = status.rows[2]
    assert (c.turns, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cost_estimated) == (
        0,
        20,
        6,
        200,
        True,
    )
    totals = status.totals
    rows = status.rows
    assert totals == ProjectTotals(
        runs=5,
        outcomes={"succeeded": 1, "failed": 1, "running": 1},
        turns=sum(r.turns for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        cache_read_tokens=sum(r.cache_read_tokens for r in rows),
        cache_creation_tokens=sum(r.cache_creation_tokens for r in rows),
        cost_usd=sum(r.cost_usd for r in rows),
        cost_estimated=True,
        duration_ms=sum(r.duration_ms for r in rows),
    )
    # The finished runs' totals are their result events' (0.25 and the default 0.25).
    assert (totals.turns, totals.duration_ms) == (6, 8000)
    assert (totals.input_tokens, totals.output_tokens) == (
        100 + 100 + 20 + 10,
        40_000 + 40_000 + 6 + 3,
    )
    assert totals.cost_usd == pytest.approx(0.5 + c.cost_usd + rows[3].cost_usd)


async def test_totals_of_finished_runs_are_the_sums_of_their_results(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    costs = [0.125, 0.25, 0.5, 1.0]  # 20,000 output tokens could cost $1.50: each counts
    for n, cost in enumerate(costs):
        record = add_run(home, f"r{n}", minute=n)
        headless(Log(RunPaths(home, record.run_id)), cost=cost, turns=n + 1,
                 tokens=(n, 20_000 + 2 * n, 3 * n, 4 * n), duration_ms=1000 * n)  # fmt: skip
    totals = (await project_status(None, home, "proj")).totals
    assert totals == ProjectTotals(
        runs=4, outcomes={"succeeded": 4}, turns=10, input_tokens=6, output_tokens=80_012,
        cache_read_tokens=18, cache_creation_tokens=24, cost_usd=1.875, duration_ms=6000,
    )  # fmt: skip


async def test_states_come_from_the_engine(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    exited = add_run(home, "a", minute=1, container_id=CID + "f" * 52)
    headless(Log(RunPaths(home, exited.run_id)), exit_code=0)
    stopped = add_run(home, "b", minute=2, container_id="b" * 64)
    log = Log(RunPaths(home, stopped.run_id))
    headless(log, cid="b" * 12, exit_code=143).scad("stopped", cid=None)
    gone = add_run(home, "c", minute=3, container_id="c" * 64)
    headless(Log(RunPaths(home, gone.run_id)), cid="c" * 12)

    def container(record: RunRecord, code: int) -> ContainerState:
        assert record.container_id is not None
        return ContainerState(
            id=record.container_id, name=record.run_id, image="i", image_id="sha256:x",
            status="exited", running=False, exit_code=code, labels={"scad.run": record.run_id},
        )  # fmt: skip

    engine = FakeEngine(containers=[container(exited, 0), container(stopped, 143)])
    rows = (await project_status(engine, home, "proj")).rows  # type: ignore[arg-type]
    assert [(r.run_id, r.state, r.exit_code, r.outcome) for r in rows] == [
        ("a", "exited", 0, "succeeded"),
        ("b", "stopped", 143, "failed"),  # stopped after its result: the exit code says failed
        ("c", "missing", None, "succeeded"),
    ]


async def test_an_unknown_config_is_not_found(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    add_run(home, "a", config="proj")
    with pytest.raises(NotFound) as caught:
        await project_status(None, home, "nope")
    assert str(caught.value) == 'no config "nope" and no runs of it; see `scad config list`'


async def test_a_registered_config_without_runs_is_an_empty_table(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    status = await project_status(None, home, "proj")
    assert (status.rows, status.totals) == ([], ProjectTotals())


async def test_runs_of_an_unregistered_config_are_still_shown(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    headless(Log(RunPaths(home, add_run(home, "a").run_id)))
    assert [r.run_id for r in (await project_status(None, home, "proj")).rows] == ["a"]


async def test_commits_ahead_of_the_default_branch_are_counted_in_the_store(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    home = Home(tmp_path / "home")
    register(home, "proj", repo)
    busy, idle = add_run(home, "a", repo=repo, minute=1), add_run(home, "b", repo=repo, minute=2)
    clone = await make_clone(home, busy, repo)
    await make_clone(home, idle, repo)
    agent_git(clone, "commit", "-q", "--allow-empty", "-m", "one")
    agent_git(clone, "commit", "-q", "--allow-empty", "-m", "two")
    agent_git(clone, "checkout", "-q", "-b", "side")
    agent_git(clone, "commit", "-q", "--allow-empty", "-m", "three")
    # The host moves on too: its new commits are not the run's.
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "host")

    status = await project_status(None, home, "proj")
    assert [(r.run_id, r.ahead, r.problem) for r in status.rows] == [("a", 3, None), ("b", 0, None)]
    assert status.totals.ahead == 3
    assert RunPaths(home, "a").store("code").is_dir()


async def test_a_detached_host_head_counts_from_main(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    home = Home(tmp_path / "home")
    record = add_run(home, "a", repo=repo)
    clone = await make_clone(home, record, repo)
    agent_git(clone, "commit", "-q", "--allow-empty", "-m", "one")
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "host")
    host_git(repo, "checkout", "-q", "--detach", "HEAD~1")
    (row,) = (await project_status(None, home, "proj")).rows
    assert (row.ahead, row.problem) == (1, None)


async def test_a_hostile_clone_config_runs_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    home = Home(tmp_path / "home")
    record = add_run(home, "a", repo=repo)
    clone = await make_clone(home, record, repo)
    agent_git(clone, "commit", "-q", "--allow-empty", "-m", "one")
    marker = tmp_path / "marker"
    script = tmp_path / "evil"
    script.write_text(f'#!/bin/sh\ntouch "{marker}"\ncat >/dev/null\n')
    script.chmod(0o755)
    add_config(clone, f"[core]\n\tfsmonitor = {script}\n\tpager = {script}\n")

    (row,) = (await project_status(None, home, "proj")).rows
    assert (row.ahead, row.problem) == (1, None)
    assert not marker.exists()
    agent_git(clone, "status")  # git run in the clone itself would have fired it
    assert marker.exists()


async def test_an_unreadable_clone_gives_a_problem_not_an_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    elsewhere = make_repo(tmp_path / "elsewhere")
    home = Home(tmp_path / "home")
    record = add_run(home, "a", repo=repo)
    clone = await make_clone(home, record, repo)
    os.rename(clone / ".git", tmp_path / "moved")
    (clone / ".git").symlink_to(elsewhere / ".git")
    (row,) = (await project_status(None, home, "proj")).rows
    assert (row.ahead, row.problem) == (None, "code: .git is a symbolic link; not followed")


async def test_a_host_repo_without_a_default_branch_is_a_problem(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    home = Home(tmp_path / "home")
    record = add_run(home, "a", repo=repo)
    await make_clone(home, record, repo)
    host_git(repo, "checkout", "-q", "--detach")
    host_git(repo, "branch", "-q", "-D", "main")
    (row,) = (await project_status(None, home, "proj")).rows
    assert (row.ahead, row.problem) == (None, f"code: {repo} has no default branch to count from")


async def test_a_run_nobody_watched_is_caught_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    record = add_run(home, "a")
    engine = FakeEngine()
    spec = ContainerSpec(image="scad-proj:x", name="scad-a", labels={"scad.run": "a"})
    record.container_id = await engine.create_container(spec)
    save_run(home, record)
    await append_event(RunPaths(home, "a"), Started(cid=record.container_id))
    container = engine.made[record.container_id]
    container.printed = [(1, (json.dumps(line) + "\n").encode()) for line in (init(), result(0.5))]
    container.status, container.exit_code = "exited", 0
    caught_up: list[str] = []
    real = status_module.catch_up

    async def counted(engine: Engine, home: Home, record: RunRecord) -> bool:
        caught_up.append(record.run_id)
        return await real(engine, home, record)

    monkeypatch.setattr(status_module, "catch_up", counted)

    (row,) = (await project_status(engine, home, "proj")).rows  # type: ignore[arg-type]
    assert (row.state, row.outcome, row.turns, row.cost_usd) == ("exited", "succeeded", 3, 0.5)
    (again,) = (await project_status(engine, home, "proj")).rows  # type: ignore[arg-type]
    assert again == row
    assert caught_up == ["a"]  # the second look found the exit in the log: no catch-up


async def test_what_collected_runs_spent_still_adds_up(tmp_path: Path) -> None:
    """gc removes a cleaned run's folder; its figures stay in project and batch status."""
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    batch = make_batch(home, ["p1", "p2"])
    gone = add_run(home, "proj-t-01-Dec06-1000", minute=1, cleaned="2026-11-27T11:00:00.000Z")
    kept = add_run(home, "proj-t-02-Dec06-1000", minute=2)
    headless(Log(RunPaths(home, gone.run_id)), cost=0.25, turns=4)
    headless(Log(RunPaths(home, kept.run_id)), cost=0.5, turns=2)
    for index, record in enumerate((gone, kept), start=1):
        started = batch_event("started", item=index, run_id=record.run_id, attempt=1)
        append_batch_event(BatchPaths(home, batch), started)
    add_run(home, "other-t-Dec06-1000", config="other", cleaned="2026-11-27T11:00:00.000Z")
    before = await project_status(None, home, "proj")

    plan = await plan_gc(FakeEngine(), home)
    assert {i.name for i in plan.items if i.kind == "run"} == {gone.run_id, "other-t-Dec06-1000"}
    await apply_gc(FakeEngine(), home, plan)
    assert not RunPaths(home, gone.run_id).root.exists()

    after = await project_status(None, home, "proj")
    assert [(r.run_id, r.state, r.outcome, r.turns) for r in after.rows] == [
        (gone.run_id, "collected", "succeeded", 4),
        (kept.run_id, "unknown", "succeeded", 2),
    ]
    assert after.totals == before.totals
    assert after.totals.cost_usd == pytest.approx(0.75)
    hidden = await project_status(None, home, "proj", cleaned=False)
    assert [r.run_id for r in hidden.rows] == [kept.run_id]
    assert hidden.totals.cost_usd == pytest.approx(0.5)
    # A config that is gone and whose runs were all collected still has its history.
    assert [r.state for r in (await project_status(None, home, "other")).rows] == ["collected"]

    view = await BatchWatcher(home, batch).look()
    assert [(row.run_id, row.turns, row.cost_usd) for row in view.rows] == [
        (gone.run_id, 4, 0.25),
        (kept.run_id, 2, 0.5),
    ]
    assert view.totals.cost_usd == pytest.approx(0.75)


async def test_an_unreadable_ledger_entry_is_left_out(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    home.ledger.mkdir(parents=True)
    (home.ledger / "proj-t-Dec06-1000.json").write_text("{not json")
    (home.ledger / "proj-u-Dec06-1000.json").mkdir()
    status = await project_status(None, home, "proj")
    assert status.rows == [] and status.totals.runs == 0


async def test_the_gateways_figures_stand_beside_claudes_own(tmp_path: Path) -> None:
    """A run the gateway measured shows its measured cost and tokens beside what
    Claude reported; a run made before the gateway has none (and counts in no total)."""
    from scad.cli.project import status_table
    from scad.gateway._registry import register_run
    from scad.runs.gatewaylog import Exchange, encode_event

    home = Home(tmp_path / "home")
    register(home, "proj", tmp_path / "repo")
    measured = RunPaths(home, add_run(home, "a", minute=1).run_id)
    headless(Log(measured), cost=999.0)  # what the run printed
    register_run(home, "a")
    answer = Exchange(ts="t", method="POST", path="/v1/messages", status=200, input_tokens=10,
                      output_tokens=20, cost_usd=0.125, complete=True)  # fmt: skip
    measured.gateway_events.write_bytes(encode_event(answer) * 2)
    headless(Log(RunPaths(home, add_run(home, "b", minute=2).run_id)), cost=0.25)
    status = await project_status(None, home, "proj")
    a, b = status.rows
    assert a.gateway is not None and (a.gateway.cost_usd, a.gateway.input_tokens) == (0.25, 20)
    assert a.gateway.output_tokens == 40 and b.gateway is None
    assert status.totals.gateway is not None and status.totals.gateway.cost_usd == 0.25
    lines = status_table(status, cost=False, wide=True, width=300).splitlines()
    assert "GATEWAY $" in lines[0]
    assert "$0.2500" in lines[1] and "60" in lines[1]
