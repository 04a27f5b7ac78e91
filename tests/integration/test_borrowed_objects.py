"""A run's clone borrows the host repo's objects: real engine, real Claude Code.

The clone holds what the agent writes; the host's objects reach the container
read-only through the borrowed store, and nothing the agent names in its clone
makes scad read a host file outside the run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import pytest

from scad.code.borrowed import borrowed_store
from scad.home import Home
from scad.runs.records import RunPaths

from .sessions_support import Project, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: A host file of incompressible bytes: a copied clone would hold them again.
BIG = 2 << 20


def host_git(project: Project, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=h", "-c", "user.email=h@h", "-C", str(project.repo), *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def disk_use(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file())


WORK_AND_REPACK = (
    "RUN: echo agent > agent.txt && git add agent.txt && git commit -qm 'agent work'\n"
    "RUN: git gc -q && git count-objects -v | grep size-pack > .git/after-gc\n"
    "RUN: git repack -adq && git log --format=%s > .git/seen\n"
    "SAY: done\n"
)


async def test_a_borrowing_clone_holds_its_work_and_its_work_comes_home(
    project: Project,
) -> None:
    (project.repo / "big.bin").write_bytes(os.urandom(BIG))
    host_git(project, "add", "big.bin")
    host_git(project, "commit", "-qm", "big")

    run_id = await project.start("--tag", "borrow", "--headless", "--prompt", WORK_AND_REPACK)
    await wait_for_exit(run_id)
    git_dir = project.clone(run_id) / ".git"
    # git in the container saw the whole history through the borrowed objects.
    assert (git_dir / "seen").read_text().split("\n")[:3] == ["agent work", "big", "init"]
    # After git's own gc, the clone held its commit only (size-pack in KiB).
    assert int((git_dir / "after-gc").read_text().split()[1]) < 64
    alternates = (git_dir / "objects" / "info" / "alternates").read_text()
    lent = borrowed_store(Home(project.home), project.repo) / "objects"
    assert alternates == f"{lent}\n"  # the host's path, where the container sees it too

    # The agent's `repack -ad` copied what it borrowed into one pack; scad's read of
    # the clone copies from it only what the host lacks: the agent's own objects.
    assert disk_use(git_dir / "objects" / "pack") > BIG
    with anyio.fail_after(120):
        info = await project.scad("session", "info", run_id)
        await project.scad("code", "fetch", run_id)
    assert "agent work" in info.stdout
    store = RunPaths(Home(project.home), run_id).store("code")
    assert disk_use(store / "objects") < 64 << 10
    log = host_git(project, "log", "--format=%s", f"scad-{run_id}").split("\n")
    assert log[:3] == ["agent work", "big", "init"]
    assert (await project.scad("session", "clean", run_id)).stdout == f"cleaned {run_id}\n"


async def test_a_fresh_clone_costs_its_checkout_not_the_repository(project: Project) -> None:
    (project.repo / "big.bin").write_bytes(os.urandom(BIG))
    host_git(project, "add", "big.bin")
    host_git(project, "commit", "-qm", "big")
    host_git(project, "rm", "-q", "big.bin")
    host_git(project, "commit", "-qm", "gone")  # history only: not in the checkout

    run_id = await project.start("--tag", "small", "--headless", "--prompt", "SAY: done")
    await wait_for_exit(run_id)
    assert disk_use(project.clone(run_id) / ".git") < BIG // 8
    assert (await project.scad("session", "clean", run_id)).stdout == f"cleaned {run_id}\n"


async def test_alternates_the_agent_rewrites_reach_no_host_file(
    project: Project, tmp_path: Path
) -> None:
    secret_repo = tmp_path / "secret"
    await run("git", "init", "-q", str(secret_repo))
    await run(
        "git", "-c", "user.name=s", "-c", "user.email=s@s", "-C", str(secret_repo), "commit",
        "-q", "--allow-empty", "-m", "a secret subject",
    )  # fmt: skip
    secret = (await run("git", "-C", str(secret_repo), "rev-parse", "HEAD")).stdout.strip()
    objects = secret_repo / ".git" / "objects"
    lent = borrowed_store(Home(project.home), project.repo) / "objects"
    prompt = (
        "RUN: git commit -q --allow-empty -m 'agent work'\n"
        f"RUN: printf '%s\\n' '{objects}' '{lent}' > .git/objects/info/alternates\n"
        f"RUN: git update-ref --no-deref refs/heads/secret {secret} 2>/dev/null"
        f" || echo {secret} > .git/refs/heads/secret\n"
        f"RUN: ln -s {objects} .git/objects/linked\n"
        "SAY: done\n"
    )
    run_id = await project.start("--tag", "alt", "--headless", "--prompt", prompt)
    await wait_for_exit(run_id)
    assert (project.clone(run_id) / ".git" / "refs" / "heads" / "secret").exists()

    with anyio.fail_after(120):
        info = await project.scad("session", "info", run_id, check=False)
        fetched = await project.scad("code", "fetch", run_id, check=False)
    assert "a secret subject" not in info.stdout + info.stderr
    assert "a secret subject" not in fetched.stdout + fetched.stderr
    store = project.run_dir(run_id) / "stores" / "code.git"
    assert str(objects) not in (store / "objects" / "info" / "alternates").read_text()
    copied = await run("git", "--git-dir", str(store), "cat-file", "-e", secret, check=False)
    assert copied.returncode != 0
    in_host = await run("git", "-C", str(project.repo), "cat-file", "-e", secret, check=False)
    assert in_host.returncode != 0
