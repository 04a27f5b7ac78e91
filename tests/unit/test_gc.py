"""gc: what is listed, what is kept and why, and that --force removes exactly the list."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from scad.batch.store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    SupervisorLock,
    append_batch_event,
    save_manifest,
)
from scad.code.clones import create_clone
from scad.engine._types import ContainerSpec, ContainerState, ImageInfo
from scad.engine.labels import home_label
from scad.errors import EngineError
from scad.gc import (
    GcItem,
    GcPlan,
    apply_gc,
    doctor_leftovers,
    orphan_containers,
    plan_gc,
    stale_images,
)
from scad.home import Home
from scad.names import image_repository
from scad.progress import Progress
from scad.runs.events import supervising
from scad.runs.records import RunPaths, RunRecord, save_run
from tests.conftest import make_repo
from tests.fakes import FakeEngine, batch_event, container_using

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None
HOURS_AGO = 3


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def age(root: Path, hours: float = HOURS_AGO) -> None:
    """Make ``root`` and everything under it look untouched for ``hours``."""
    then = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.utime(os.path.join(folder, name), (then, then), follow_symlinks=False)
    os.utime(root, (then, then), follow_symlinks=False)


def make_run(
    home: Home,
    run_id: str,
    *,
    fresh: bool = False,
    cleaned: bool = False,
    batch: str | None = None,
    repos: dict[str, str] | None = None,
) -> RunPaths:
    """A run directory as a finished run leaves it (as ``clean`` leaves it, if cleaned)."""
    paths = RunPaths(home, run_id)
    paths.root.mkdir(parents=True, mode=0o700)
    created = datetime.now(UTC) - (timedelta(0) if fresh else timedelta(hours=HOURS_AGO))
    record = RunRecord(
        run_id=run_id, config="proj", tag="t", mode="headless", image="scad-proj:x",
        branch=f"scad-{run_id}", created=iso(created), repos=repos or {},
        cleaned=iso(created) if cleaned else None, batch_id=batch, item=1 if batch else None,
    )  # fmt: skip
    save_run(home, record)
    paths.events.write_text('{"seq":1,"ts":"t","src":"scad","event":"created"}\n')
    if not cleaned:
        paths.claude_dir.mkdir()
        (paths.claude_dir / "history.jsonl").write_text("{}\n")
        paths.inputs.mkdir()
    if not fresh:
        age(paths.root)
    return paths


async def add_clone(paths: RunPaths, repo: Path, key: str = "code") -> Path:
    paths.worktrees.mkdir(exist_ok=True)
    await create_clone(repo, paths.clone(key), f"scad-{paths.root.name}", owner=AGENT)
    age(paths.root)
    return paths.clone(key)


def agent_commit(clone: Path, message: str) -> None:
    """A commit made as the agent makes it, in its clone (a test may; scad never does)."""
    subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(clone), "commit", "-q", "--allow-empty", "-m", message],
        check=True,
    )  # fmt: skip


def make_batch(home: Home, batch_id: str, runs: list[str], *, fresh: bool = False) -> BatchPaths:
    paths = BatchPaths(home, batch_id)
    paths.root.mkdir(parents=True)
    items = [BatchItem(index=n, tag=f"t-{n}", prompt="p") for n in range(1, len(runs) + 1)]
    manifest = BatchManifest(
        batch_id=batch_id, config="proj", tag="t", created=iso(datetime.now(UTC)),
        image="scad-proj:x", source="-", options=BatchOptions(), items=items,
    )  # fmt: skip
    save_manifest(paths, manifest)
    for n, run_id in enumerate(runs, start=1):
        append_batch_event(paths, batch_event("started", item=n, run_id=run_id, attempt=1))
        append_batch_event(
            paths,
            batch_event(
                "attempt", item=n, run_id=run_id, attempt=1, status="succeeded", final=True
            ),
        )
    append_batch_event(paths, batch_event("ended"))
    if not fresh:
        age(paths.root)
    return paths


def stale_file(path: Path, text: str = "partial") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    age(path)
    return path


async def run_container(
    engine: FakeEngine, run_id: str, *, home: Home | None, running: bool = False
) -> str:
    """A run's container as scad makes it in ``home`` (None: as an older scad made
    it, naming no home)."""
    labels = {"scad.run": run_id, "scad.config": "proj"}
    if home is not None:
        labels["scad.home"] = os.path.realpath(home.root)
    spec = ContainerSpec(image="scad-proj:x", name=f"scad-{run_id}", labels=labels)
    container_id = await engine.create_container(spec)
    if running:
        await engine.start(container_id)
    return container_id


def image(id: str, *tags: str, created: int, config: str | None = "proj") -> ImageInfo:
    labels = {"scad.config": config, "scad.hash": id} if config else {}
    return ImageInfo(id=f"sha256:{id}", tags=list(tags), labels=labels, created=str(created))


def listed(plan: GcPlan) -> set[tuple[str, str]]:
    return {(item.kind, item.name) for item in plan.items}


def kept(plan: GcPlan) -> dict[tuple[str, str], str]:
    return {(k.kind, k.name): k.reason for k in plan.kept}


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (links listed, not followed)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def register_config(home: Home, name: str = "proj") -> None:
    """A config of that name in the home (gc reads only which exist)."""
    home.configs.mkdir(parents=True, exist_ok=True)
    home.config_file(name).write_text(f"name: {name}\n")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


async def test_each_kind_is_listed_or_kept_and_force_removes_exactly_the_list(
    home: Home, repo: Path
) -> None:
    engine = FakeEngine(
        images=[
            image("dangling0001", created=50),
            image("aaa", "scad-proj:aaa", created=100),
            image("used", "scad-proj:bbb", created=200),
            image("ccc", "scad-proj:ccc", "scad-proj:latest", created=300),
            image("ddd", "scad-proj:ddd", created=400),
            image("mine1", "mine:1", created=10),  # built FROM a scad image: not scad's
            image("mine2", "scad-proj:eee", "mine:2", created=20),
            image("other", "scad-other:x", created=5, config=None),
        ],
        containers=[container_using("sha256:used")],
    )
    orphan = await run_container(engine, "p-gone", home=home)
    running_orphan = await run_container(engine, "p-gone-running", home=home, running=True)
    live = await run_container(engine, "p-live", home=home)
    register_config(home)

    make_run(home, "p-cleaned", cleaned=True, batch="b-done")
    stale_file(home.run_dir("p-cleaned") / "run.tmp")  # goes with its run, not on its own
    make_run(home, "p-bare")
    make_run(home, "p-fresh", fresh=True)
    with_clones = make_run(home, "p-clones", repos={"code": str(repo)}, batch="b-open")
    await add_clone(with_clones, repo)
    make_run(home, "p-live")
    make_run(home, "p-supervised", cleaned=True, batch="b-live")
    make_run(home, "p-logged", cleaned=True)  # named by b-live's log only

    stale_file(with_clones.root / "run.tmp")
    stale_file(with_clones.stores / "code.git" / "objects" / "ab" / ".tmp-0123456789ab")
    (with_clones.root / ".scad-tmp-00112233").write_text("being written")
    stale_file(with_clones.root / ".scad-aside-1234" / "x")  # moved aside: the agent's, kept

    make_batch(home, "b-done", ["p-cleaned"])
    make_batch(home, "b-open", ["p-clones"])
    stale_file(Path(BatchPaths(home, "b-open").manifest + ".tmp"))
    age(BatchPaths(home, "b-open").root)
    live_batch = make_batch(home, "b-live", ["p-supervised", "p-logged"])

    with SupervisorLock(live_batch):
        plan = await plan_gc(engine, home)

        assert listed(plan) == {
            ("container", "scad-p-gone"),
            ("container", "scad-p-gone-running"),
            ("run", "p-cleaned"),
            ("run", "p-bare"),
            ("batch", "b-done"),
            ("image", "scad-proj:aaa"),
            ("image", "dangling0001"),
            ("temp", "runs/p-clones/run.tmp"),
            ("temp", "runs/p-clones/stores/code.git/objects/ab/.tmp-0123456789ab"),
            ("temp", "batches/b-open/manifest.json.tmp"),
        }
        pid = os.getpid()
        assert kept(plan) == {
            ("run", "p-fresh"): "touched less than an hour ago (it may be starting)",
            ("run", "p-clones"): "it has clones (nothing unfetched); "
            "`scad session clean p-clones` removes them",
            ("run", "p-live"): f"its container {live[:12]} exists; "
            "`scad session clean p-live` removes it",
            ("run", "p-supervised"): f"its batch b-live is supervised (pid {pid})",
            ("run", "p-logged"): f"its batch b-live is supervised (pid {pid})",
            ("batch", "b-open"): "its run(s) p-clones are not cleaned",
            ("batch", "b-live"): f"its supervisor is alive (pid {pid})",
            ("image", "scad-proj:bbb"): "a container uses it",
            ("image", "scad-proj:ccc (+1)"): "the latest of config proj",
            ("image", "scad-proj:ddd"): "the newest of config proj",
            ("image", "scad-proj:eee (+1)"): "also tagged mine:2",
            ("temp", "runs/p-clones/.scad-tmp-00112233"): "written less than an hour ago",
        }
        # Listed in the order they are removed: containers first, a batch after its runs.
        assert [i.kind for i in plan.items] == [
            "container", "container", "run", "run", "batch", "image", "image", "temp", "temp", "temp",
        ]  # fmt: skip
        by_name = {item.name: item for item in plan.items}
        assert by_name["scad-p-gone-running"].reason == (
            "its run p-gone-running has no run directory; it is running: removing it stops it"
        )
        assert by_name["b-done"].runs == ["p-cleaned"]
        assert by_name["p-bare"].size_bytes == sum(
            os.lstat(home.run_dir("p-bare") / p).st_size
            for p in ("run.json", "events.jsonl", "claude/history.jsonl")
        )

    before, stopping = tree(home.root), engine.made[running_orphan]
    results = await apply_gc(engine, home, plan)

    assert [(r.kind, r.name, r.outcome) for r in results] == [
        (i.kind, i.name, "removed") for i in plan.items
    ]
    gone = before - tree(home.root)
    # What the removed runs were and spent stays, in the ledger.
    assert tree(home.root) - before == {"ledger", "ledger/p-cleaned.json", "ledger/p-bare.json"}
    expected = {
        p for p in before if p.split("/")[:2] in (["runs", "p-cleaned"], ["runs", "p-bare"])
    }
    expected |= {p for p in before if p.split("/")[:2] == ["batches", "b-done"]}
    expected |= {
        "runs/p-clones/run.tmp",
        "runs/p-clones/stores/code.git/objects/ab/.tmp-0123456789ab",
        "batches/b-open/manifest.json.tmp",
    }
    assert gone == expected
    assert engine.removed == [orphan, running_orphan, "sha256:dangling0001", "scad-proj:aaa"]
    assert stopping.stopped.is_set()  # stopped before it was removed
    assert set(engine.made) == {live}


async def test_a_clone_with_commits_the_host_lacks_keeps_its_run(home: Home, repo: Path) -> None:
    paths = make_run(home, "p-work", repos={"code": str(repo)})
    agent_commit(await add_clone(paths, repo), "the agent's work")

    plan = await plan_gc(FakeEngine(), home)

    assert listed(plan) == set()
    assert kept(plan) == {
        ("run", "p-work"): f"clone code holds 1 commit(s) not in {repo}; "
        "fetch them (`scad code fetch p-work`)"
    }


async def test_a_clone_that_cannot_be_read_keeps_its_run(home: Home, repo: Path) -> None:
    paths = make_run(home, "p-odd", repos={"code": str(repo)})
    clone = await add_clone(paths, repo)
    shutil.rmtree(clone / ".git")
    (clone / ".git").write_text(f"gitdir: {repo}/.git\n")

    plan = await plan_gc(FakeEngine(), home)

    assert listed(plan) == set()
    why = kept(plan)[("run", "p-odd")]
    assert why.startswith(
        f"it has clones; cannot tell whether clone code holds commits {repo} lacks"
    )


async def test_an_empty_worktrees_folder_still_keeps_its_run(home: Home) -> None:
    paths = make_run(home, "p-empty")
    paths.worktrees.mkdir()
    age(paths.root)
    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == set()
    assert kept(plan) == {
        ("run", "p-empty"): "it has clones; `scad session clean p-empty` removes them once "
        "they are fetched"
    }


async def test_stores_left_without_clones_keep_a_run_that_was_not_cleaned(home: Home) -> None:
    paths = make_run(home, "p-store")
    stale_file(paths.store("code") / "packed-refs", "")
    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == set()
    assert kept(plan)[("run", "p-store")] == (
        "its stores/ hold copies of its clones' commits; look at it by hand"
    )


@pytest.mark.parametrize(
    ("fresh", "collected"),
    [pytest.param(True, False, id="being-prepared"), pytest.param(False, True, id="stale")],
)
async def test_a_run_with_no_container_and_no_clones_goes_once_stale(
    home: Home, fresh: bool, collected: bool
) -> None:
    make_run(home, "p-new", fresh=fresh)
    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == ({("run", "p-new")} if collected else set())


async def test_a_fresh_event_log_keeps_an_old_run(home: Home) -> None:
    paths = make_run(home, "p-old")
    paths.events.write_text("appended just now\n")
    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == set()


@pytest.mark.parametrize(
    ("worktrees", "fresh", "collected"),
    [
        pytest.param(True, False, False, id="with-clones"),
        pytest.param(False, True, False, id="fresh"),
        pytest.param(False, False, True, id="stale-and-bare"),
    ],
)
async def test_a_run_without_a_readable_record(
    home: Home, worktrees: bool, fresh: bool, collected: bool
) -> None:
    root = home.run_dir("p-broken")
    root.mkdir(parents=True)
    (root / "run.json").write_text("{not json")
    if worktrees:
        (root / "worktrees" / "code").mkdir(parents=True)
    if not fresh:
        age(root)

    plan = await plan_gc(FakeEngine(), home)

    assert listed(plan) == ({("run", "p-broken")} if collected else set())
    if worktrees:
        why = kept(plan)[("run", "p-broken")]
        assert why.startswith("it has clones and no readable run.json (")
        assert why.endswith("); look at it by hand")


async def test_runs_a_live_process_uses_are_kept(home: Home) -> None:
    supervised = RunPaths(home, "p-watched")
    locked = make_run(home, "p-locked", cleaned=True)
    make_run(home, "p-watched", cleaned=True)
    async with supervising(supervised):
        fd = os.open(locked.lock, os.O_RDWR | os.O_CREAT, 0o600)  # as a log writer holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            plan = await plan_gc(FakeEngine(), home)
        finally:
            os.close(fd)
    assert listed(plan) == set()
    assert kept(plan) == {
        ("run", "p-locked"): "its event log is being written",
        ("run", "p-watched"): "a live process supervises it",
    }


async def test_a_batch_is_kept_until_its_runs_are_cleaned_or_gone(home: Home) -> None:
    make_run(home, "p-a", cleaned=True, batch="b-1")
    make_run(home, "p-b", batch="b-1", fresh=True)  # not cleaned, still starting
    make_batch(home, "b-1", ["p-a", "p-b", "p-never-kept"])
    make_batch(home, "b-new", [], fresh=True)

    plan = await plan_gc(FakeEngine(), home)

    assert listed(plan) == {("run", "p-a")}
    assert kept(plan) == {
        ("run", "p-b"): "touched less than an hour ago (it may be starting)",
        ("batch", "b-1"): "its run(s) p-b are not cleaned",
        ("batch", "b-new"): "touched less than an hour ago",
    }


async def test_a_batch_whose_creation_was_cut_short_goes_once_stale(home: Home) -> None:
    (home.root / "batches" / "b-cut").mkdir(parents=True)
    (home.root / "batches" / "b-bad").mkdir(parents=True)
    (home.root / "batches" / "b-bad" / "manifest.json").write_text("{")
    age(home.root / "batches")
    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == {("batch", "b-cut")}
    assert kept(plan)[("batch", "b-bad")].startswith("its manifest is unreadable (")


async def test_links_planted_in_a_run_are_removed_not_followed(home: Home, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.txt").write_text("keep me")
    (outside / "folder" / "inner.txt").write_text("keep me too")
    paths = make_run(home, "p-evil")
    (paths.claude_dir / "secret.txt").symlink_to(outside / "secret.txt")
    (paths.claude_dir / "folder").symlink_to(outside / "folder")
    (paths.claude_dir / "projects").mkdir()
    (paths.claude_dir / "projects" / "up").symlink_to(outside)
    age(paths.root)
    # A link in runs/ itself is not a run directory.
    (home.runs / "p-link").symlink_to(outside)

    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == {("run", "p-evil")}
    assert kept(plan) == {("run", "p-link"): "not a folder; left alone"}
    results = await apply_gc(FakeEngine(), home, plan)

    assert [r.outcome for r in results] == ["removed"]
    assert not paths.root.exists()
    assert (outside / "secret.txt").read_text() == "keep me"
    assert (outside / "folder" / "inner.txt").read_text() == "keep me too"
    assert tree(outside) == {"folder", "folder/inner.txt", "secret.txt"}
    assert (home.runs / "p-link").is_symlink()


class Failing(FakeEngine):
    """Refuses to remove the containers and images named in ``refuse``."""

    def __init__(self, refuse: set[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.refuse = refuse

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        if container_id in self.refuse:
            raise EngineError(f"remove container {container_id[:12]}: device or resource busy")
        await super().remove(container_id, force=force)

    async def remove_image(self, reference: str) -> None:
        if reference in self.refuse:
            raise EngineError(f"remove image {reference}: conflict")
        await super().remove_image(reference)


async def test_a_failure_is_reported_and_the_rest_proceeds(home: Home) -> None:
    engine = Failing(
        {"scad-proj:aaa"},
        images=[
            image("aaa", "scad-proj:aaa", created=1),
            image("bbb", "scad-proj:bbb", created=2),
            image("ccc", "scad-proj:latest", created=3),
        ],
    )
    first = await run_container(engine, "p-gone-1", home=home)
    second = await run_container(engine, "p-gone-2", home=home)
    engine.refuse.add(first)
    register_config(home)
    make_run(home, "p-cleaned", cleaned=True)

    plan = await plan_gc(engine, home)
    results = await apply_gc(engine, home, plan)

    assert [(r.kind, r.name, r.outcome, r.detail) for r in results] == [
        ("container", "scad-p-gone-1", "failed",
         f"remove container {first[:12]}: device or resource busy"),
        ("container", "scad-p-gone-2", "removed", None),
        ("run", "p-cleaned", "removed", None),
        ("image", "scad-proj:aaa", "failed", "remove image scad-proj:aaa: conflict"),
        ("image", "scad-proj:bbb", "removed", None),
    ]  # fmt: skip
    assert engine.removed == [second, "scad-proj:bbb"]
    assert set(engine.made) == {first}
    assert not home.run_dir("p-cleaned").exists()


async def test_what_changed_since_the_plan_is_skipped(home: Home) -> None:
    engine = FakeEngine()
    await run_container(engine, "p-back", home=home)
    make_run(home, "p-takes-clones", cleaned=True, batch="b-1")
    make_batch(home, "b-1", ["p-takes-clones"])
    make_run(home, "p-busy", cleaned=True)
    temp = stale_file(home.run_dir("p-busy") / "run.tmp")
    age(home.run_dir("p-busy"))
    plan = await plan_gc(engine, home)
    assert listed(plan) == {
        ("container", "scad-p-back"),
        ("run", "p-takes-clones"),
        ("run", "p-busy"),
        ("batch", "b-1"),
    }
    # (The busy run's temporary file goes with it, so it is not listed on its own.)
    home.run_dir("p-back").mkdir()
    RunPaths(home, "p-takes-clones").worktrees.mkdir()
    async with supervising(RunPaths(home, "p-busy")):
        results = await apply_gc(engine, home, plan)

    assert {(r.name, r.outcome, r.detail) for r in results} == {
        ("scad-p-back", "skipped", "its run directory is back"),
        ("p-takes-clones", "skipped", "it has clones again"),
        ("p-busy", "skipped", "a live process supervises it"),
        ("b-1", "skipped", "its run(s) p-takes-clones were not removed"),
    }
    assert engine.removed == []
    assert temp.exists() and BatchPaths(home, "b-1").root.exists()


async def test_a_temporary_file_written_again_is_skipped(home: Home) -> None:
    paths = make_run(home, "p-a", repos={})
    paths.worktrees.mkdir()
    temp = stale_file(paths.root / "run.tmp")
    age(paths.root)
    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == {("temp", "runs/p-a/run.tmp")}
    temp.write_text("again")
    results = await apply_gc(FakeEngine(), home, plan)
    assert [(r.outcome, r.detail) for r in results] == [("skipped", "written again since")]
    assert temp.read_text() == "again"


async def test_nothing_to_collect_in_an_empty_home(home: Home) -> None:
    plan = await plan_gc(FakeEngine(), home)
    assert plan == GcPlan(items=[], kept=[], stale_before=plan.stale_before)
    assert await apply_gc(FakeEngine(), home, plan) == []


def test_the_newest_image_and_the_latest_one_both_stay() -> None:
    images = [
        image("old", "scad-proj:old", created=1),
        image("latest", "scad-proj:back", "scad-proj:latest", created=2),
        image("newer", "scad-proj:newer", created=3),
        # An inspect gives ISO times; they compare with the list's UNIX seconds.
        ImageInfo(
            id="sha256:iso",
            tags=["scad-proj:iso"],
            labels={"scad.config": "proj"},
            created="1970-01-01T00:00:02.5Z",
        ),
    ]
    plan = stale_images(images, [], "/h", {"proj"})
    assert listed(plan) == {("image", "scad-proj:old"), ("image", "scad-proj:iso")}
    assert kept(plan) == {
        ("image", "scad-proj:back (+1)"): "the latest of config proj",
        ("image", "scad-proj:newer"): "the newest of config proj",
    }


def test_a_home_collects_only_its_own_images() -> None:
    """Two homes on one engine: each keeps its own latest and newest, leaves the
    other's images alone, and an image both tagged is the other's too."""
    mine, theirs = image_repository("proj", "/home/a"), image_repository("proj", "/home/b")
    images = [
        image("old", f"{mine}:old", created=1),
        image("shared", f"{mine}:shared", f"{theirs}:shared", created=2),
        image("current", f"{mine}:current", f"{mine}:latest", created=3),
        image("theirs-old", f"{theirs}:old", created=4),
        image("theirs-latest", f"{theirs}:new", f"{theirs}:latest", created=5),
    ]
    plan = stale_images(images, [], "/home/a", {"proj"})
    assert listed(plan) == {("image", f"{mine}:old")}
    assert kept(plan) == {
        ("image", f"{mine}:shared (+1)"): f"also tagged {theirs}:shared by another scad home",
        ("image", f"{mine}:current (+1)"): "the latest of config proj",
    }
    # Kept as the other home's: listed only when other homes' are asked for.
    assert [k.home for k in plan.kept if k.name == f"{mine}:shared (+1)"] == [
        theirs.removeprefix("scad-proj-")
    ]
    assert listed(stale_images(images, [], "/home/b", {"proj"})) == {("image", f"{theirs}:old")}


def test_of_two_images_made_in_one_second_the_latest_is_the_newest() -> None:
    images = [
        image("first", "scad-proj:first", created=7),
        image("second", "scad-proj:second", "scad-proj:latest", created=7),
    ]
    for order in (images, images[::-1]):
        assert listed(stale_images(order, [], "/h", {"proj"})) == {("image", "scad-proj:first")}


def test_a_container_is_an_orphan_only_by_its_run_and_home_labels() -> None:
    def container(name: str, labels: dict[str, str]) -> ContainerState:
        return msgspec.structs.replace(
            container_using("sha256:x"), id=name, name=name, labels=labels
        )

    here = {"scad.home": "/home/me/.scad"}
    containers = [
        container("of-a-run", {"scad.run": "p-here", **here}),
        container("orphan", {"scad.run": "p-gone", "scad.config": "proj", **here}),
        container("another-homes", {"scad.run": "p-gone", "scad.home": "/tmp/t/home"}),
        container("of-a-run-elsewhere", {"scad.run": "p-here", "scad.home": "/tmp/t/home"}),
        container("older", {"scad.run": "p-gone", "scad.config": "proj"}),
        container("from-a-scad-image", {"scad.config": "proj", "scad.hash": "h"}),
        container("unrelated", {}),
    ]
    plan = orphan_containers(containers, {"p-here"}, "/home/me/.scad")
    assert listed(plan) == {("container", "orphan")}
    assert kept(plan) == {
        ("container", "another-homes"): "made by another scad home (/tmp/t/home)",
        ("container", "older"): "made before containers named their scad home; "
        "remove it with `docker rm -f older` if it is yours",
    }


def test_a_killed_doctors_containers_go_once_no_doctor_can_be_using_them() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)

    def made(name: str, created: str, labels: dict[str, str]) -> ContainerState:
        return msgspec.structs.replace(
            container_using("sha256:x"), id=name, name=name, labels=labels, created=created
        )

    doctor = {"scad.doctor": "round trip"}
    long_ago = str(int(now.timestamp()) - 3601)
    containers = [
        made("scad-doctor-p-0000000a", long_ago, doctor),
        made("scad-doctor-p-0000000b", "2026-11-27T09:59:59.123456789Z", doctor),
        made("scad-doctor-p-0000000c", str(int(now.timestamp()) - 30), doctor),
        made("scad-doctor-p-0000000d", "2026-11-27T11:00:01.5Z", doctor),
        made("scad-doctor-p-0000000e", "yesterday", doctor),
        # The label from an image, and a run of a config named "doctor": neither is one.
        made("web", long_ago, doctor),
        made("scad-doctor-fix-Nov27-1000", long_ago, {"scad.run": "doctor-fix", **doctor}),
        made("scad-doctor-p-0000000f", long_ago, {"scad.config": "doctor"}),
    ]
    plan = doctor_leftovers(containers, now.timestamp())
    assert listed(plan) == {
        ("container", "scad-doctor-p-0000000a"),
        ("container", "scad-doctor-p-0000000b"),
    }
    young = "made by scad doctor under an hour ago: it may be in use"
    assert kept(plan) == {
        ("container", "scad-doctor-p-0000000c"): young,
        ("container", "scad-doctor-p-0000000d"): young,
        ("container", "scad-doctor-p-0000000e"): "made by scad doctor at a time the engine does not say ('yesterday')",
    }  # fmt: skip


async def test_containers_another_home_or_an_older_scad_made_are_kept_and_left(
    home: Home, tmp_path: Path
) -> None:
    engine = FakeEngine()
    other = Home(tmp_path / "other")
    theirs = await run_container(engine, "p-theirs", home=other, running=True)
    older = await run_container(engine, "p-older", home=None)
    mine = await run_container(engine, "p-mine", home=home)

    plan = await plan_gc(engine, home)
    assert listed(plan) == {("container", "scad-p-mine")}
    assert kept(plan) == {
        ("container", "scad-p-theirs"): f"made by another scad home ({other.root})",
        ("container", "scad-p-older"): "made before containers named their scad home; "
        "remove it with `docker rm -f scad-p-older` if it is yours",
    }
    results = await apply_gc(engine, home, plan)

    assert [(r.name, r.outcome) for r in results] == [("scad-p-mine", "removed")]
    assert engine.removed == [mine]
    assert set(engine.made) == {theirs, older}
    assert not engine.made[theirs].stopped.is_set()


async def test_a_home_reached_through_a_link_knows_its_own_containers(
    home: Home, tmp_path: Path
) -> None:
    home.root.mkdir()
    engine = FakeEngine()
    orphan = await run_container(engine, "p-gone", home=home)
    (tmp_path / "link").symlink_to(home.root)

    plan = await plan_gc(engine, Home(tmp_path / "link"))
    assert listed(plan) == {("container", "scad-p-gone")}
    assert plan.items[0].target == orphan


async def test_a_plan_cannot_reach_outside_the_home(home: Home, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("keep me")
    home.runs.mkdir(parents=True)
    plan = GcPlan(
        items=[
            GcItem(kind="run", name="../../outside", reason="", target=str(outside)),
            GcItem(kind="temp", name="file", reason="", target=str(outside / "file")),
        ],
        kept=[],
    )
    results = await apply_gc(FakeEngine(), home, plan)
    assert [(r.outcome, r.detail) for r in results] == [
        ("skipped", "not a name of a folder in the home"),
        ("skipped", "not a temporary file of scad's"),
    ]
    assert (outside / "file").read_text() == "keep me"


async def test_a_scratch_folder_left_in_the_system_temp_folder(
    home: Home, system_temp: Path
) -> None:
    left = system_temp / "scad-ccusage-abc123"
    stale_file(left / "claude" / "projects" / "t.jsonl", "{}")
    age(left)
    (system_temp / "scad-ccusage-fresh" / "claude").mkdir(parents=True)
    stale_file(system_temp / "someone-else-1" / "x")

    plan = await plan_gc(FakeEngine(), home)
    assert listed(plan) == {("temp", str(left))}
    assert kept(plan) == {
        ("temp", str(system_temp / "scad-ccusage-fresh")): "written less than an hour ago"
    }
    assert plan.items[0].size_bytes == 2

    results = await apply_gc(FakeEngine(), home, plan)
    assert [r.outcome for r in results] == ["removed"]
    assert tree(system_temp) == {
        "scad-ccusage-fresh", "scad-ccusage-fresh/claude", "someone-else-1", "someone-else-1/x",
    }  # fmt: skip


def test_a_tree_of_more_entries_than_are_counted_has_no_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scad.gc import scan

    monkeypatch.setattr(scan, "MAX_TREE_ENTRIES", 1000)
    tree = tmp_path / "claude"
    tree.mkdir()
    for n in range(999):
        (tree / f"f{n}").write_text("x")
    assert scan.tree_size(tree) == 999
    for n in range(2000):
        (tree / f"g{n}").touch()
    assert scan.tree_size(tree) is None


def test_the_images_of_a_config_that_is_gone_all_go_but_one_in_use() -> None:
    gone = image_repository("gone", "/h")
    images = [
        image("old", f"{gone}:old", created=1, config="gone"),
        image("used", f"{gone}:used", created=2, config="gone"),
        image("latest", f"{gone}:new", f"{gone}:latest", created=3, config="gone"),
        image("mine", "scad-proj:latest", created=4),
    ]
    plan = stale_images(images, [container_using("sha256:used")], "/h", {"proj"})
    assert listed(plan) == {("image", f"{gone}:latest (+1)"), ("image", f"{gone}:old")}
    assert {i.reason for i in plan.items} == {"config gone no longer exists; no container uses it"}
    assert kept(plan) == {
        ("image", f"{gone}:used"): "a container uses it",
        ("image", "scad-proj:latest"): "the latest of config proj",
    }


def test_an_image_named_as_before_homes_is_not_taken_for_a_config_the_home_lacks() -> None:
    """``scad-NAME`` images may be another home's: a home that has no config NAME
    keeps them, and says how to remove one by hand."""
    images = [image("old", "scad-theirs:old", "scad-theirs:latest", created=1, config="theirs")]
    plan = stale_images(images, [], "/h", {"proj"})
    assert listed(plan) == set()
    assert kept(plan) == {
        ("image", "scad-theirs:latest (+1)"): "named before each scad home had its own, "
        "of a config this home does not have; "
        "remove it with `docker rmi scad-theirs:latest` if it is yours"
    }
    assert listed(stale_images(images, [], "/h", {"theirs"})) == set()
    assert kept(stale_images(images, [], "/h", {"theirs"})) == {
        ("image", "scad-theirs:latest (+1)"): "the latest of config theirs"
    }


async def test_a_plan_collects_the_images_of_configs_the_home_no_longer_has(home: Home) -> None:
    repository = image_repository("proj", home_label(home))
    engine = FakeEngine(images=[image("a", f"{repository}:latest", created=1)])
    assert listed(await plan_gc(engine, home)) == {("image", f"{repository}:latest")}
    register_config(home)
    assert listed(await plan_gc(engine, home)) == set()


async def test_plan_and_removal_tell_their_progress(home: Home, repo: Path) -> None:
    for run_id in ("proj-a-Nov27-1000", "proj-b-Nov27-1000"):
        await add_clone(make_run(home, run_id, repos={"code": str(repo)}), repo)
    make_run(home, "proj-c-Nov27-1000", cleaned=True)
    engine = FakeEngine()
    heard: list[Progress] = []
    plan = await plan_gc(engine, home, progress=heard.append)
    # Both runs' clones are read (git work, seconds for many): each read is told.
    assert [(p.what, p.done, p.total) for p in heard] == [
        ("reading clones", 0, 2),
        ("reading clones", 1, 2),
        ("reading clones", 2, 2),
    ]
    heard.clear()
    await apply_gc(engine, home, plan, progress=heard.append)
    total = len(plan.items)
    assert total and [(p.what, p.done, p.total) for p in heard] == [
        ("removing", n, total) for n in range(1, total + 1)
    ]
