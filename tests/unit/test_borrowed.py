"""Clones that borrow the host repo's objects: they hold only what the agent writes."""

from __future__ import annotations

import math
import os
import shutil
import stat
import subprocess
from collections import Counter
from pathlib import Path

import anyio
import pytest

from scad.code import borrowed, hostrepo
from scad.code.borrowed import borrowed_store
from scad.code.clones import create_clone, unfetched_run_work
from scad.config.loading import parse_config
from scad.errors import UnreadableClone
from scad.home import Home
from scad.layout import agent_owner
from scad.runs.records import RunPaths, RunRecord
from scad.sessions.container import run_container_spec

pytestmark = pytest.mark.anyio

BRANCH = "scad-r"


def host_git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=h", "-c", "user.email=h@h", "-C", str(repo), *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def agent_git(home: Home, repo: Path, clone: Path, *args: str) -> str:
    """git as the agent runs it in its container, where the borrowed objects are
    mounted at the path the clone's alternates name: here the variable git reads
    alternates from stands in for the mount."""
    env = dict(os.environ, GIT_ALTERNATE_OBJECT_DIRECTORIES=str(objects_of(home, repo)))
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(clone), *args],
        check=True, capture_output=True, text=True, env=env,
    ).stdout  # fmt: skip


def has_object(git_dir: Path, oid: str) -> bool:
    found = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-e", oid], check=False)
    return found.returncode == 0


def objects_of(home: Home, repo: Path) -> Path:
    return borrowed_store(home, repo) / "objects"


def outside_repo(path: Path) -> tuple[Path, str]:
    """A repository no run may read, made at ``path``, and its one commit (whose
    subject is "a secret subject")."""
    host_git(path.parent, "init", "-q", str(path))
    host_git(path, "commit", "-q", "--allow-empty", "-m", "a secret subject")
    return path, host_git(path, "rev-parse", "HEAD").strip()


async def borrowing_clone(home: Home, repo: Path, run: str = "r") -> Path:
    dest = RunPaths(home, run).clone("code")
    dest.parent.mkdir(parents=True)
    await create_clone(repo, dest, BRANCH, owner=agent_owner(), borrowed=borrowed_store(home, repo))
    return dest


def object_files(objects: Path) -> dict[str, int]:
    """Every file of an object folder but its ``info``, with its inode."""
    return {
        str(p.relative_to(objects)): p.stat().st_ino
        for p in objects.rglob("*")
        if p.is_file() and p.parent.name != "info"
    }


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


async def test_a_borrowing_clone_holds_no_object_of_its_own(home: Home, repo: Path) -> None:
    clone = await borrowing_clone(home, repo)
    objects = clone / ".git" / "objects"
    assert object_files(objects) == {}
    # Named at the host's path, where the run's container sees them too: git in the
    # clone finds them on either side.
    lent = objects_of(home, repo)
    assert (objects / "info" / "alternates").read_text() == f"{lent}\n"
    logged = await anyio.run_process(
        ["git", "-c", "safe.directory=*", "-C", str(clone), "log", "--format=%s"]
    )
    assert logged.stdout.decode().startswith("init")
    # The agent sees the clone a plain clone of the host would be.
    assert agent_git(home, repo, clone, "rev-parse", "HEAD") == host_git(repo, "rev-parse", "HEAD")
    assert agent_git(home, repo, clone, "branch", "--format=%(refname)", "--all").split() == [
        "refs/heads/main", "refs/heads/scad-r", "refs/remotes/origin/HEAD",
        "refs/remotes/origin/main",
    ]  # fmt: skip
    assert agent_git(home, repo, clone, "remote", "get-url", "origin").strip() == str(repo)
    assert agent_git(home, repo, clone, "status", "--porcelain") == ""


async def test_a_detached_host_head_is_where_the_clone_starts(home: Home, repo: Path) -> None:
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    host_git(repo, "checkout", "-q", "--detach", "HEAD~1")
    clone = await borrowing_clone(home, repo)
    assert agent_git(home, repo, clone, "rev-parse", "HEAD") == host_git(repo, "rev-parse", "HEAD")


async def test_later_clones_fetch_only_what_the_host_gained(home: Home, repo: Path) -> None:
    await borrowing_clone(home, repo, "r1")
    first = object_files(objects_of(home, repo))
    await borrowing_clone(home, repo, "r2")
    assert object_files(objects_of(home, repo)) == first  # nothing new: nothing copied
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "new on the host")
    clone = await borrowing_clone(home, repo, "r3")
    grown = object_files(objects_of(home, repo))
    assert grown.items() > first.items()  # added to; what was there is the same file
    assert len(grown) - len(first) <= 2  # one pack and its index, or one loose commit
    assert "new on the host" in agent_git(home, repo, clone, "log", "-1", "--format=%s")


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The stores fetched into, in order, from the test's start on."""
    fetched: list[Path] = []
    fetch = borrowed._fetch

    async def counted(store: Path, host_repo: Path) -> None:
        fetched.append(store)
        await fetch(store, host_repo)

    monkeypatch.setattr(borrowed, "_fetch", counted)
    return fetched


