"""`scad gc` against the real engine: the dry run lists exactly what the test left
behind, and --force removes only that."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from scad.engine import open_engine
from scad.gc import GcPlan, apply_gc, plan_gc
from scad.home import Home

from .sessions_support import Project, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

TWO_HOURS_AGO = time.time() - 7200
COMMIT_PROMPT = "RUN: echo work > work.txt && git add work.txt && git commit -qm work\nSAY: ok"


async def build_labelled(tag: str, config: str, note: str) -> str:
    """A small image labelled as a scad config's (what `scad build` leaves)."""
    dockerfile = f"FROM python:3.11-slim\nLABEL scad.config={config} scad.note={note}\n"
    async with await anyio.open_process(["docker", "build", "-q", "-t", tag, "-"]) as process:
        assert process.stdin is not None and process.stdout is not None
        await process.stdin.send(dockerfile.encode())
        await process.stdin.aclose()
        image_id = (await process.stdout.receive()).decode().strip()
        assert await process.wait() == 0
    return image_id


def age(path: Path) -> None:
    for folder, _, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(folder, name), (TWO_HOURS_AGO, TWO_HOURS_AGO))
    os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))


def by_kind(items: list[dict[str, object]]) -> dict[str, set[object]]:
    kinds: dict[str, set[object]] = {}
    for item in items:
        kinds.setdefault(str(item["kind"]), set()).add(item["name"])
    return kinds


async def test_gc_lists_exactly_the_leftovers_and_force_removes_only_them(
    project: Project,
) -> None:
    # A run with clones and unfetched work, and one cleaned long ago.
    kept = await project.start("--tag", "kept", "--headless", "--prompt", COMMIT_PROMPT)
    cleaned = await project.start("--tag", "cleaned", "--headless", "--prompt", "SAY: hi")
    orphaned = await project.start("--tag", "orphan", "--no-attach")
    for run_id in (kept, cleaned):
        await wait_for_exit(run_id)
    await project.scad("session", "clean", cleaned)
    # A container whose run directory went away (removed by hand, once nothing
    # writes there: Claude in the session keeps writing its state).
    await run("docker", "stop", "-t", "1", f"scad-{orphaned}")
    shutil.rmtree(project.run_dir(orphaned))
    # A temporary file a killed process left in the kept run, an hour and more ago.
    stale = project.run_dir(kept) / "run.tmp"
    stale.write_text("{}")
    os.utime(stale, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    fresh = project.run_dir(kept) / ".scad-tmp-fresh"
    fresh.write_text("being written")
    # A batch whose only run is cleaned, touched long ago.
    batch = project.home / "batches" / "scadtest-old-Nov27-1000"
    batch.mkdir(parents=True)
    (batch / "manifest.json").write_text(json.dumps({
        "batch_id": batch.name, "config": "scadtest", "tag": "old",
        "created": "2026-11-27T10:00:00.000Z", "image": "i", "source": "s",
        "options": {}, "items": [{"index": 1, "tag": "old-01", "prompt": "p"}],
    }))  # fmt: skip
    (batch / "events.jsonl").write_text(json.dumps({
        "ts": "2026-11-27T10:00:01.000Z", "event": "attempt", "item": 1, "run_id": cleaned,
        "attempt": 1, "status": "succeeded", "final": True,
    }) + "\n")  # fmt: skip
    age(batch)
    # Two builds of another config of this home: the older one, unused, goes; the
    # newest stays.
    (project.home / "configs" / "gctest.yml").write_text("name: gctest\n")
    older = await build_labelled("scad-gctest:older", "gctest", "1")
    await anyio.sleep(1.1)  # the engine lists creation times in whole seconds
    newer = await build_labelled("scad-gctest:newer", "gctest", "2")
    try:
        dry = json.loads((await project.scad("gc", "--json")).stdout)
        mine = by_kind([i for i in dry["items"] if i["kind"] != "image"])
        assert mine == {
            "container": {f"scad-{orphaned}"},
            "run": {cleaned},
            "batch": {batch.name},
            "temp": {f"runs/{kept}/run.tmp"},
        }
        tags = [t for i in dry["items"] if i["kind"] == "image" for t in i["tags"]]
        assert "scad-gctest:older" in tags and "scad-gctest:newer" not in tags
        assert dry["results"] is None  # a dry run removes nothing
        assert project.run_dir(cleaned).is_dir() and batch.is_dir() and stale.exists()

        forced = await project.scad("gc", "--force", "--json")
        results = json.loads(forced.stdout)["results"]
        assert {r["outcome"] for r in results} == {"removed"}
        assert not project.run_dir(cleaned).exists() and not batch.exists() and not stale.exists()
        gone = await run("docker", "inspect", f"scad-{orphaned}", check=False)
        assert gone.returncode != 0
        assert (await run("docker", "image", "inspect", older, check=False)).returncode != 0
        # What holds work, or is in use, or is being written, stays.
        assert project.clone(kept).is_dir() and fresh.exists()
        assert (await run("docker", "inspect", f"scad-{kept}", check=False)).returncode == 0
        assert (await run("docker", "image", "inspect", newer, check=False)).returncode == 0
        again = json.loads((await project.scad("gc", "--json")).stdout)
        assert [i for i in again["items"] if i["kind"] != "image"] == []
    finally:
        await run("docker", "rm", "-f", f"scad-{orphaned}", check=False)
        await run("docker", "rmi", "-f", older, newer, check=False)


async def test_a_killed_doctors_container_is_left_while_young_and_collected_when_old(
    project: Project,
) -> None:
    name = f"scad-doctor-scadtest-{os.getpid() & 0xFFFFFFFF:08x}"  # as a doctor names them
    await run("docker", "create", "--name", name, "--label", "scad.doctor=round trip",
              "python:3.11-slim", "true")  # fmt: skip
    try:
        dry = json.loads((await project.scad("gc", "--json")).stdout)
        assert {"kind": "container", "name": name,
                "reason": "made by scad doctor under an hour ago: it may be in use"} in dry["kept"]  # fmt: skip
        assert name not in {item["name"] for item in dry["items"]}
        # Two hours on, no doctor can be using it.
        later = datetime.now(UTC) + timedelta(hours=2)
        async with open_engine() as engine:
            plan = await plan_gc(engine, Home(project.home), now=later)
            doomed = [item for item in plan.items if item.kind == "container"]
            assert [item.name for item in doomed] == [name]
            results = await apply_gc(engine, Home(project.home), GcPlan(items=doomed, kept=[]))
        assert [(r.name, r.outcome) for r in results] == [(name, "removed")]
        assert (await run("docker", "inspect", name, check=False)).returncode != 0
    finally:
        await run("docker", "rm", "-f", name, check=False)
