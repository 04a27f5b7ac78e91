"""gc and the borrowed stores: one that no run with clones borrows from goes (and with
it what the host rewrote out of its history); one lent to a run stays, whatever the
run's clone says."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import msgspec
import pytest

from scad.code import borrowed
from scad.code.borrowed import borrowed_store
from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.engine._types import ImageInfo
from scad.gc import GcPlan, apply_gc, plan_gc
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord, load_run, save_run
from scad.sessions import clean_session, start_session
from tests.conftest import make_repo
from tests.fakes import FakeEngine
from tests.unit.test_borrowed import has_object, host_git
from tests.unit.test_gc import age, kept, listed, make_run, stale_file, tree

pytestmark = pytest.mark.anyio

SECRET = "hunter2\n"


class Project(msgspec.Struct):
    home: Home
    repo: Path
    tmp: Path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    return Project(Home(tmp_path / "home"), make_repo(tmp_path / "repo"), tmp_path)


def engine() -> FakeEngine:
    return FakeEngine(images=[ImageInfo(id="sha256:x", tags=["scad-p:x"], labels={}, created="")])


def config_of(repo: Path, tmp: Path, name: str = "p") -> Config:
    return parse_config(
        f"name: {name}\nrepos:\n  code: {{path: {repo}, workdir: true}}\n",
        label=f"{name}.yml",
        base_dir=tmp,
    )


async def start(fake: FakeEngine, home: Home, config: Config) -> RunRecord:
    """A local run of ``config``, as `session start` makes it: its clones borrow."""
    return await start_session(
        fake, home, config, tag="t", prompt="p", headless=True, image="scad-p:x"
    )


async def clean(fake: FakeEngine, home: Home, record: RunRecord) -> None:
    await clean_session(fake, home, load_run(home, record.run_id), force=True)


def commit_secret(repo: Path) -> str:
    """A commit on the host's branch holding a secret file; returns the file's object id."""
    (repo / "secret.txt").write_text(SECRET)
    host_git(repo, "add", "secret.txt")
    host_git(repo, "commit", "-q", "-m", "add the key")
    return host_git(repo, "rev-parse", "HEAD:secret.txt").strip()


def rewrite_out(repo: Path) -> None:
    """The user takes the secret's commit out of the host's history and collects it."""
    host_git(repo, "reset", "-q", "--hard", "HEAD~1")
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "no key")
    host_git(repo, "reflog", "expire", "--expire=now", "--all")
    host_git(repo, "gc", "-q", "--prune=now")


def borrowed_kind(plan: GcPlan) -> tuple[set[str], dict[str, str]]:
    """The borrowed stores the plan removes, and those it keeps with why."""
    items = {name for kind, name in listed(plan) if kind == "borrowed"}
    stays = {name: why for (kind, name), why in kept(plan).items() if kind == "borrowed"}
    return items, stays


def clone_log(clone: Path) -> list[str]:
    """The subjects of the clone's whole history, as git in the clone reads them."""
    out = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(clone), "log", "--all", "--format=%s"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return out.split("\n")[:-1]


def whole(clone: Path) -> bool:
    """Whether git in the clone finds every object its history needs."""
    checked = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(clone), "fsck", "--no-progress", "--full"],
        check=False, capture_output=True,
    )  # fmt: skip
    return checked.returncode == 0


async def test_a_secret_rewritten_out_of_the_host_goes_with_the_unused_store(
    project: Project,
) -> None:
    home, repo = project.home, project.repo
    config, fake = config_of(repo, project.tmp), engine()
    secret = commit_secret(repo)
    first = await start(fake, home, config)
    store = borrowed_store(home, repo)
    assert has_object(store, secret)  # lent to the run, as everything on the host
    await clean(fake, home, first)
    rewrite_out(repo)
    assert not has_object(repo / ".git", secret)

    plan = await plan_gc(fake, home)
    assert borrowed_kind(plan) == ({store.name}, {})
    [item] = [item for item in plan.items if item.kind == "borrowed"]
    assert item.target == str(store)
    assert (
        item.reason == "no run with clones borrows its objects; the next run copies the host again"
    )
    assert item.size_bytes and item.size_bytes > 0
    results = await apply_gc(fake, home, plan)
    assert [(r.name, r.outcome) for r in results if r.kind == "borrowed"] == [
        (store.name, "removed")
    ]
    assert tree(home.borrowed) == {f"{store.name}.lock"}  # no half-removed copy left

    # The next run makes the store again, from the host as it is now.
    second = await start(fake, home, config)
    assert store.is_dir()
    assert not has_object(store, secret)
    assert "add the key" not in clone_log(RunPaths(home, second.run_id).clone("code"))