async def test_runs_made_at_once_share_a_fetch(home: Home, repo: Path, fetches: list[Path]) -> None:
    """Ten runs borrowing at once: a fetch that began after a run asked serves it,
    so they wait behind one or two fetches, not ten; each clone is whole."""
    clones: list[Path] = []

    async def borrow(run: str) -> None:
        clones.append(await borrowing_clone(home, repo, run))

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(borrow, f"r{n}")
    assert 1 <= len(fetches) <= 2
    head = host_git(repo, "rev-parse", "HEAD")
    assert {agent_git(home, repo, clone, "rev-parse", "HEAD") for clone in clones} == {head}
    # Asked after the host moved on: fetched again.
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "later on the host")
    clone = await borrowing_clone(home, repo, "later")
    assert len(fetches) <= 3 and fetches[-1] == borrowed_store(home, repo)
    assert "later on the host" in agent_git(home, repo, clone, "log", "-1", "--format=%s")


async def test_runs_made_at_once_read_the_host_once(
    home: Home, repo: Path, fetches: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's HEAD and identity are read with each fetch, not for each run: ten
    runs made at once ask git for them as often as they fetch."""
    reads: list[str] = []
    for name in ("current_branch", "host_identity"):
        real = getattr(hostrepo, name)

        async def counted(host_repo: Path, real=real, name=name) -> object:  # type: ignore[no-untyped-def]
            reads.append(name)
            return await real(host_repo)

        monkeypatch.setattr(hostrepo, name, counted)
    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(borrowing_clone, home, repo, f"r{n}")
    assert 1 <= len(fetches) <= 2
    assert Counter(reads) == {"current_branch": len(fetches), "host_identity": len(fetches)}


async def test_a_run_served_by_a_fetch_starts_where_that_fetch_found_the_host(
    home: Home, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run served by a fetch that began after it asked starts from the HEAD and
    commits as the identity that fetch found, though the host moved on since; a run
    that asks later fetches, and starts from where the host is then."""
    host_git(repo, "config", "user.name", "First Name")
    await borrowing_clone(home, repo, "r1")
    store = borrowed_store(home, repo)
    before = host_git(repo, "rev-parse", "HEAD").strip()
    host_git(repo, "checkout", "-q", "-b", "elsewhere")
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "on another branch")
    host_git(repo, "config", "user.name", "Second Name")

    began, found = borrowed._fetched[store]
    monkeypatch.setitem(borrowed._fetched, store, (math.inf, found))  # began after any ask
    shared = await borrowing_clone(home, repo, "r2")
    assert agent_git(home, repo, shared, "rev-parse", "HEAD").strip() == before
    assert "refs/heads/main" in agent_git(home, repo, shared, "branch", "--format=%(refname)")
    assert agent_git(home, repo, shared, "config", "--local", "user.name").strip() == "First Name"

    monkeypatch.setitem(borrowed._fetched, store, (began, found))
    later = await borrowing_clone(home, repo, "r3")
    assert agent_git(home, repo, later, "log", "-1", "--format=%s").strip() == "on another branch"
    assert "refs/heads/elsewhere" in agent_git(home, repo, later, "branch", "--format=%(refname)")
    assert agent_git(home, repo, later, "config", "--local", "user.name").strip() == "Second Name"


