"""A run's work is read through the borrowed store its record names, wherever the
repo's path leads now: the store its clones were made from holds their history."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.code.borrowed import borrowed_store
from scad.code.diff import diff_run
from scad.code.fetch import fetch_run
from scad.code.sync import sync_run
from scad.home import Home
from scad.reports.project import project_status
from scad.review.merge import merge_batch
from scad.runs.records import RunPaths, RunRecord, load_run
from scad.sessions.info import session_info
from tests.conftest import make_repo
from tests.unit.test_borrowed import host_git
from tests.unit.test_gc_borrowed import Project, config_of, engine, repoint, start

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    return Project(Home(tmp_path / "home"), make_repo(tmp_path / "repo"), tmp_path)


def agent_commit(clone: Path, subject: str) -> None:
    """A commit on the run's branch, as the agent makes it: its parent is borrowed."""
    host_git(clone, "-c", "safe.directory=*", "commit", "-q", "--allow-empty", "-m", subject)


def store_lenders(paths: RunPaths) -> list[str]:
    """The folders the run's snapshot store of repo ``code`` borrows objects from."""
    return (paths.store("code") / "objects/info/alternates").read_text().splitlines()


async def moved_run(project: Project) -> tuple[RunRecord, Path]:
    """A run with a commit of its own on one the host made after ``elsewhere`` was
    copied from it; then the repo's path leads to ``elsewhere``, which lacks both.
    Returns the run's record and the store its clones borrow from."""
    home, repo, tmp = project.home, project.repo, project.tmp
    elsewhere = tmp / "elsewhere"
    host_git(tmp, "clone", "-q", str(repo), str(elsewhere))
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    record = await start(engine(), home, config_of(repo, tmp))
    store = borrowed_store(home, repo)
    assert record.borrowed == {"code": store.name}
    clone = RunPaths(home, record.run_id).clone("code")
    agent_commit(clone, "the agent's")
    repoint(repo, elsewhere)
    assert borrowed_store(home, repo) != store
    return load_run(home, record.run_id), store


async def test_the_work_of_a_run_is_read_through_its_recorded_store(project: Project) -> None:
    record, store = await moved_run(project)
    home = project.home
    paths = RunPaths(home, record.run_id)

    [clone] = (await session_info(None, home, record)).clones
    assert clone.problem is None
    assert clone.work is not None
    assert {c.subject for c in clone.work.commits} == {"the agent's", "second"}
    assert str(store / "objects") in store_lenders(paths)
    [diff] = await diff_run(home, record, detail=True)
    assert diff.problem is None
    assert [c.subject for c in diff.commits] == ["the agent's", "second"]


async def test_the_work_of_a_run_is_fetched_through_its_recorded_store(project: Project) -> None:
    record, store = await moved_run(project)
    home, repo = project.home, project.repo

    fetched = await fetch_run(home, record)
    assert fetched.problems == []
    assert str(store / "objects") in store_lenders(RunPaths(home, record.run_id))
    log = host_git(repo, "log", "--format=%s", record.branch).split("\n")[:-1]
    assert log == ["the agent's", "second", "init"]


async def test_a_run_is_synced_through_its_recorded_store(project: Project) -> None:
    record, store = await moved_run(project)
    home = project.home

    synced = await sync_run(engine(), home, record, update_main=False)
    assert synced.problems == []
    assert str(store / "objects") in store_lenders(RunPaths(home, record.run_id))


async def test_a_run_is_merged_through_its_recorded_store(project: Project) -> None:
    record, store = await moved_run(project)
    home, repo = project.home, project.repo

    merged = await merge_batch(home, "b", [record.run_id], "merged")
    [into] = merged.repos
    assert (into.left_out, [run.run_id for run in into.merged]) == ([], [record.run_id])
    assert str(store / "objects") in store_lenders(RunPaths(home, record.run_id))
    log = host_git(repo, "log", "--format=%s", "merged").split("\n")[:-1]
    assert {"the agent's", "second"} <= set(log)


async def test_a_run_is_counted_through_its_recorded_store(project: Project) -> None:
    record, store = await moved_run(project)
    home = project.home

    [row] = (await project_status(None, home, "p", runs=[record])).rows
    assert (row.problem, row.ahead) == (None, 2)
    assert str(store / "objects") in store_lenders(RunPaths(home, record.run_id))
