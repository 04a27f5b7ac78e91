"""`scad review` end to end: a real batch whose runs commit, reviewed from their stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .sessions_support import Project
from .test_batch import batch_project, runs_of

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

__all__ = ["batch_project"]  # the fixture, used by name


@pytest.mark.timeout(600)
async def test_review_lists_a_batch_worst_first_and_shows_a_runs_diff(
    batch_project: Project, tmp_path: Path
) -> None:
    project = batch_project
    prompts = [
        "RUN: printf 'a\\nb\\n' > two.txt && git add two.txt && git commit -qm 'two lines'"
        "\nRUN: echo c >> two.txt && git commit -qam 'a third'\nSAY: wrote two.txt",
        "SAY: nothing to do",
        "FAIL: 403\nSAY: never",
    ]
    result = await project.scad(
        "batch", "scadtest", "--tag", "rev", *[arg for p in prompts for arg in ("-p", p)],
        "-j", "3", "--foreground", "--json", check=False,
    )  # fmt: skip
    batch_id = json.loads(result.stdout)["batch_id"]
    runs = runs_of(project, batch_id)

    listed = await project.scad("review", batch_id)
    lines = listed.stdout.splitlines()
    assert lines[0] == f"batch {batch_id} (scadtest): 3 prompts"
    cells = [line.split() for line in lines[2:]]
    assert [(c[0], c[1]) for c in cells] == [
        (runs[3], "failed"), (runs[1], "succeeded"), (runs[2], "succeeded"),
    ]  # fmt: skip
    assert cells[1][3:5] == ["2", "+3"] and cells[2][3:5] == ["0", "+0"]
    document = json.loads((await project.scad("review", batch_id, "--json")).stdout)
    assert [(r["item"], r["ahead"], r["files_changed"]) for r in document["rows"]] == [
        (3, 0, 0), (1, 2, 1), (2, 0, 0),
    ]  # fmt: skip

    shown = (await project.scad("review", runs[1])).stdout
    assert "what the agent said last:\n  wrote two.txt\n" in shown
    assert "+++ b/two.txt\n@@ -0,0 +1,3 @@\n+a\n+b\n+c\n" in shown
    assert "two lines" in shown and "a third" in shown
