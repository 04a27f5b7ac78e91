"""`scad code merge` end to end: a batch's runs (real engine, real image, real Claude
Code, the offline model) merged into one host branch without touching the host's
checkout."""

from __future__ import annotations

import json
import subprocess

import pytest

from .sessions_support import Project
from .test_batch import batch_project

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

__all__ = ["batch_project"]


def writes(name: str, text: str) -> str:
    return f"RUN: echo '{text}' > {name} && git add {name} && git commit -qm '{name}'\nSAY: done"


def host_git(project: Project, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project.repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.timeout(600)
async def test_a_batch_merges_into_one_branch_leaving_out_the_conflicting_run(
    batch_project: Project,
) -> None:
    project = batch_project
    prompts = [
        writes("one.txt", "one"),
        writes("shared.txt", "from the second"),
        writes("two.txt", "two"),
        writes("shared.txt", "from the fourth"),
    ]
    result = await project.scad(
        "batch", "scadtest", "--tag", "merge", *[arg for p in prompts for arg in ("-p", p)],
        "-j", "2", "--foreground", "--json",
    )  # fmt: skip
    view = json.loads(result.stdout)
    assert [row["outcome"] for row in view["rows"]] == ["succeeded"] * 4
    batch_id = view["batch_id"]
    (project.repo / "untracked.txt").write_text("the user's\n")
    before = (
        host_git(project, "status", "--porcelain", "--untracked-files=all"),
        host_git(project, "rev-parse", "HEAD", "main"),
        (project.repo / ".git/index").read_bytes(),
        (project.repo / ".git/HEAD").read_bytes(),
    )

    merged = await project.scad("code", "merge", batch_id, "--into", "integration", check=False)
    assert merged.returncode == 1, merged.stderr  # a run was left out
    lines = merged.stdout.splitlines()
    assert [line.split()[2] for line in lines[1:5]] == ["merged", "merged", "merged", "left"]
    assert lines[4].endswith("1: shared.txt")
    assert lines[5].endswith("3 merged, 1 left out")
    assert host_git(project, "ls-tree", "--name-only", "integration").split() == sorted(
        [*host_git(project, "ls-tree", "--name-only", "main").split(), "one.txt", "shared.txt", "two.txt"]
    )  # fmt: skip
    assert host_git(project, "show", "integration:shared.txt") == "from the second"
    after = (
        host_git(project, "status", "--porcelain", "--untracked-files=all"),
        host_git(project, "rev-parse", "HEAD", "main"),
        (project.repo / ".git/index").read_bytes(),
        (project.repo / ".git/HEAD").read_bytes(),
    )
    assert after == before

    refused = await project.scad("code", "merge", batch_id, "--into", "main", check=False)
    assert refused.returncode == 2
    assert refused.stderr.startswith("scad: error: main is checked out in a worktree")

    # The branch as merged judged by the config's checks, each in a container of its own.
    config = project.home / "configs" / "scadtest.yml"
    config.write_text(config.read_text() + CHECKS)
    first_three = ",".join(row["run_id"] for row in view["rows"][:3])
    checked = await project.scad(
        "code", "merge", batch_id, "--into", "checked", "--only", first_three, "--check", "--json",
        check=False,
    )  # fmt: skip
    assert checked.returncode == 1, checked.stderr  # every run merged; a check failed
    document = json.loads(checked.stdout)
    tip = host_git(project, "rev-parse", "checked")
    assert [(c["name"], c["exit_code"], c["commits"]) for c in document["checks"]] == [
        ("files", 0, {"code": tip}),
        ("fourth", 1, {"code": tip}),
    ]
    assert document["repos"][0]["left_out"] == []
    shown = await project.scad(
        "code", "merge", batch_id, "--into", "checked", "--only", first_three, "--check",
        check=False,
    )  # fmt: skip
    assert shown.returncode == 1
    lines = shown.stdout.splitlines()
    assert lines[-2].startswith("check files: passed (")
    assert lines[-1].startswith("check fourth: failed with exit code 1 (")
    assert [line.split()[2] for line in lines[1:4]] == ["current"] * 3  # checked again as is
    assert host_git(project, "rev-parse", "HEAD", "main") == before[1]


#: One check the merged branch passes, one it fails (the fourth run was left out).
CHECKS = (
    "checks:\n"
    "  - {name: files, run: 'test -f one.txt && test -f two.txt && test -f shared.txt'}\n"
    "  - {name: fourth, run: 'grep -q fourth shared.txt'}\n"
)
