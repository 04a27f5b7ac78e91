"""`review`: a batch's runs worst first with their checks and diffstat; one run's diff."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from scad.batch.store import BatchPaths, append_batch_event, save_manifest
from scad.code.clones import create_clone
from scad.errors import NotFound
from scad.home import Home
from scad.review import ReviewRow, needs_human_first, review_batch, review_run
from scad.review.runlog import MAX_MESSAGE_CHARS, CheckResults
from scad.runs.records import RunPaths, RunRecord, save_run
from tests.fakes import batch_event
from tests.unit.test_batches import manifest
from tests.unit.test_codefetch import commit
from tests.unit.test_summaries import Log, headless, result

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None
BATCH = "p-b-Nov27-1000"


def row(outcome: str | None, *, tag: str, ahead: int = 0, **fields: object) -> ReviewRow:
    return ReviewRow(tag=tag, outcome=outcome, ahead=ahead, files_changed=ahead, **fields)  # type: ignore[arg-type]


def test_the_ones_needing_a_person_come_first() -> None:
    rows = [
        row("succeeded", tag="quiet"),
        row("succeeded", tag="worked", ahead=2),
        row("cancelled", tag="cancelled"),
        row("hung", tag="hung"),
        row("budget", tag="budget"),
        row("succeeded", tag="pinned", ahead=1, changed_pinned=True),
        row("failed", tag="failed"),
        row("succeeded", tag="unreadable", ahead=0, problem="code: cannot be read safely"),
        row("queued", tag="queued"),
        row("checks-failed", tag="checks-failed", ahead=1),
        row("succeeded", tag="judged", ahead=1, checks=CheckResults(failed=["tests"])),
        row("running", tag="running"),
        row("a-later-outcome", tag="later"),
        row(None, tag="interactive"),
        row("succeeded", tag="worked-too", ahead=1),
    ]
    assert [r.tag for r in needs_human_first(rows)] == [
        "pinned", "checks-failed", "judged", "failed", "hung", "budget", "unreadable",
        "later", "cancelled", "running", "queued", "interactive", "worked", "worked-too",
        "quiet",
    ]  # fmt: skip


async def agent_run(home: Home, repo: Path, run_id: str, item: int, files: int) -> RunRecord:
    """A batch's run whose agent committed ``files`` files, one commit each."""
    paths = RunPaths(home, run_id)
    paths.worktrees.mkdir(parents=True)
    record = RunRecord(
        run_id=run_id, config="p", tag=f"b-{item:02d}", mode="headless", image="i",
        branch=f"scad-{run_id}", created="2026-11-27T10:00:00.000Z", repos={"code": str(repo)},
        batch_id=BATCH, item=item,
    )  # fmt: skip
    await create_clone(repo, paths.clone("code"), record.branch, owner=AGENT)
    save_run(home, record)
    for n in range(files):
        commit(paths.clone("code"), f"f{n}.txt", "one\ntwo\n")
    return record


def a_batch(home: Home, items: int) -> BatchPaths:
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    save_manifest(paths, msgspec.structs.replace(manifest(items), batch_id=BATCH))
    return paths


def ended(
    paths: BatchPaths, item: int, run_id: str, status: str, detail: str | None = None
) -> None:
    append_batch_event(paths, batch_event("started", item=item, run_id=run_id, attempt=1))
    append_batch_event(
        paths,
        batch_event(
            "attempt", item=item, run_id=run_id, attempt=1, status=status, final=True,
            detail=detail,
        ),
    )  # fmt: skip