async def test_a_store_lent_to_a_run_stays_whatever_its_clone_names(project: Project) -> None:
    home, repo, tmp = project.home, project.repo, project.tmp
    fake = engine()
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    live = await start(fake, home, config_of(repo, tmp))
    other_repo = make_repo(tmp / "other")
    await clean(fake, home, await start(fake, home, config_of(other_repo, tmp, "q")))
    store, other = borrowed_store(home, repo), borrowed_store(home, other_repo)
    clone = RunPaths(home, live.run_id).clone("code")

    plan = await plan_gc(fake, home)
    assert borrowed_kind(plan) == ({other.name}, {store.name: f"lent to 1 run ({live.run_id})"})

    # The agent names the other store, or a folder of its own, as its alternates:
    # what gc decides is the same.
    alternates = clone / ".git" / "objects" / "info" / "alternates"
    written = alternates.read_text()
    for named in (other / "objects", tmp / "nowhere", clone / ".git" / "objects"):
        alternates.write_text(f"{named}\n")
        assert borrowed_kind(await plan_gc(fake, home)) == borrowed_kind(plan)
    alternates.unlink()
    assert not whole(clone)  # its history is all borrowed
    assert borrowed_kind(await plan_gc(fake, home)) == borrowed_kind(plan)
    alternates.write_text(written)

    results = await apply_gc(fake, home, plan)
    assert [(r.name, r.outcome) for r in results if r.kind == "borrowed"] == [
        (other.name, "removed")
    ]
    assert store.is_dir() and not other.exists()
    assert clone_log(clone) == ["second", "init"]
    assert whole(clone)


async def planned_removal(project: Project) -> tuple[FakeEngine, Config, GcPlan, Path]:
    """A run made and cleaned, and a gc plan that removes the store it borrowed from:
    the engine, the config, the plan and the store."""
    fake, config = engine(), config_of(project.repo, project.tmp)
    await clean(fake, project.home, await start(fake, project.home, config))
    plan = await plan_gc(fake, project.home)
    store = borrowed_store(project.home, project.repo)
    assert borrowed_kind(plan) == ({store.name}, {})
    return fake, config, plan, store


async def test_a_store_borrowed_from_after_the_plan_is_not_removed(project: Project) -> None:
    """A run that starts between the plan and its removal keeps the store: the
    removal asks again, holding the lock runs take to borrow."""
    home = project.home
    fake, config, plan, store = await planned_removal(project)

    live = await start(fake, home, config)
    results = await apply_gc(fake, home, plan)
    assert [(r.name, r.outcome, r.detail) for r in results if r.kind == "borrowed"] == [
        (store.name, "skipped", f"lent to 1 run ({live.run_id})")
    ]
    assert clone_log(RunPaths(home, live.run_id).clone("code")) == ["init"]


async def test_a_store_named_in_the_record_stays_when_the_repo_path_names_another(
    project: Project,
) -> None:
    """The store a run's clones borrow from is the one scad recorded when it made
    them: a config path (a link) that now leads to another repo changes nothing."""
    home, repo, tmp = project.home, project.repo, project.tmp
    fake = engine()
    live = await start(fake, home, config_of(repo, tmp))
    store = borrowed_store(home, repo)
    repoint(repo, make_repo(tmp / "elsewhere"))

    plan = await plan_gc(fake, home)
    assert borrowed_kind(plan) == (set(), {store.name: f"lent to 1 run ({live.run_id})"})


async def test_a_run_whose_record_cannot_be_read_keeps_every_store(project: Project) -> None:
    home, repo, tmp = project.home, project.repo, project.tmp
    fake = engine()
    await clean(fake, home, await start(fake, home, config_of(repo, tmp)))
    paths = make_run(home, "unknown")
    paths.worktrees.mkdir()
    paths.record.write_text("{")
    store = borrowed_store(home, repo)

    plan = await plan_gc(fake, home)
    why = "run unknown has no readable run.json: which stores its clones borrow from is not known"
    assert borrowed_kind(plan) == (set(), {store.name: why})


