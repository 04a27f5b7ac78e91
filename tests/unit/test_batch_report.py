"""`scad batch report`: one self-contained, inert HTML file of a batch."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import msgspec
import pytest

from scad.batch.store import BatchItem, BatchPaths, append_batch_event, save_manifest
from scad.home import Home
from scad.reports.batchreport import batch_report_html, gather_batch_report
from scad.runs.records import RunPaths
from tests.conftest import Cli
from tests.fakes import batch_event
from tests.unit.test_batches import manifest
from tests.unit.test_review import BATCH, agent_run, ended
from tests.unit.test_summaries import Log, headless

pytestmark = pytest.mark.anyio

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


class _Tags(HTMLParser):
    """Every tag and attribute the document holds, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += attrs


def parsed(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def a_batch(home: Home, items: int, *, prompt: str = "p") -> BatchPaths:
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    made = manifest(items, budget_usd=5.0)
    made = msgspec.structs.replace(
        made,
        batch_id=BATCH,
        items=[BatchItem(index=i.index, tag=i.tag, prompt=prompt) for i in made.items],
    )
    save_manifest(paths, made)
    return paths


async def a_hostile_batch(home: Home, repo: Path) -> None:
    paths = a_batch(home, 2, prompt=HOSTILE)
    run_id = "p-b-01-Nov27-1000"
    await agent_run(home, repo, run_id, 1, 1)
    headless(Log(RunPaths(home, run_id)), result=f"done {HOSTILE}\nsecond line", cost=0.5)
    ended(paths, 1, run_id, "failed", detail=f"exit 1: {HOSTILE}")


def assert_inert_and_self_contained(html: str) -> None:
    tags = parsed(html)
    assert not tags.tags & {"script", "img", "iframe", "object", "embed", "link", "base"}
    for name, value in tags.attributes:
        assert not name.startswith("on"), name
        assert name not in ("src", "srcset", "style", "action", "formaction"), name
        if name in ("href", "xlink:href"):
            assert (value or "").startswith("#"), value
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", html)


async def test_the_report_is_inert_whatever_the_agent_wrote(tmp_path: Path, repo: Path) -> None:
    home = Home(tmp_path / "home")
    await a_hostile_batch(home, repo)
    html = batch_report_html(await gather_batch_report(home, BATCH))
    assert_inert_and_self_contained(html)
    assert "&lt;script&gt;" in html  # shown, as text: in the prompt, detail and message
    assert "<svg" in html and "budget $5.00" in html
    assert 'href="#item-1"' in html and 'id="item-1"' in html
    assert "done &lt;script&gt;" in html and "second line" in html  # the last message


async def test_a_report_of_200_items_renders(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    paths = a_batch(home, 200)
    for item in range(1, 201):  # runs gc collected: their rows say so
        ended(paths, item, f"p-b-{item:03d}-Nov27-1000", "succeeded" if item % 3 else "crashed")
    append_batch_event(paths, batch_event("concurrency", limit=2, cause="rate-limited", status=429))
    html = batch_report_html(await gather_batch_report(home, BATCH))
    assert_inert_and_self_contained(html)
    assert html.count('<section class="run"') == 200
    assert "API 429: 2" in html


async def test_report_writes_a_file_refuses_to_replace_it_and_writes_to_stdout(
    run_cli: Cli, scad_home: Path, repo: Path, tmp_path: Path
) -> None:
    home = Home(scad_home)
    await a_hostile_batch(home, repo)
    target = tmp_path / "report.html"
    written = await run_cli("batch", "report", "p-b-Nov", "-o", str(target))
    assert written.exit_code == 0, written.stderr
    first = target.read_text()
    assert first.startswith("<!DOCTYPE html>") and BATCH in first

    target.write_text("mine")
    again = await run_cli("batch", "report", BATCH, "-o", str(target))
    assert again.exit_code != 0 and again.stderr.count("\n") == 1
    assert "exists" in again.stderr and target.read_text() == "mine"
    forced = await run_cli("batch", "report", BATCH, "-o", str(target), "--force")
    assert forced.exit_code == 0 and target.read_text().startswith("<!DOCTYPE html>")

    out = await run_cli("batch", "report", BATCH, "-o", "-")
    assert out.exit_code == 0 and out.stdout.startswith("<!DOCTYPE html>")


async def test_an_unknown_batch_is_one_line(run_cli: Cli, scad_home: Path, tmp_path: Path) -> None:
    result = await run_cli("batch", "report", "nope", "-o", str(tmp_path / "r.html"))
    assert result.exit_code != 0 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert 'no batch "nope"' in line
    assert not (tmp_path / "r.html").exists()
