"""`scad review BATCH|RUN`: the batch's table at 80 columns, a run's text, ids, JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scad.cli._json import SCHEMA
from scad.cli.review import batch_table, run_text
from scad.code.clones import Commit
from scad.code.diff import RepoDiff
from scad.home import Home
from scad.review import BatchReview, CheckResults, ReviewRow, RunReview
from scad.runs.envelopes import Checked
from scad.runs.records import RunPaths
from tests.conftest import Cli
from tests.unit.test_review import BATCH, a_batch, agent_run, ended
from tests.unit.test_summaries import Log, headless

pytestmark = pytest.mark.anyio

LONG = "calc-day1-{:02d}-Nov27-1030"


def test_the_batch_table_fits_80_columns_and_cuts_no_number() -> None:
    rows = [
        ReviewRow(
            item=n,
            tag="t",
            run_id=LONG.format(n),
            outcome="checks-failed",
            checks=CheckResults(failed=["tests", "lint", "types"], passed=["docs"]),
            changed_pinned=True,
            ahead=123,
            files_changed=1234,
            insertions=12345,
            deletions=6789,
            cost_usd=12.3456,
            duration_ms=3_725_000,
            detail="x" * 200,
        )
        for n in range(1, 4)
    ]
    review = BatchReview(batch_id=BATCH, config="calc", running=True, rows=rows)
    lines = batch_table(review, width=80, known=[r.run_id or "" for r in rows]).splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert lines[0] == f"batch {BATCH} (calc): 3 prompts, still running"
    for line in lines[2:]:
        assert " 123 " in line and "+12345 -6789" in line and "$12.3456" in line
        assert "1h02m" in line and "\u2026" in line  # the id, shortened to what names it
    wide = batch_table(review, wide=True).splitlines()
    assert LONG.format(1) in wide[2] and "1234" in wide[2] and "x" * 200 in wide[2]


def test_a_run_screen_escapes_what_the_agent_wrote() -> None:
    evil = "\x1b]0;owned\x07\u202eexe.jpg\tdone"
    review = RunReview(
        rows=[ReviewRow(tag="t", run_id="p-t-Nov27-1000", outcome="succeeded", ahead=1,
                        files_changed=1, insertions=1)],
        repos=[RepoDiff(key="code", ahead=1, commits=[Commit("a" * 40, "subject")],
                        diff=f"+++ b/x\n+{evil}\n", diff_cut=True)],
        checked=[Checked(name="tests", exit_code=1, output=f"boom {evil}")],
        last_message=f"I did it {evil}",
    )  # fmt: skip
    text = run_text(review)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    shown = r"\\x1b\]0;owned\\x07\\u202eexe\.jpg +done"  # a tab as spaces
    assert re.search(rf"\n  I did it {shown}\n", text) and re.search(rf"\n\+{shown}\n", text)
    assert "check tests failed; its last output:\n  boom \\x1b" in text
    assert "  aaaaaaaaaaaa subject" in text
    assert text.endswith("[the diff goes on: longer than scad shows]")


def test_no_field_of_a_run_screen_reaches_the_terminal_unescaped() -> None:
    """Whatever a field holds (a git error quoting the agent's names, a subject or a
    check's name not escaped where it was read), the screen holds only lines of
    characters a terminal shows as themselves."""
    evil = "\x1b[2J\r\u202e\u200b\x85\u2028x"
    review = RunReview(
        rows=[ReviewRow(tag=evil, run_id="p-t-Nov27-1000", outcome="failed", detail=evil,
                        checks=CheckResults(failed=[evil], passed=[evil], pinned=[evil]),
                        changed_pinned=True, problem=evil)],
        repos=[RepoDiff(key="code", problem=f"git log failed: {evil}", ahead=2,
                        commits=[Commit("a" * 40, evil)], diff=evil)],
        checked=[Checked(name=evil, exit_code=1, output=evil)],
        last_message=evil,
    )  # fmt: skip
    for line in run_text(review).split("\n"):
        assert line.isprintable(), repr(line)


async def test_review_names_a_batch_or_a_run_by_any_unique_beginning(
    run_cli: Cli, scad_home: Path, repo: Path
) -> None:
    home = Home(scad_home)
    paths = a_batch(home, 1)
    run_id = "p-b-01-Nov27-1000"
    await agent_run(home, repo, run_id, 1, 2)
    headless(Log(RunPaths(home, run_id)), result="two files")
    ended(paths, 1, run_id, "succeeded")

    batch = await run_cli("review", "p-b-Nov")
    assert batch.exit_code == 0, batch.stderr
    assert batch.stdout.splitlines()[2].split()[:5] == [run_id, "succeeded", "-", "2", "+4"]
    run = await run_cli("review", "p-b-01")
    assert run.exit_code == 0, run.stderr
    assert "what the agent said last:\n  two files\n" in run.stdout
    assert "+++ b/f1.txt" in run.stdout

    document = json.loads((await run_cli("review", BATCH, "--json")).stdout)
    assert document["schema"] == SCHEMA and document["rows"][0]["run_id"] == run_id
    picked = json.loads((await run_cli("review", run_id, "--json", "run_id,ahead")).stdout)
    assert picked == {"schema": SCHEMA, "rows": [{"run_id": run_id, "ahead": 2}]}
    full = json.loads((await run_cli("review", run_id, "--json")).stdout)
    assert full["last_message"] == "two files" and full["repos"][0]["ahead"] == 2


@pytest.mark.parametrize(
    ("named", "said"),
    [
        pytest.param("nope", 'no run "nope"', id="unknown"),
        pytest.param("p-", '"p-" begins both batch and run ids', id="ambiguous"),
    ],
)
async def test_an_unknown_or_ambiguous_id_is_one_line(
    run_cli: Cli, scad_home: Path, repo: Path, named: str, said: str
) -> None:
    home = Home(scad_home)
    a_batch(home, 1)
    await agent_run(home, repo, "p-b-01-Nov27-1000", 1, 0)
    result = await run_cli("review", named)
    assert result.exit_code != 0 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert said in line
