"""`scad gc`: the dry run's table, --json, and --force's report and exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scad.cli._render import table
from scad.cli.gc import _ITEM_COLUMNS, shown_name
from scad.code.borrowed import borrowed_store
from scad.engine.labels import home_label
from scad.errors import EngineError
from scad.home import Home
from scad.names import image_repository
from tests.conftest import Cli, make_repo, opening
from tests.fakes import FakeEngine
from tests.unit import test_gc_borrowed as borrowing
from tests.unit.test_borrowed import has_object
from tests.unit.test_gc import (
    image,
    make_run,
    register_config,
    run_container,
)

pytestmark = pytest.mark.anyio


class Refusing(FakeEngine):
    """Refuses to remove the image named ``refused``."""

    refused = ""

    async def remove_image(self, reference: str) -> None:
        if reference == self.refused:
            raise EngineError(f"remove image {reference}: conflict")
        await super().remove_image(reference)


@pytest.fixture
def engine(run_cli: Cli, scad_home: Path) -> Refusing:
    fake = Refusing(
        images=[
            image("aaa", "scad-proj:aaa", created=1),
            image("bbb", "scad-proj:bbb", "scad-proj:latest", created=2),
        ]
    )
    register_config(Home(scad_home))
    run_cli.use_engine(scad_home, opening(fake))
    return fake


def run_size(root: Path) -> int:
    return sum(os.lstat(root / name).st_size for name in ("run.json", "events.jsonl"))


async def test_the_dry_run_lists_by_kind_with_a_total(
    run_cli: Cli, scad_home: Path, engine: Refusing
) -> None:
    container = await run_container(engine, "p-gone", home=Home(scad_home), running=True)
    make_run(Home(scad_home), "p-cleaned", cleaned=True)
    make_run(Home(scad_home), "p-fresh", fresh=True)
    size = run_size(scad_home / "runs" / "p-cleaned")
    cleaned = json.loads((scad_home / "runs" / "p-cleaned" / "run.json").read_text())["cleaned"]

    result = await run_cli("gc")

    assert result.exit_code == 0
    shown = f"{size} B"
    width = max(len("SIZE"), len(shown))
    # What would go comes first; what stays after.
    assert result.stdout == (
        f"KIND       NAME           {'SIZE'.ljust(width)}  WHY\n"
        f"container  scad-p-gone    {'-'.ljust(width)}  its run p-gone has no run directory; it is running: removing it stops it\n"
        f"run        p-cleaned      {shown.ljust(width)}  cleaned {cleaned}; its record and event log go\n"
        f"image      scad-proj:aaa  {'-'.ljust(width)}  an older image of config proj; no container uses it\n"
        f"total: 1 container, 1 run, 1 image; {shown}\n"
        "`scad gc --force` removes them\n"
        "\n"
        "kept:\n"
        "KIND   NAME                WHY\n"
        "run    p-fresh             touched less than an hour ago (it may be starting)\n"
        "image  scad-proj:bbb (+1)  the latest of config proj\n"
    )
    assert engine.removed == [] and container in engine.made
    assert (scad_home / "runs" / "p-cleaned").is_dir()


async def test_nothing_to_collect(run_cli: Cli, engine: Refusing) -> None:
    engine.image_list.clear()
    result = await run_cli("gc")
    assert (result.exit_code, result.stdout) == (0, "nothing to collect\n")


async def test_json_holds_the_plan_and_no_results_in_a_dry_run(
    run_cli: Cli, scad_home: Path, engine: Refusing
) -> None:
    make_run(Home(scad_home), "p-cleaned", cleaned=True)
    result = await run_cli("gc", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [(i["kind"], i["name"]) for i in data["items"]] == [
        ("run", "p-cleaned"),
        ("image", "scad-proj:aaa"),
    ]
    assert data["items"][1]["tags"] == ["scad-proj:aaa"]
    assert data["kept"] == [
        {
            "kind": "image",
            "name": "scad-proj:bbb (+1)",
            "reason": "the latest of config proj",
        }
    ]
    assert data["size_bytes"] == run_size(scad_home / "runs" / "p-cleaned")
    assert data["results"] is None


async def test_force_reports_each_item_and_fails_when_one_failed(
    run_cli: Cli, scad_home: Path, engine: Refusing
) -> None:
    container = await run_container(engine, "p-gone", home=Home(scad_home))
    make_run(Home(scad_home), "p-cleaned", cleaned=True)
    size = run_size(scad_home / "runs" / "p-cleaned")
    engine.refused = "scad-proj:aaa"

    result = await run_cli("gc", "--force")

    assert result.exit_code == 1
    assert result.stdout == (
        "KIND       NAME           OUTCOME  DETAIL\n"
        "container  scad-p-gone    removed\n"
        "run        p-cleaned      removed\n"
        "image      scad-proj:aaa  failed   remove image scad-proj:aaa: conflict\n"
        f"removed 1 container, 1 run; {size} B freed; 1 failed\n"
    )
    assert engine.removed == [container]
    assert not (scad_home / "runs" / "p-cleaned").exists()


async def test_force_with_json_exits_zero_when_all_went(
    run_cli: Cli, scad_home: Path, engine: Refusing
) -> None:
    make_run(Home(scad_home), "p-cleaned", cleaned=True)
    result = await run_cli("gc", "--force", "--json")
    assert result.exit_code == 0
    assert [(r["name"], r["outcome"]) for r in json.loads(result.stdout)["results"]] == [
        ("p-cleaned", "removed"),
        ("scad-proj:aaa", "removed"),
    ]
    assert engine.removed == ["scad-proj:aaa"]


async def test_what_other_homes_made_is_listed_only_when_asked(
    run_cli: Cli, scad_home: Path, engine: Refusing
) -> None:
    await run_container(engine, "p-theirs", home=Home(scad_home / "other"))
    # An image of this home that another home's build tagged too (same content).
    theirs = image_repository("proj", home_label(Home(scad_home / "other")))
    engine.image_list.append(image("ccc", "scad-proj:ccc", f"{theirs}:ccc", created=0))
    make_run(Home(scad_home), "p-cleaned", cleaned=True)
    shown = (await run_cli("gc")).stdout
    assert shown.startswith("KIND ") and "scad-p-theirs" not in shown
    assert "scad-proj:ccc" not in shown
    assert shown.endswith(
        "\n2 kept for other scad homes on this engine; `scad gc --other-homes` lists them\n"
    )
    asked = (await run_cli("gc", "--other-homes")).stdout
    assert "scad-p-theirs" in asked and "made by another scad home" in asked
    assert "scad-proj:ccc (+1)" in asked and f"also tagged {theirs}:ccc by another" in asked
    data = json.loads((await run_cli("gc", "--json")).stdout)
    assert [k["name"] for k in data["kept"] if k.get("home")] == [
        "scad-p-theirs",
        "scad-proj:ccc (+1)",
    ]


@pytest.fixture
def lending(scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Path]:
    """The home, and a host repo whose runs borrow its objects."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    return Home(scad_home), make_repo(tmp_path / "repo")


