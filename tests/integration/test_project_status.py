"""`scad project status` against real runs: its totals are the sum of the runs'
result events, and with --cost ccusage's count of the transcripts agrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .sessions_support import Project

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

#: A model ccusage has a price for: the offline model answers with the model asked for.
PRICED = "claude-sonnet-4-20250514"
PROMPTS = [
    {"prompt": "TOKENS: 2400 680\nRUN: echo a > a.txt && git add a.txt && git commit -qm a\nSAY: a",
     "tag": "one", "model": PRICED},
    {"prompt": "TOKENS: 1500 300\nSAY: nothing to do", "tag": "two", "model": PRICED},
    {"prompt": "TOKENS: 900 120\nRUN: true\nRUN: echo b > b.txt && git add b.txt"
               " && git commit -qm b && echo c > c.txt && git add c.txt && git commit -qm c\nSAY: b",
     "tag": "three", "model": PRICED},
]  # fmt: skip


def results(project: Project, run_id: str) -> list[dict[str, object]]:
    return [
        e["data"]
        for e in project.envelopes(run_id)
        if e["src"] == "claude" and e["data"].get("type") == "result"
    ]


async def test_totals_are_the_runs_results_and_ccusage_agrees(
    project: Project, ccusage_binary: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    await project.scad(
        "batch", "scadtest", "--tag", "cost", "--prompt-file", str(prompts), "--foreground",
        "--json", "--parallel", "3",
    )  # fmt: skip
    env = {"SCAD_CCUSAGE": str(ccusage_binary)}
    status = json.loads(
        (await project.scad("project", "status", "scadtest", "--cost", "--json", env=env)).stdout
    )
    rows, totals = status["rows"], status["totals"]
    assert status["cost_problem"] is None and len(rows) == 3

    events = {row["run_id"]: results(project, row["run_id"]) for row in rows}
    assert all(len(found) == 1 for found in events.values())
    every = [found[0] for found in events.values()]
    assert totals["cost_usd"] == pytest.approx(sum(r["total_cost_usd"] for r in every))
    assert totals["turns"] == sum(r["num_turns"] for r in every)
    assert totals["input_tokens"] == sum(r["usage"]["input_tokens"] for r in every)
    assert totals["output_tokens"] == sum(r["usage"]["output_tokens"] for r in every)
    assert totals["outcomes"] == {"succeeded": 3}
    assert sorted(row["ahead"] for row in rows) == [0, 1, 2]
    assert totals["ahead"] == 3

    for row in rows:
        scad_tokens = sum(
            row[k]
            for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
        )
        assert row["ccusage_tokens"] == scad_tokens > 0
        assert row["ccusage_cost_usd"] == pytest.approx(row["cost_usd"], rel=0.01)
    assert totals["ccusage_tokens"] == sum(r["ccusage_tokens"] for r in rows)

    # The table says the same; without ccusage, one line says why and the rest prints.
    table = await project.scad("project", "status", "scadtest", "--cost", "-o", "wide", env=env)
    header = " ".join(table.stdout.splitlines()[0].split())
    assert "CCUSAGE $ CCUSAGE TOKENS GATEWAY $ GATEWAY TOKENS" in header
    missing = await project.scad(
        "project", "status", "scadtest", "--cost", env={"SCAD_CCUSAGE": "/nonexistent/ccusage"}
    )
    assert missing.stderr.startswith("warning: no ccusage figures: ccusage cannot run: ")
    assert missing.stderr.count("\n") == 1
    assert missing.stdout.splitlines()[-1] == "3 runs: 3 succeeded"