async def test_temporary_files_left_in_the_borrowed_stores(project: Project) -> None:
    """A copy of the host cut short, a removal cut short, a fetch cut short."""
    home, repo, tmp = project.home, project.repo, project.tmp
    fake = engine()
    live = await start(fake, home, config_of(repo, tmp))
    store = borrowed_store(home, repo)
    left = home.borrowed / ".tmp-0123456789ab"
    stale_file(left / "objects" / "pack" / "pack-1.pack")
    age(left)
    fresh = home.borrowed / ".tmp-ba9876543210"
    (fresh / "objects").mkdir(parents=True)
    pack = stale_file(store / "objects" / "pack" / "tmp_pack_AbCdEf")

    plan = await plan_gc(fake, home)
    assert {name for kind, name in listed(plan) if kind == "temp"} == {
        "borrowed/.tmp-0123456789ab",
        f"borrowed/{store.name}/objects/pack/tmp_pack_AbCdEf",
    }
    assert kept(plan)[("temp", "borrowed/.tmp-ba9876543210")] == "written less than an hour ago"
    results = await apply_gc(fake, home, plan)
    assert {r.outcome for r in results if r.kind == "temp"} == {"removed"}
    assert not left.exists() and not pack.exists() and fresh.is_dir()
    assert clone_log(RunPaths(home, live.run_id).clone("code")) == ["init"]
    assert os.path.isdir(store / "objects" / "pack")


async def test_a_store_another_process_holds_is_not_removed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The removal takes the lock a run holds while it copies or fetches into the store."""
    home, repo, tmp = project.home, project.repo, project.tmp
    fake = engine()
    await clean(fake, home, await start(fake, home, config_of(repo, tmp)))
    store = borrowed_store(home, repo)
    plan = await plan_gc(fake, home)
    monkeypatch.setattr(borrowed, "LOCK_WAIT", 0.0)
    fd = os.open(f"{store}.lock", os.O_RDWR | os.O_CREAT, 0o600)  # as a starting run holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        results = await apply_gc(fake, home, plan)
    finally:
        os.close(fd)
    [result] = [r for r in results if r.kind == "borrowed"]
    assert result.outcome == "failed"
    assert result.detail and "stayed locked" in result.detail
    assert whole_store(store)


def whole_store(store: Path) -> bool:
    checked = subprocess.run(
        ["git", "--git-dir", str(store), "fsck", "--no-progress", "--full"],
        check=False, capture_output=True,
    )  # fmt: skip
    return checked.returncode == 0


def repoint(repo: Path, elsewhere: Path) -> None:
    """The user moves the repo away and puts a link to another repo at its path."""
    repo.rename(repo.with_name(f"{repo.name}-moved"))
    repo.symlink_to(elsewhere)


def forget_store(home: Home, run_id: str) -> None:
    """The run's record as scad wrote it before runs named their store."""
    save_run(home, msgspec.structs.replace(load_run(home, run_id), borrowed={}))


def not_recorded(run_id: str) -> str:
    return (
        f"run {run_id} does not record which stores its clones borrow from "
        "(it was made before runs did)"
    )


async def test_a_run_recorded_before_its_store_was_keeps_every_store(project: Project) -> None:
    """A record from before runs named their store says nothing of which one its
    clones borrow from: the repo's path may lead to another repo now. Every store
    stays while such a run has clones, whatever its clones' alternates say."""
    home, repo, tmp = project.home, project.repo, project.tmp
    fake = engine()
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    old = await start(fake, home, config_of(repo, tmp))
    store = borrowed_store(home, repo)
    forget_store(home, old.run_id)
    elsewhere = make_repo(tmp / "elsewhere")
    await clean(fake, home, await start(fake, home, config_of(elsewhere, tmp, "q")))
    other = borrowed_store(home, elsewhere)
    repoint(repo, elsewhere)
    assert borrowed_store(home, repo) == other

    plan = await plan_gc(fake, home)
    why = not_recorded(old.run_id)
    assert borrowed_kind(plan) == (set(), {store.name: why, other.name: why})
    results = await apply_gc(fake, home, plan)
    assert [r for r in results if r.kind == "borrowed"] == []
    clone = RunPaths(home, old.run_id).clone("code")
    assert clone_log(clone) == ["second", "init"]
    assert whole(clone)


async def test_a_store_a_run_took_up_after_the_plan_is_not_removed(project: Project) -> None:
    """The removal asks again under the lock as the plan did: a run that does not
    record its store, appearing meanwhile, keeps every store."""
    home, repo, tmp = project.home, project.repo, project.tmp
    fake, config, plan, store = await planned_removal(project)

    old = await start(fake, home, config)
    forget_store(home, old.run_id)
    repoint(repo, make_repo(tmp / "elsewhere"))
    results = await apply_gc(fake, home, plan)
    assert [(r.name, r.outcome, r.detail) for r in results if r.kind == "borrowed"] == [
        (store.name, "skipped", not_recorded(old.run_id))
    ]
    assert clone_log(RunPaths(home, old.run_id).clone("code")) == ["init"]