async def test_force_removes_a_store_no_run_borrows_from_with_what_the_host_dropped(
    run_cli: Cli, lending: tuple[Home, Path], engine: Refusing, tmp_path: Path
) -> None:
    home, repo = lending
    config = borrowing.config_of(repo, tmp_path)
    secret = borrowing.commit_secret(repo)
    fake = borrowing.engine()
    await borrowing.clean(fake, home, await borrowing.start(fake, home, config))
    borrowing.rewrite_out(repo)
    store = borrowed_store(home, repo)

    result = await run_cli("gc", "--force", "--json")

    assert result.exit_code == 0
    data = json.loads(result.stdout)
    [item] = [item for item in data["items"] if item["kind"] == "borrowed"]
    assert (item["name"], item["target"]) == (store.name, str(store))
    assert [(r["name"], r["outcome"]) for r in data["results"] if r["kind"] == "borrowed"] == [
        (store.name, "removed")
    ]
    await borrowing.start(fake, home, config)
    assert not has_object(store, secret)


async def test_the_dry_run_keeps_a_store_lent_to_a_run(
    run_cli: Cli, lending: tuple[Home, Path], engine: Refusing, tmp_path: Path
) -> None:
    home, repo = lending
    live = await borrowing.start(borrowing.engine(), home, borrowing.config_of(repo, tmp_path))
    store = borrowed_store(home, repo)

    result = await run_cli("gc")

    assert result.exit_code == 0
    lent = f"lent to 1 run ({live.run_id})"
    [row] = [line.split() for line in result.stdout.splitlines() if line.startswith("borrowed")]
    assert row[:2] == ["borrowed", shown_name("borrowed", store.name, wide=False)]
    assert " ".join(row[2:]) == lent
    wide = await run_cli("gc", "-o", "wide")
    assert f"borrowed  {store.name}  {lent}\n" in wide.stdout


@pytest.mark.parametrize("repo", ["r", "a-repo", "x" * 40])
def test_a_borrowed_store_row_fits_80_columns_and_tells_stores_apart(repo: str) -> None:
    names = [f"{repo}-{digest}.git" for digest in ("0123456789abcdef", "fedcba9876543210")]
    shown = [shown_name("borrowed", name, wide=False) for name in names]
    assert len(set(shown)) == 2 and all(s.startswith(f"{repo}-") for s in shown)
    rows = [("borrowed", name, "1023.9 MB", "no run's clones borrow from it") for name in shown]
    assert all(len(line) <= 80 for line in table(_ITEM_COLUMNS, rows, width=80).splitlines())
    assert [shown_name("borrowed", name, wide=True) for name in names] == names
    assert shown_name("run", names[0], wide=False) == names[0]
