"""Checks against the real engine, image and Claude Code, with the offline model: a
headless run commits code, and scad judges what it committed in containers of its
own, whatever the agent did to its container, its tests and its clone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import msgspec
import pytest

from scad.checks import CheckReport, CheckSource, check_commits, check_run
from scad.checks.container import CHECK_LOG_BYTES
from scad.config.loading import load_config
from scad.config.schema import Check, Config, Mount
from scad.engine import Engine, labels
from scad.home import Home
from scad.image.build import build_context
from scad.runs.records import load_run

from .sessions_support import Project, run, wait_for_exit, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

TESTS = "python3 -m unittest discover -s tests"
CHECKS = [
    Check(name="present", run="test -f calc.py"),
    Check(name="tests", run=TESTS, pin=["tests/", "data/"]),
    Check(name="unpinned", run=TESTS),
    Check(name="hang", run="sleep 1000", timeout=3),
    Check(name="pins", run="test ! -L data && grep -qx 'base data' data/x.txt", pin=["data"]),
    Check(
        name="host",
        run="cat leak.txt; ls data/; echo written > data/x.txt; echo written > leak.txt; true",
    ),
]


def host_git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=h", "-c", "user.email=h@h", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def with_checks(project: Project, checks: list[Check]) -> Config:
    config = load_config(project.home / "configs" / "scadtest.yml")
    return msgspec.structs.replace(config, checks=checks)


def task_files(repo: Path) -> str:
    """The task as the host sets it: a wrong ``add`` and the tests that say so."""
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text(
        "import unittest\nimport calc\n\n\nclass T(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n"
    )
    (repo / "calc.py").write_text("def add(a, b):\n    return 0\n")
    (repo / "data").mkdir()
    (repo / "data" / "x.txt").write_text("base data\n")
    host_git(repo, "add", "-A")
    host_git(repo, "commit", "-qm", "the task")
    return host_git(repo, "rev-parse", "HEAD")


async def check_containers(engine: Engine, home: Home) -> list[str]:
    found = await engine.containers({labels.CHECK: None, labels.HOME: labels.home_label(home)})
    return [c.name for c in found]


async def test_checks_judge_what_was_committed_not_what_the_agent_made_of_its_container(
    project: Project, engine: Engine, tmp_path: Path
) -> None:
    base = task_files(project.repo)
    secret = tmp_path / "secret.txt"
    secret.write_text("HOST-SECRET\n")
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    marker = tmp_path / "hooked"
    prompt = "\n".join(
        [
            r"RUN: printf 'def add(a, b):\n    return a - b\n' > calc.py",
            r"RUN: printf 'import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n' > tests/test_calc.py",
            f"RUN: rm -rf data && ln -s {host_dir} data && ln -s {secret} leak.txt",
            "RUN: git add -A && git commit -qm 'agent work'",
            # What runs the tests in the agent's own container now passes anything.
            r"RUN: rm -f /opt/venv/bin/python3 && printf '#!/bin/sh\nexit 0\n' > /opt/venv/bin/python3 && chmod +x /opt/venv/bin/python3",
            f"RUN: printf '#!/bin/sh\\ntouch {marker}\\n' > .git/hooks/post-checkout"
            f" && chmod +x .git/hooks/post-checkout && git config core.fsmonitor 'touch {marker}'"
            f" && git config core.hooksPath .git/hooks && ln -s {secret} untracked-link",
            "SAY: done",
        ]
    )
    run_id = await project.start("--tag", "judged", "--headless", "--prompt", prompt)
    await wait_for_exit(run_id)
    home = Home(project.home)
    record = load_run(home, run_id)
    assert record.bases == {"code": base}
    # The agent did plant all that: in its container, and in its clone.
    changed = (await run("docker", "diff", f"scad-{run_id}")).stdout.split()
    assert "/opt/venv/bin/python3" in changed
    assert "fsmonitor" in (project.clone(run_id) / ".git" / "config").read_text()
    assert (project.clone(run_id) / "untracked-link").is_symlink()

    report = await check_run(engine, home, with_checks(project, CHECKS), record)

    assert report is not None
    by_name = {c.name: c for c in report.checks}
    assert [c.name for c in report.checks] == [c.name for c in CHECKS]
    assert by_name["present"].passed
    # The base's tests judge the committed `add`, with the image's own python3.
    tests = by_name["tests"]
    assert tests.exit_code == 1 and tests.output and "AssertionError" in tests.output
    assert tests.pinned == ["tests/", "data/"]
    assert by_name["unpinned"].passed and by_name["unpinned"].pinned == []
    hang = by_name["hang"]
    assert hang.stop == "timed-out" and hang.exit_code is None and not hang.passed
    assert by_name["pins"].passed and by_name["pins"].pinned == ["data"]
    assert by_name["host"].passed and "HOST-SECRET" not in (by_name["host"].output or "")
    assert not report.passed
    assert [c.name for c in report.failing] == ["tests", "hang"]
    commit = host_git(project.repo, "rev-parse", "HEAD")  # the host did not move
    assert commit == base and tests.commits["code"] != base

    # Claude said it was done; the views say what the checks said.
    listed = json.loads((await project.scad("session", "status", "--all", "--json")).stdout)
    assert [(r["run_id"], r["outcome"]) for r in listed["sessions"]] == [(run_id, "checks-failed")]
    project_rows = json.loads(
        (await project.scad("project", "status", "scadtest", "--json")).stdout
    )
    assert project_rows["totals"]["outcomes"] == {"checks-failed": 1}

    logged = [e for e in project.envelopes(run_id) if e.get("event") == "checked"]
    assert [e["name"] for e in logged] == [c.name for c in CHECKS]
    assert secret.read_text() == "HOST-SECRET\n"
    assert list(host_dir.iterdir()) == []
    assert not marker.exists()
    assert await check_containers(engine, home) == []


async def test_a_run_that_committed_nothing_is_not_checked(
    project: Project, engine: Engine
) -> None:
    run_id = await project.start("--tag", "idle", "--headless", "--prompt", "SAY: nothing")
    await wait_for_exit(run_id)
    home = Home(project.home)
    config = with_checks(project, [Check(name="present", run="true")])
    assert await check_run(engine, home, config, load_run(home, run_id)) is None
    assert not [e for e in project.envelopes(run_id) if e.get("event") == "checked"]


async def test_no_check_container_survives_a_cancelled_check(
    project: Project, engine: Engine
) -> None:
    home = Home(project.home)
    config = with_checks(project, [Check(name="hang", run="sleep 1000")])
    head = host_git(project.repo, "rev-parse", "HEAD")
    tag = build_context(home, config).tag
    source = CheckSource(repo="code", git_dir=str(project.repo), commit=head, base=head)

    async def running() -> bool:
        found = await engine.containers(
            {labels.CHECK: "hang", labels.HOME: labels.home_label(home)}
        )
        return any(c.running for c in found)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: check_commits(engine, home, config, [source], image=tag))
        await wait_until(running)
        tg.cancel_scope.cancel()
    assert await check_containers(engine, home) == []


async def test_a_check_starts_in_the_focus_folder_sees_the_mounts_read_only_and_its_log_is_capped(
    project: Project, engine: Engine, tmp_path: Path
) -> None:
    home = Home(project.home)
    head = task_files(project.repo)
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "x.txt").write_text("the run's data\n")
    data.chmod(0o755)
    look = Check(
        name="look",
        run="pwd; cat /data/x.txt; touch /data/new || echo refused;"
        " until [ -e /data/go ]; do sleep 0.1; done",
        timeout=120,
    )
    plain = with_checks(project, [look])
    tag = build_context(home, plain).tag
    config = msgspec.structs.replace(
        plain,
        repos={"code": msgspec.structs.replace(plain.repos["code"], focus="tests")},
        mounts=[Mount(host=str(data), container="/data")],
    )
    source = CheckSource(repo="code", git_dir=str(project.repo), commit=head, base=head)
    found: list[CheckReport] = []

    async def looking() -> list[str]:
        listed = await engine.containers(
            {labels.CHECK: "look", labels.HOME: labels.home_label(home)}
        )
        return [c.id for c in listed if c.running]

    async def judged() -> None:
        found.append(await check_commits(engine, home, config, [source], image=tag))

    async with anyio.create_task_group() as tg:
        tg.start_soon(judged)
        await wait_until(looking)
        (container,) = await looking()
        inspected = json.loads((await run("docker", "inspect", container)).stdout)[0]
        (data / "go").touch()
    assert inspected["HostConfig"]["LogConfig"] == {
        "Type": "json-file", "Config": {"max-size": str(CHECK_LOG_BYTES), "max-file": "1"},
    }  # fmt: skip
    (report,) = found
    (checked,) = report.checks
    assert checked.passed, checked.output
    lines = (checked.output or "").splitlines()
    # stdout in its order; touch's complaint on stderr may come through the attach
    # before or after it (the engine carries the two streams apart).
    said = [line for line in lines if "Read-only file system" not in line]
    assert said == ["/workspace/code/tests", "the run's data", "refused"]
    assert len(lines) == 4 and any("Read-only file system" in line for line in lines)
    assert sorted(p.name for p in data.iterdir()) == ["go", "x.txt"]
