"""A batch judged by its config's checks, end to end: real engine, real image, real
Claude Code, the offline model. A run succeeds only when its commits pass the
checks, run in containers of scad's own; one that fails them gets a fix attempt told
what failed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import project_config, session_settings
from .sessions_support import Project

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: The checks: one any commit passes, and the task's tests (pinned: the agent's
#: edits to them are set back before they run).
CHECKS = (
    "checks:\n"
    "  - {name: present, run: 'test -f calc.py'}\n"
    "  - {name: tests, run: 'python3 -m unittest discover -s tests', pin: [tests/]}\n"
)


def host_git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=h", "-c", "user.email=h@h", *args],
        check=True, capture_output=True,
    )  # fmt: skip


def set_the_task(project: Project) -> None:
    """A wrong ``add`` and the tests that say so, committed in the host repo; the
    config gets its checks."""
    repo = project.repo
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text(
        "import unittest\nimport calc\n\n\nclass T(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n"
    )
    (repo / "calc.py").write_text("def add(a, b):\n    return 0\n")
    host_git(repo, "add", "-A")
    host_git(repo, "commit", "-qm", "the task")
    config = project.home / "configs" / "scadtest.yml"
    config.write_text(
        project_config("scadtest", repo, session_settings(project.model.url) + CHECKS)
    )


def write_add(body: str, message: str) -> str:
    return (
        f"printf 'def add(a, b):\\n    return {body}\\n' > calc.py && git commit -qam '{message}'"
    )


#: Item 6 commits a wrong fix the first time; seeing its own first commit in its
#: clone, the right one on its fix attempt.
SECOND_TIME_RIGHT = (
    f"if git log --format=%s | grep -qx 'first try'; then {write_add('a + b', 'second try')}; "
    f"else {write_add('a * b', 'first try')}; fi"
)

PROMPTS = [
    f"RUN: {write_add('a + b', 'right')}\nSAY: fixed",  # 1: passes
    f"RUN: {write_add('b + a', 'right too')}\nSAY: fixed",  # 2: passes
    f"RUN: {write_add('a - b', 'wrong')}\nSAY: fixed",  # 3: fails, twice
    "RUN: echo notes > notes.txt && git add notes.txt && git commit -qm notes\nSAY: noted",  # 4
    # 5: makes the test runner in its own container pass whatever it runs, and shows it.
    "RUN: mkdir -p /tmp/fake && printf '#!/bin/sh\\nexit 0\\n' > /tmp/fake/python3 && "
    "chmod +x /tmp/fake/python3 && export PATH=/tmp/fake:$PATH && "
    "echo hacked > hacked.txt && git add hacked.txt && git commit -qm hacked && "
    "python3 -m unittest discover -s tests && echo OWN-CHECK-PASSED\nSAY: all green",
    f"RUN: {SECOND_TIME_RIGHT}\nSAY: fixed",  # 6: fails, then passes on its fix attempt
    "SAY: nothing to change",  # 7: commits nothing
    # 8: rewrites the tests it is judged by so that they pass.
    "RUN: printf 'import unittest\\n' > tests/test_calc.py && git commit -qam 'no tests'\n"
    "SAY: tests pass",
]


@pytest.mark.timeout(900)  # beyond its waits' own bounds
async def test_a_batch_of_eight_is_judged_by_its_checks(project: Project, tmp_path: Path) -> None:
    set_the_task(project)
    (tmp_path / "prompts.txt").write_text("\n---\n".join(PROMPTS) + "\n")
    result = await project.scad(
        "batch", "scadtest", "--tag", "chk", "-f", str(tmp_path / "prompts.txt"),
        "--parallel", "4", "--fix-attempts", "1", "--fetch", "--foreground", "--json",
        check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # not every run passed its checks
    view = json.loads(result.stdout)
    rows = {row["item"]: row for row in view["rows"]}
    assert {n: (r["outcome"], r["attempts"], r["fix_attempts"]) for n, r in rows.items()} == {
        1: ("succeeded", 1, 0),
        2: ("succeeded", 1, 0),
        3: ("checks-failed", 2, 1),
        4: ("checks-failed", 2, 1),
        5: ("checks-failed", 2, 1),
        6: ("succeeded", 2, 1),
        7: ("succeeded", 1, 0),
        8: ("checks-failed", 2, 1),
    }
    for n in (3, 4, 5, 8):
        assert rows[n]["failing_checks"] == ["tests"]
        assert rows[n]["detail"].startswith(
            "checks failed: tests (exit 1); no fix attempts left (1 made)\n"
        )
    assert rows[3]["detail"].endswith("FAILED (failures=1)")
    assert rows[7]["detail"] == "committed nothing: no checks ran"

    batch_id = view["batch_id"]
    log = [
        json.loads(line)
        for line in (project.home / "batches" / batch_id / "events.jsonl").read_text().splitlines()
    ]
    checked = [
        (e["item"], e["attempt"], e.get("passed", [])) for e in log if e["event"] == "checked"
    ]
    assert sorted(checked) == [
        (1, 1, ["present", "tests"]), (2, 1, ["present", "tests"]),
        (3, 1, ["present"]), (3, 2, ["present"]), (4, 1, ["present"]), (4, 2, ["present"]),
        (5, 1, ["present"]), (5, 2, ["present"]),
        (6, 1, ["present"]), (6, 2, ["present", "tests"]),
        (8, 1, ["present"]), (8, 2, ["present"]),
    ]  # fmt: skip
    # Only runs whose checks passed came home.
    assert sorted(e["item"] for e in log if e["event"] == "fetched") == [1, 2, 6, 7]

    runs = {row["item"]: row["run_id"] for row in view["rows"]}
    # 5: in its own container the tests "passed"; what it committed did not.
    hacked = project.envelopes(runs[5])
    assert any("OWN-CHECK-PASSED" in json.dumps(e.get("data", "")) for e in hacked)
    # 8: its rewritten tests were set back to the task's, which fail.
    rewritten = [e for e in project.envelopes(runs[8]) if e.get("event") == "checked"]
    assert {e["name"]: bool(e.get("pinned")) for e in rewritten} == {
        "present": False,
        "tests": True,
    }

    # 6: its fix attempt was logged as one, and its prompt carried what failed.
    fixed = project.envelopes(runs[6])
    retried = [e["detail"] for e in fixed if e.get("event") == "retry"]
    assert len(retried) == 1
    assert retried[0].startswith("fix attempt 1 of 1: checks failed: tests (exit 1)")
    verdicts = [(e["name"], e.get("exit_code")) for e in fixed if e.get("event") == "checked"]
    assert verdicts == [("present", 0), ("tests", 1), ("present", 0), ("tests", 0)]
    second_prompt = (project.run_dir(runs[6]) / "inputs" / "prompt.txt").read_text()
    assert second_prompt.startswith(PROMPTS[5])
    assert "AssertionError: 6 != 5" in second_prompt
