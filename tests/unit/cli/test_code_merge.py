"""`scad code merge`: a batch's chosen runs merged into one host branch, and every
bad input as one line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import msgspec
import pytest

from scad.batch.store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    append_batch_event,
    save_manifest,
)
from scad.code.clones import create_clone
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord, load_run, save_run
from tests.conftest import Cli, make_repo
from tests.fakes import batch_event
from tests.unit.test_codefetch import commit, git
from tests.unit.test_codemerge import host_state

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None
BATCH = "proj-b-Nov27-1000"
#: What each prompt's run commits, and how its item ended.
RUNS = {
    "proj-b-01-Nov27-1000": ({"a.txt": "a\n"}, "succeeded"),
    "proj-b-02-Nov27-1000": ({"shared.txt": "one\nTWO by 02\n", "b.txt": "b\n"}, "succeeded"),
    "proj-b-03-Nov27-1000": ({"c.txt": "c\n"}, "failed"),
    "proj-b-04-Nov27-1000": ({"shared.txt": "one\nTWO by 04\n"}, "succeeded"),
    "proj-b-05-Nov27-1000": ({}, "succeeded"),
    "proj-b-06-Nov27-1000": ({"d.txt": "d\n"}, "succeeded"),
}


@pytest.fixture
async def host(scad_home: Path, tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "host", {"README.md": "hi\n", "shared.txt": "one\ntwo\n"})
    (repo / "README.md").write_text("edited\n")
    (repo / "untracked.txt").write_text("mine\n")
    home = Home(scad_home)
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    items = [BatchItem(index=n, tag=f"b-{n:02d}", prompt="p") for n in range(1, len(RUNS) + 1)]
    manifest = BatchManifest(batch_id=BATCH, config="proj", tag="b", created="2026-11-27T10:00:00.000Z",
                             image="scad-proj:x", source="-", options=BatchOptions(), items=items)  # fmt: skip
    save_manifest(paths, manifest)
    for n, (run_id, (files, status)) in enumerate(RUNS.items(), start=1):
        run = RunPaths(home, run_id)
        run.worktrees.mkdir(parents=True)
        await create_clone(repo, run.clone("code"), f"scad-{run_id}", owner=AGENT)
        for name, text in files.items():
            commit(run.clone("code"), name, text)
        save_run(home, RunRecord(run_id=run_id, config="proj", tag=f"b-{n:02d}", mode="headless",
                                 image="i", branch=f"scad-{run_id}", created="2026-11-27T10:00:00.000Z",
                                 repos={"code": str(repo)}, batch_id=BATCH, item=n))  # fmt: skip
        append_batch_event(paths, batch_event("started", item=n, run_id=run_id, attempt=1))
        append_batch_event(
            paths,
            batch_event("attempt", item=n, run_id=run_id, attempt=1, status=status, final=True),
        )
    append_batch_event(paths, batch_event("ended"))
    return repo


async def test_the_passed_runs_merge_and_the_conflicting_one_is_named_with_its_file(
    run_cli: Cli, host: Path
) -> None:
    before = host_state(host)
    result = await run_cli("code", "merge", "proj-b", "--into", "integration")
    assert result.exit_code == 1, result.stderr  # a run was left out: a script stops here
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stdout
    rows = [line.split()[:3] for line in lines[1:-1]]
    assert rows == [
        ["proj-b-01-Nov27-1000", "code", "merged"],
        ["proj-b-02-Nov27-1000", "code", "merged"],
        ["proj-b-04-Nov27-1000", "code", "left"],
        ["proj-b-05-Nov27-1000", "code", "current"],
        ["proj-b-06-Nov27-1000", "code", "merged"],
    ]
    assert lines[3].endswith("1: shared.txt")
    tip = git(host, "rev-parse", "integration")
    assert lines[-1].startswith(f"code: integration is at {tip[:12]} (new); ")
    assert lines[-1].endswith("3 merged, 1 left out")
    assert git(host, "ls-tree", "--name-only", "integration").split() == [
        "README.md", "a.txt", "b.txt", "d.txt", "shared.txt"
    ]  # fmt: skip
    assert "c.txt" not in git(host, "ls-tree", "-r", "--name-only", "integration")
    assert host_state(host) == before


async def test_json_follows_the_contract_and_a_dry_run_writes_nothing(
    run_cli: Cli, host: Path
) -> None:
    result = await run_cli("code", "merge", BATCH, "--into", "integration", "--dry-run", "--json")
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == 2 and document["dry_run"] is True
    (repo,) = document["repos"]
    assert repo["written"] is False and repo["previous"] is None
    assert [r["run_id"][:9] for r in repo["merged"]] == ["proj-b-01", "proj-b-02", "proj-b-06"]
    assert [(r["run_id"][:9], r["files"]) for r in repo["left_out"]] == [
        ("proj-b-04", ["shared.txt"])
    ]
    assert git(host, "rev-parse", "--verify", "--quiet", "integration", check=False) == ""


async def test_only_named_runs_are_merged(run_cli: Cli, host: Path) -> None:
    result = await run_cli(
        "code", "merge", BATCH, "--into", "pick", "--only", "proj-b-03", "--only", "proj-b-01,proj-b-06"
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    merged = git(host, "log", "--first-parent", "--format=%s", "pick").splitlines()[:3]
    assert merged == [
        "Merge proj-b-06-Nov27-1000 into pick",
        "Merge proj-b-03-Nov27-1000 into pick",
        "Merge proj-b-01-Nov27-1000 into pick",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("nope", "--into", "x"), 'no batch "nope"', id="unknown-batch"),
        pytest.param((BATCH, "--into", "main"), "main is checked out in a worktree", id="checked-out"),
        pytest.param((BATCH, "--into", "MAIN"), "MAIN is checked out in a worktree", id="case"),
        pytest.param((BATCH, "--into", "a..b"), "'a..b' is not a branch name git accepts", id="name"),
        pytest.param((BATCH, "--into", "-x"), "'-x' is not a branch name git accepts", id="dash"),
        pytest.param((BATCH, "--into", "x", "--only", "zzz"), 'no run "zzz"', id="unknown-run"),
        pytest.param((BATCH, "--into", "x", "--only", "proj-b-0"), "begins 6 run ids", id="ambiguous"),
        pytest.param((BATCH, "--into", "x", "--check", "--dry-run"), "does not go with --dry-run", id="check-dry"),
    ],
)  # fmt: skip
async def test_every_bad_input_is_one_line(
    run_cli: Cli, host: Path, args: tuple[str, ...], message: str
) -> None:
    before = host_state(host)
    result = await run_cli("code", "merge", *args)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert message in line
    assert host_state(host) == before


async def test_no_passed_run_is_one_line(run_cli: Cli, host: Path, scad_home: Path) -> None:
    paths = BatchPaths(Home(scad_home), BATCH)
    for n in range(1, len(RUNS) + 1):
        append_batch_event(paths, batch_event("requeued", items=[n]))
    result = await run_cli("code", "merge", BATCH, "--into", "x")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"scad: error: no run of batch {BATCH} passed; nothing to merge "
        "(name runs to merge with --only RUN)"
    ]


async def test_a_cleaned_run_merges_from_its_fetched_branch(
    run_cli: Cli, host: Path, scad_home: Path
) -> None:
    home = Home(scad_home)
    run_id = "proj-b-01-Nov27-1000"
    assert (await run_cli("code", "fetch", run_id)).exit_code == 0
    record = RunPaths(home, run_id)
    shutil.rmtree(record.worktrees)
    result = await run_cli("code", "merge", BATCH, "--into", "x", "--only", run_id, "--json")
    (repo,) = json.loads(result.stdout)["repos"]
    assert [r["run_id"] for r in repo["merged"]] == [run_id]
    gone = "proj-b-06-Nov27-1000"
    shutil.rmtree(RunPaths(home, gone).worktrees)
    result = await run_cli("code", "merge", BATCH, "--into", "y", "--only", gone, "--json")
    (repo,) = json.loads(result.stdout)["repos"]
    assert repo["left_out"][0]["problem"] == (
        f"its clones were cleaned and its branch scad-{gone} is not on the host"
    )


async def test_exit_code_is_zero_only_when_no_chosen_run_is_left_out(
    run_cli: Cli, host: Path
) -> None:
    clean = await run_cli("code", "merge", BATCH, "--into", "a", "--only", "proj-b-01,proj-b-05")
    assert clean.exit_code == 0, clean.stderr
    again = await run_cli("code", "merge", BATCH, "--into", "a", "--only", "proj-b-01", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["repos"][0]["current"]
    conflicting = await run_cli(
        "code", "merge", BATCH, "--into", "b", "--only", "proj-b-02,proj-b-04", "--json"
    )  # fmt: skip
    assert conflicting.exit_code == 1
    assert json.loads(conflicting.stdout)["repos"][0]["left_out"][0]["files"] == ["shared.txt"]


def site_checked_out(host: Path) -> str:
    """The user moved the host on to a branch of its own history (a site, say)."""
    empty_tree = git(host, "hash-object", "-t", "tree", "-w", "/dev/null")
    site = git(host, "commit-tree", "-m", "site", empty_tree)
    git(host, "update-ref", "refs/heads/site", site)
    git(host, "symbolic-ref", "HEAD", "refs/heads/site")
    return site


async def test_a_new_branch_starts_where_the_runs_recorded_they_started(
    run_cli: Cli, host: Path, scad_home: Path
) -> None:
    home = Home(scad_home)
    base = git(host, "rev-parse", "main")
    for run_id in ("proj-b-01-Nov27-1000", "proj-b-06-Nov27-1000"):
        record = load_run(home, run_id)
        save_run(home, msgspec.structs.replace(record, bases={"code": base}))
    site_checked_out(host)
    result = await run_cli("code", "merge", BATCH, "--into", "x", "--only", "proj-b-01,proj-b-06", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stdout
    (repo,) = json.loads(result.stdout)["repos"]
    assert repo["start"] == base and len(repo["merged"]) == 2


async def test_runs_recorded_without_bases_start_where_the_host_guess_finds(
    run_cli: Cli, host: Path
) -> None:
    base = git(host, "rev-parse", "main")
    result = await run_cli("code", "merge", BATCH, "--into", "x", "--only", "proj-b-01", "--json")
    assert json.loads(result.stdout)["repos"][0]["start"] == base
    site = site_checked_out(host)
    result = await run_cli("code", "merge", BATCH, "--into", "y", "--only", "proj-b-01", "--json")
    assert result.exit_code == 1
    (repo,) = json.loads(result.stdout)["repos"]
    assert repo["start"] == site
    assert repo["left_out"][0]["problem"] == "it shares no history with the branch"
