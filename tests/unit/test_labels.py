"""A run's container is known by its run label and the home that made it: another
home's run of the same id is never taken, and one an older scad made still is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scad.engine import labels
from scad.engine._types import ContainerSpec
from scad.home import Home
from scad.runs.containers import adopt_container, remove_containers
from scad.runs.records import RunPaths, RunRecord, load_run, save_run
from scad.sessions.status import run_statuses
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

RUN_ID = "p-twin-Nov27-1000"


def a_run(home: Home) -> RunRecord:
    """A run whose container id never reached run.json (scad killed in between)."""
    record = RunRecord(
        run_id=RUN_ID, config="p", tag="twin", mode="headless", image="scad-p:x",
        branch=f"scad-{RUN_ID}", created="2026-11-27T10:00:00.000Z", repos={},
    )  # fmt: skip
    RunPaths(home, RUN_ID).root.mkdir(parents=True)
    save_run(home, record)
    return record


async def a_container(engine: FakeEngine, made_by: Home | None) -> str:
    tags = {labels.RUN: RUN_ID, labels.CONFIG: "p"}
    if made_by is not None:
        tags[labels.HOME] = labels.home_label(made_by)
    container_id = await engine.create_container(
        ContainerSpec(image="scad-p:x", name=f"scad-{RUN_ID}", labels=tags)
    )
    await engine.start(container_id)
    return container_id


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Home, Home]:
    return Home(tmp_path / "mine"), Home(tmp_path / "theirs")


async def test_another_homes_container_is_not_adopted_shown_or_removed(
    homes: tuple[Home, Home],
) -> None:
    mine, theirs = homes
    engine = FakeEngine()
    record = a_run(mine)
    their_container = await a_container(engine, made_by=theirs)

    [status] = await run_statuses(engine, mine, [record])
    assert status.state == "missing"
    await adopt_container(engine, mine, record)
    assert record.container_id is None and load_run(mine, RUN_ID).container_id is None
    await remove_containers(engine, mine, record)
    assert engine.removed == [] and their_container in engine.made


@pytest.mark.parametrize("made_by_mine", [True, False], ids=["named-mine", "named-none"])
async def test_a_container_of_this_home_or_of_an_older_scad_is_taken(
    homes: tuple[Home, Home], made_by_mine: bool
) -> None:
    mine, _ = homes
    engine = FakeEngine()
    record = a_run(mine)
    container = await a_container(engine, made_by=mine if made_by_mine else None)

    [status] = await run_statuses(engine, mine, [record])
    assert status.state == "running"
    assert load_run(mine, RUN_ID).container_id == container  # adopted by the status look
    await remove_containers(engine, mine, a_run_without_id(mine))
    assert engine.removed == [container]


def a_run_without_id(home: Home) -> RunRecord:
    record = load_run(home, RUN_ID)
    record.container_id = None
    return record


def test_two_spellings_of_one_home_agree(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    here = labels.home_label(Home(tmp_path / "real"))
    assert labels.home_label(Home(tmp_path / "link")) == here
    assert labels.made_by({labels.HOME: here}, here) and labels.made_by({}, here)
    assert not labels.made_by({labels.HOME: str(tmp_path / "elsewhere")}, here)


def test_the_labels_are_named_as_documented() -> None:
    """Other tools filter by them (`docker ps --filter label=scad.run`): their names
    are an interface, not an implementation detail."""
    names = (labels.RUN, labels.HOME, labels.CONFIG, labels.MODE, labels.HASH, labels.DOCTOR)
    assert names == (
        "scad.run",
        "scad.home",
        "scad.config",
        "scad.mode",
        "scad.hash",
        "scad.doctor",
    )