async def test_a_run_served_by_an_earlier_fetch_keeps_the_host_branch_where_it_found_it(
    home: Home, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another fetch moved the store's copy of the host's branch after the one that
    serves this run: the clone's local copy of that branch is where the run's fetch
    found it, as its own branch is, not where the store has it now."""
    await borrowing_clone(home, repo, "r1")
    store = borrowed_store(home, repo)
    first = borrowed._fetched[store]
    at_first = host_git(repo, "rev-parse", "HEAD").strip()
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "later on the host")
    await borrowing_clone(home, repo, "r2")  # its fetch moves the store's main
    monkeypatch.setitem(borrowed._fetched, store, (math.inf, first[1]))  # served by the first

    clone = await borrowing_clone(home, repo, "r3")
    assert agent_git(home, repo, clone, "rev-parse", "HEAD").strip() == at_first
    assert agent_git(home, repo, clone, "rev-parse", "refs/heads/main").strip() == at_first
    upstream = agent_git(home, repo, clone, "rev-parse", "--abbrev-ref", "main@{upstream}")
    assert upstream.strip() == "origin/main"


async def test_a_tag_named_as_the_host_s_branch_leaves_the_branch_the_run_s(
    home: Home, repo: Path
) -> None:
    """A tag of the same name as the checked-out branch (a release branch and its
    tag): the run starts on that branch, not on a ``heads/...`` git spells it as."""
    host_git(repo, "checkout", "-q", "-b", "release-1")
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "on the release branch")
    host_git(repo, "tag", "release-1", "HEAD~1")
    clone = await borrowing_clone(home, repo)
    tip = host_git(repo, "rev-parse", "refs/heads/release-1").strip()
    assert agent_git(home, repo, clone, "rev-parse", "HEAD").strip() == tip
    assert agent_git(home, repo, clone, "rev-parse", "refs/heads/release-1").strip() == tip


async def test_a_store_removed_after_a_shared_fetch_is_made_again(
    home: Home, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch that serves this run ended, then gc took the store away before the run
    had the lock: the store is made again, not taken for there."""
    await borrowing_clone(home, repo, "r1")
    store = borrowed_store(home, repo)
    _, found = borrowed._fetched[store]
    monkeypatch.setitem(borrowed._fetched, store, (math.inf, found))  # began after any ask
    shutil.rmtree(store)
    clone = await borrowing_clone(home, repo, "r2")
    assert agent_git(home, repo, clone, "rev-parse", "HEAD") == host_git(repo, "rev-parse", "HEAD")


async def test_the_borrowed_store_keeps_what_the_host_collects(home: Home, repo: Path) -> None:
    clone = await borrowing_clone(home, repo)
    agent_git(home, repo, clone, "commit", "-q", "--allow-empty", "-m", "the agent's")
    old = host_git(repo, "rev-parse", "HEAD").strip()
    # The host rewrites its only commit and collects the old one while the run lives.
    host_git(repo, "commit", "-q", "--amend", "--allow-empty", "-m", "rewritten")
    host_git(repo, "reflog", "expire", "--expire=now", "--all")
    host_git(repo, "gc", "-q", "--prune=now")
    assert not has_object(repo / ".git", old)
    await borrowing_clone(home, repo, "r2")  # a fetch of the rewritten host

    # The host holds the old commit no more: it counts as the clone's, and is read.
    work = await unfetched_run_work(
        RunPaths(home, "r"), "code", repo, BRANCH, lender=borrowed_store(home, repo)
    )
    assert (work.branches, work.total) == (["main", BRANCH], 2)
    assert {c.subject for c in work.commits} == {"the agent's", "init"}


async def test_the_borrowed_store_is_readable_by_any_uid(home: Home, repo: Path) -> None:
    await borrowing_clone(home, repo, "r1")
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "fetched later")
    await borrowing_clone(home, repo, "r2")
    store = borrowed_store(home, repo)
    for path in [store, *store.rglob("*")]:
        mode = path.stat().st_mode
        wanted = 0o005 if stat.S_ISDIR(mode) else 0o004
        assert mode & wanted == wanted, path


async def test_a_rewritten_alternates_is_never_followed(
    home: Home, repo: Path, tmp_path: Path
) -> None:
    """The agent names objects outside the run in its alternates and points its branch
    at a commit that only they hold: scad reads none of them on the host."""
    outside, secret = outside_repo(tmp_path / "secret")
    clone = await borrowing_clone(home, repo)
    alternates = clone / ".git" / "objects" / "info" / "alternates"
    alternates.write_text(f"{outside / '.git' / 'objects'}\n{objects_of(home, repo)}\n")
    (clone / ".git" / "refs" / "heads" / BRANCH).write_text(f"{secret}\n")

    with pytest.raises(UnreadableClone, match=f"bad object {secret}"):
        await unfetched_run_work(
            RunPaths(home, "r"), "code", repo, BRANCH, lender=borrowed_store(home, repo)
        )
    store = RunPaths(home, "r").store("code")
    assert "secret" not in (store / "objects" / "info" / "alternates").read_text()
    assert not has_object(store, secret)


async def test_a_link_to_the_borrowed_store_is_not_followed(home: Home, repo: Path) -> None:
    """A pack the agent links in (from the store it sees) is passed over, not read."""
    host_git(repo, "gc", "-q")  # the store's first copy is then a pack
    clone = await borrowing_clone(home, repo)
    store_pack = next((objects_of(home, repo) / "pack").glob("*.pack"), None)
    assert store_pack is not None
    (clone / ".git" / "objects" / "pack" / f"pack-{'a' * 40}.pack").symlink_to(store_pack)
    work = await unfetched_run_work(
        RunPaths(home, "r"), "code", repo, BRANCH, lender=borrowed_store(home, repo)
    )
    assert work.total == 0
    assert list((RunPaths(home, "r").store("code") / "objects" / "pack").iterdir()) == []


def test_a_run_sees_the_borrowed_store_read_only(tmp_path: Path, repo: Path) -> None:
    home = Home(tmp_path / "home")
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    record = RunRecord(
        run_id="r", config="p", tag="t", mode="headless", image="i", branch=BRANCH,
        created="2026-11-27T10:00:00.000Z", repos={"code": str(repo)},
    )  # fmt: skip
    paths = RunPaths(home, "r")

    def mounted() -> dict[str, tuple[str, bool]]:
        spec = run_container_spec(
            config, record, paths, user=(1000, 1000), timezone="UTC", claude_args=[]
        )
        return {m.target: (m.source, m.read_only) for m in spec.mounts}

    lent = str(objects_of(home, repo))
    assert lent not in mounted()  # none made yet: a copying clone
    (borrowed_store(home, repo) / "objects").mkdir(parents=True)
    assert mounted()[lent] == (lent, True)