async def test_a_batch_lists_each_final_run_worst_first_with_checks_and_diffstat(
    tmp_path: Path, repo: Path
) -> None:
    home = Home(tmp_path / "home")
    paths = a_batch(home, 4)
    ids = [f"p-b-{n:02d}-Nov27-1000" for n in range(1, 4)]
    for n, (run_id, files) in enumerate(zip(ids, (0, 2, 1), strict=True), 1):
        await agent_run(home, repo, run_id, n, files)
        log = headless(Log(RunPaths(home, run_id)), cost=0.5 * n, duration_ms=1000 * n)
        if n == 3:
            log.scad("checked", cid=None, name="tests", exit_code=1, output="1 failed")
            log.scad("checked", cid=None, name="lint", exit_code=0, pinned=["tests/"])
    ended(paths, 1, ids[0], "succeeded")
    ended(paths, 2, ids[1], "succeeded")
    ended(paths, 3, ids[2], "checks-failed", detail="check tests failed")

    review = await review_batch(home, BATCH)
    assert (review.batch_id, review.config, review.running) == (BATCH, "p", False)
    shown = [
        (r.item, r.run_id, r.outcome, r.checks.failed, r.checks.passed, r.changed_pinned, r.ahead,
         r.files_changed, r.insertions, r.problem)
        for r in review.rows
    ]  # fmt: skip
    assert shown == [
        (3, ids[2], "checks-failed", ["tests"], ["lint"], True, 1, 1, 2, None),
        (4, None, "queued", [], [], False, 0, 0, 0, None),
        (2, ids[1], "succeeded", [], [], False, 2, 2, 4, None),
        (1, ids[0], "succeeded", [], [], False, 0, 0, 0, None),
    ]
    by_item = {r.item: r for r in review.rows}
    assert by_item[3].detail == "check tests failed"
    assert by_item[2].cost_usd == 1.0 and by_item[2].duration_ms is not None


async def test_a_batch_with_no_runs_yet_lists_its_prompts_queued(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    a_batch(home, 2)
    review = await review_batch(home, BATCH)
    assert [(r.item, r.outcome, r.run_id, r.problem) for r in review.rows] == [
        (1, "queued", None, None),
        (2, "queued", None, None),
    ]


async def test_an_unknown_batch_or_run_is_not_found(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    with pytest.raises(NotFound):
        await review_batch(home, "nope")
    with pytest.raises(NotFound):
        await review_run(home, "nope")


async def test_a_batch_run_that_gc_collected_says_so(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    paths = a_batch(home, 1)
    ended(paths, 1, "p-b-01-Nov27-1000", "succeeded")
    (only,) = (await review_batch(home, BATCH)).rows
    assert only.problem is not None and "p-b-01-Nov27-1000" in only.problem


async def test_a_run_shows_its_diff_checks_of_its_last_life_and_last_message(
    tmp_path: Path, repo: Path
) -> None:
    home = Home(tmp_path / "home")
    record = await agent_run(home, repo, "p-b-01-Nov27-1000", 1, 1)
    log = Log(RunPaths(home, record.run_id))
    headless(log, result="first try")
    log.scad("checked", cid=None, name="tests", exit_code=1, output="an older failure")
    headless(log, result="all \x1b[2J done")  # a second life: the older check is of other commits
    log.scad("checked", cid=None, name="tests", exit_code=0, duration_ms=1200)

    review = await review_run(home, record.run_id)
    (only,) = review.rows
    assert (only.outcome, only.ahead, only.files_changed, only.checks.passed) == (
        "succeeded", 1, 1, ["tests"],
    )  # fmt: skip
    assert [c.duration_ms for c in review.checked] == [1200]
    assert review.last_message == "all \x1b[2J done"  # escaped where it is shown
    (repo_diff,) = review.repos
    assert repo_diff.diff is not None and "+++ b/f0.txt" in repo_diff.diff
    assert only.cost_usd == 0.5  # two conversations' results, as session status sums them


async def test_a_long_last_message_is_cut_and_says_so(tmp_path: Path, repo: Path) -> None:
    home = Home(tmp_path / "home")
    record = await agent_run(home, repo, "p-b-01-Nov27-1000", 1, 0)
    Log(RunPaths(home, record.run_id)).claude(result(result="x" * (MAX_MESSAGE_CHARS + 10)))
    review = await review_run(home, record.run_id)
    assert review.last_message is not None
    assert review.last_message.startswith("x" * MAX_MESSAGE_CHARS + "\n[... cut")
    assert len(review.last_message) < MAX_MESSAGE_CHARS + 100


async def test_a_run_with_no_clone_yet_is_reviewed_with_its_problem(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="i",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z",
        repos={"code": str(tmp_path / "repo")},
    )  # fmt: skip
    RunPaths(home, record.run_id).root.mkdir(parents=True)
    save_run(home, record)
    review = await review_run(home, record.run_id)
    assert review.rows[0].outcome is None and review.last_message is None
    assert review.rows[0].problem == "code: the run has no clone of it"


def test_items_of_one_rank_keep_their_order() -> None:
    rows = [row("failed", tag=f"t{n}", item=n) for n in (3, 1, 2)]
    assert [r.item for r in needs_human_first(rows)] == [3, 1, 2]
