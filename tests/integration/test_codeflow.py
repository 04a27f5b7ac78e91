"""Code flow against the real engine, image and Claude Code, with the offline model:
fetch a run's branches home, sync the host's into a running session, refresh its
credentials."""

from __future__ import annotations

import json
import subprocess

import pytest

from .sessions_support import Project, git_log, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

FEATURE = (
    "RUN: git checkout -q -b feature main && echo agent > feature.txt && git add feature.txt"
    " && git commit -qm 'agent feature' && git checkout -q -\n"
    "RUN: mkdir -p src && echo one > src/one.py && echo two > src/two.py && git add src"
    " && git commit -qm 'agent work'\n"
    "SAY: done\n"
)


def host_git(project: Project, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project.repo), "-c", "user.name=h", "-c", "user.email=h@h", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


async def in_session(run_id: str, *command: str) -> str:
    return (await run("docker", "exec", "-w", "/workspace/code", f"scad-{run_id}", *command)).stdout


async def test_fetch_brings_the_agent_branches_home_and_a_diverged_one_lands_apart(
    project: Project,
) -> None:
    host_git(project, "branch", "feature")  # the host's own feature, soon diverged
    host_git(project, "checkout", "-q", "feature")
    (project.repo / "host.txt").write_text("host\n")
    host_git(project, "add", "host.txt")
    host_git(project, "commit", "-qm", "host feature")
    host_git(project, "checkout", "-q", "main")
    host_feature, host_main = host_git(project, "rev-parse", "feature", "main").split()

    run_id = await project.start("--tag", "fetch", "--headless", "--prompt", FEATURE)
    await wait_for_exit(run_id)
    result = await project.scad("code", "fetch", run_id)
    assert (
        f"{run_id}: code feature diverged from the host's (which is unchanged); "
        f"it is at scad/{run_id}/feature\n"
    ) in result.stdout

    branch = f"scad-{run_id}"
    assert git_log(project.repo, branch)[:2] == ["agent work", "init"]
    assert git_log(project.repo, f"scad/{run_id}/feature")[:1] == ["agent feature"]
    assert host_git(project, "rev-parse", "feature", "main").split() == [host_feature, host_main]
    assert host_git(project, "status", "--porcelain") == ""
    row = next(line for line in result.stdout.splitlines() if f" {branch} " in line)
    assert row.split()[4:7] == ["new", "1", "2:"] and "src/one.py, src/two.py" in row

    events = [e for e in project.envelopes(run_id) if e.get("event") == "fetched"]
    assert len(events) == 1 and f"code:{branch}->{branch} (new)" in events[0]["detail"]
    assert (await project.scad("session", "clean", run_id)).stdout == f"cleaned {run_id}\n"


ON_THE_ALIAS = (
    "RUN: git checkout -q -b master main && echo agent > master.txt && git add master.txt"
    " && git commit -qm 'agent on master' && git checkout -q -\n"
    "SAY: done\n"
)


async def test_fetch_never_writes_through_a_host_branch_that_is_a_symbolic_ref(
    project: Project,
) -> None:
    # The host renamed master to main and kept the old name as an alias.
    host_git(project, "symbolic-ref", "refs/heads/master", "refs/heads/main")
    host_main = host_git(project, "rev-parse", "main")

    run_id = await project.start("--tag", "alias", "--headless", "--prompt", ON_THE_ALIAS)
    await wait_for_exit(run_id)
    result = await project.scad("code", "fetch", run_id)
    assert host_git(project, "rev-parse", "main") == host_main
    assert host_git(project, "symbolic-ref", "refs/heads/master") == "refs/heads/main"
    assert host_git(project, "status", "--porcelain") == ""
    assert (
        f"{run_id}: code master is a symbolic ref to refs/heads/main on the host: not written "
        f"through, and refs/heads/main is unchanged; it is at scad/{run_id}/master\n"
    ) in result.stdout
    assert git_log(project.repo, f"scad/{run_id}/master")[:1] == ["agent on master"]
    assert (await project.scad("session", "clean", run_id)).stdout == f"cleaned {run_id}\n"


async def test_sync_reaches_a_running_session_and_checkout_switches_it(project: Project) -> None:
    run_id = await project.start("--tag", "sync", "--no-attach")
    host_git(project, "branch", "topic")
    (project.repo / "news.txt").write_text("news\n")
    host_git(project, "add", "news.txt")
    host_git(project, "commit", "-qm", "host news")
    news = host_git(project, "rev-parse", "main")

    synced = json.loads((await project.scad("code", "sync", run_id, "--json")).stdout)
    assert synced["running"] is True
    assert [(r["main"], r["commits"], r["problem"]) for r in synced["repos"]] == [
        ("fast-forwarded", 1, None)
    ]
    # The agent sees the commit, on its main and as origin/main; its own branch is untouched.
    seen = await in_session(run_id, "git", "rev-parse", "main", "origin/main", "origin/topic")
    assert seen.split() == [news, news, host_git(project, "rev-parse", "topic")]
    assert (await in_session(run_id, "git", "branch", "--show-current")).strip() == f"scad-{run_id}"
    await in_session(run_id, "git", "fsck", "--no-dangling")

    await in_session(run_id, "sh", "-c", "echo wip > wip.txt")
    refused = await project.scad("code", "sync", run_id, "--checkout", "topic", check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        "scad: error: clone code has uncommitted changes; commit or stash them in the session "
        "before switching it to topic\n"
    )
    assert (await in_session(run_id, "git", "branch", "--show-current")).strip() == f"scad-{run_id}"
    await in_session(run_id, "rm", "wip.txt")
    await project.scad("code", "sync", run_id, "--checkout", "topic")
    assert (await in_session(run_id, "git", "branch", "--show-current")).strip() == "topic"

    # With the session's main checked out, the fast-forward moves its working tree too.
    await project.scad("code", "sync", run_id, "--checkout", "main", "--no-update-main")
    assert (await in_session(run_id, "git", "branch", "--show-current")).strip() == "main"
    (project.repo / "more.txt").write_text("more\n")
    host_git(project, "add", "more.txt")
    host_git(project, "commit", "-qm", "host more")
    await project.scad("code", "sync", run_id)
    assert (await in_session(run_id, "cat", "more.txt")).strip() == "more"
    await project.scad("session", "stop", run_id)
