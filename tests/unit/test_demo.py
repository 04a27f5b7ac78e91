"""The demo's project, config and clean-up (the demo itself runs in the README test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scad.batch.store import BatchManifest, BatchOptions, BatchPaths, save_manifest
from scad.demo import DEMO_CONFIG, DEMO_PROMPTS, demo_repo, prepare_demo, remove_demo
from scad.engine._types import ContainerSpec, ImageInfo
from scad.engine.labels import home_label
from scad.errors import UsageError
from scad.home import Home
from scad.names import image_repository
from scad.offline.script import parse_script
from scad.runs.records import RunPaths, RunRecord, save_run
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio


def log(repo: Path) -> list[str]:
    return subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s", "--all"],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")[:-1]  # fmt: skip


async def test_the_demo_project_is_made_once_and_its_config_follows_the_model(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path / "home")
    config = await prepare_demo(home, "http://127.0.0.1:1111")
    repo = demo_repo(home)
    assert log(repo) == ["A tiny greeter"]
    assert config.name == DEMO_CONFIG and config.network == "host"
    assert config.repos["code"].path == str(repo)
    assert config.claude.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1111"

    again = await prepare_demo(home, "http://127.0.0.1:2222")
    assert log(repo) == ["A tiny greeter"]
    assert again.claude.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:2222"


def test_every_prompt_scripts_a_commit_and_one_meets_a_rate_limit() -> None:
    scripts = [parse_script(p.prompt) for p in DEMO_PROMPTS]
    for turns in scripts:
        assert any("git commit" in (t.run or "") for t in turns)
    failures = [t.fail for turns in scripts for t in turns if t.fail is not None]
    assert [(f.status, f.times) for f in failures] == [(429, 1)]
    assert len({p.tag for p in DEMO_PROMPTS}) == len(DEMO_PROMPTS)


@pytest.mark.parametrize("planted", ["file", "link"])
async def test_a_demo_config_of_the_user_is_never_touched(tmp_path: Path, planted: str) -> None:
    home = Home(tmp_path / "home")
    home.configs.mkdir(parents=True)
    mine = tmp_path / "mine.yml"
    mine.write_text("name: demo\n")
    if planted == "file":
        home.config_file(DEMO_CONFIG).write_text("name: demo\n")
    else:
        home.config_file(DEMO_CONFIG).symlink_to(mine)
    before = home.config_file(DEMO_CONFIG).read_text()
    with pytest.raises(UsageError, match="exists that scad demo did not write"):
        await prepare_demo(home, "http://127.0.0.1:1")
    record = _run(home, "demo-x-01-Nov27-1000", "demo")
    with pytest.raises(UsageError, match=r"^the config demo is not the demo's .*nothing removed"):
        await remove_demo(FakeEngine(), home)
    assert home.config_file(DEMO_CONFIG).read_text() == before
    assert RunPaths(home, record.run_id).root.is_dir()


async def test_cleanup_removes_the_demo_and_nothing_else(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    await prepare_demo(home, "http://127.0.0.1:1")
    demo_run = _run(home, "demo-greeter-shout-Nov27-1000", "demo")
    other_run = _run(home, "proj-x-Nov27-1000", "proj")
    _batch(home, "demo-greeter-Nov27-1000", "demo")
    _batch(home, "proj-b-Nov27-1000", "proj")
    demo, theirs = (image_repository("demo", label) for label in (home_label(home), "/other"))
    engine = FakeEngine(
        images=[
            ImageInfo(id="sha256:d", tags=[f"{demo}:abc", f"{demo}:latest"], labels={}, created="t"),
            # Another home's demo image of the same content: its tags stay.
            ImageInfo(id="sha256:e", tags=[f"{demo}:old", f"{theirs}:old"], labels={}, created="t"),
            ImageInfo(id="sha256:f", tags=[f"{theirs}:abc"], labels={}, created="t"),
            ImageInfo(id="sha256:p", tags=["scad-proj:latest"], labels={}, created="t"),
        ]
    )  # fmt: skip
    demo_container = await engine.create_container(_spec(demo_run))
    other_container = await engine.create_container(_spec(other_run))

    removed = await remove_demo(engine, home)
    assert removed.runs == [demo_run.run_id] and removed.config
    assert removed.batches == ["demo-greeter-Nov27-1000"]
    assert sorted(removed.images) == [f"{demo}:abc", f"{demo}:latest", f"{demo}:old"]
    assert set(engine.made) == {other_container}
    assert sorted(engine.removed) == sorted([demo_container, *removed.images])
    assert home.run_ids() == [other_run.run_id]
    assert sorted(p.name for p in (home.root / "batches").iterdir()) == ["proj-b-Nov27-1000"]
    assert not home.config_file(DEMO_CONFIG).exists() and not demo_repo(home).exists()


def _run(home: Home, run_id: str, config: str) -> RunRecord:
    RunPaths(home, run_id).root.mkdir(parents=True)
    record = RunRecord(run_id=run_id, config=config, tag="t", mode="headless", image="i",
                       branch=f"scad-{run_id}", created="2026-11-27T10:00:00.000Z", repos={})  # fmt: skip
    save_run(home, record)
    return record


def _batch(home: Home, batch_id: str, config: str) -> None:
    paths = BatchPaths(home, batch_id)
    paths.root.mkdir(parents=True)
    save_manifest(paths, BatchManifest(
        batch_id=batch_id, config=config, tag="t", created="2026-11-27T10:00:00.000Z",
        image="i", source="s", options=BatchOptions(), items=[],
    ))  # fmt: skip


def _spec(record: RunRecord) -> ContainerSpec:
    return ContainerSpec(
        image="i", name=f"scad-{record.run_id}", labels={"scad.run": record.run_id}
    )
