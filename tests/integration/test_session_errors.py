"""Bad input to sessions: one line, a non-zero exit, and nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scad.engine.labels import home_label
from scad.home import Home
from scad.names import image_repository

from .conftest import project_config, session_settings
from .sessions_support import Project, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


async def containers_of(project: Project, config: str) -> list[str]:
    """The containers of ``config`` that this test's home made (not another home's)."""
    home = f"label=scad.home={os.path.realpath(project.home)}"
    out = await run(
        "docker", "ps", "-aq", "--filter", f"label=scad.config={config}", "--filter", home
    )
    return out.stdout.split()


def add_config(project: Project, name: str, extra: str = "", repo: Path | None = None) -> None:
    text = project_config(name, repo or project.repo, session_settings(project.model.url) + extra)
    (project.home / "configs" / f"{name}.yml").write_text(text)


async def assert_nothing_left(project: Project, config: str) -> None:
    runs = project.home / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    assert await containers_of(project, config) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["--tag", "bad tag"],
            2,
            'scad: error: invalid tag "bad tag": use 1-40 letters, digits, "-" or "_", starting with a letter or digit\n',
            id="invalid-tag",
        ),
        pytest.param(
            ["--tag", "h", "--headless"],
            2,
            "scad: error: a headless session needs a prompt (--prompt or --prompt-file)\n",
            id="headless-without-prompt",
        ),
        pytest.param(
            ["--tag", "h", "--prompt", "x", "--prompt-file", "/nonexistent"],
            2,
            "scad: error: give either --prompt or --prompt-file, not both\n",
            id="two-prompts",
        ),
        pytest.param(
            ["--tag", "h", "--prompt-file", "/nonexistent/p.txt"],
            2,
            "scad: error: cannot read the prompt file /nonexistent/p.txt: No such file or directory\n",
            id="prompt-file-missing",
        ),
    ],
)
async def test_bad_arguments(project: Project, args: list[str], code: int, message: str) -> None:
    result = await project.scad("session", "start", "scadtest", *args, check=False)
    assert (result.returncode, result.stderr) == (code, message)
    await assert_nothing_left(project, "scadtest")


async def test_repo_that_is_not_a_git_repository(project: Project, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    add_config(project, "plain", repo=plain)
    result = await project.scad("session", "start", "plain", "--tag", "x", check=False)
    assert result.returncode == 2
    assert result.stderr == (
        f"scad: error: plain.yml: repos.code.path: {plain} is not a git repository; "
        "fix the path or run `git init` there\n"
    )
    await assert_nothing_left(project, "plain")


async def test_engine_down(project: Project, tmp_path: Path) -> None:
    sock = f"unix://{tmp_path}/no.sock"
    result = await project.scad(
        "session", "start", "scadtest", "--tag", "x", check=False, env={"DOCKER_HOST": sock}
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"scad: error: cannot reach the Docker engine at {sock};")
    await assert_nothing_left(project, "scadtest")


async def test_no_credentials_on_the_host(project: Project) -> None:
    result = await project.scad(
        "session", "start", "scadtest", "--tag", "x", check=False, env={"ANTHROPIC_API_KEY": ""}
    )
    assert result.returncode == 1
    assert result.stderr == (
        "scad: error: no Claude credentials on this host: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, "
        "or log in with `claude` so ~/.claude/.credentials.json exists\n"
    )
    await assert_nothing_left(project, "scadtest")


async def test_a_build_that_fails(project: Project) -> None:
    add_config(project, "nobuild", "apt_packages: [scad-no-such-package]\n")
    result = await project.scad("session", "start", "nobuild", "--tag", "x", check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    repository = image_repository("nobuild", home_label(Home(project.home)))
    assert last.startswith(f"scad: error: build of {repository}:") and "failed at step" in last
    assert result.stdout.startswith(
        "the image of nobuild is not built yet; building it first\nstep 1/"
    )
    await assert_nothing_left(project, "nobuild")
    assert (await run("docker", "images", "-q", repository)).stdout == ""


async def test_a_container_that_fails_to_start(project: Project, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    not_a_folder.chmod(0o666)  # writable by the agent: no warning before the error
    # A file mounted over a folder of the image: the engine creates the container, then cannot start it.
    add_config(project, "nostart", f"mounts: [{{host: {not_a_folder}, container: /usr}}]\n")
    result = await project.scad("session", "start", "nostart", "--tag", "x", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("scad: error: start container ")
    assert len(result.stderr.strip().splitlines()) == 1
    await assert_nothing_left(project, "nostart")


async def test_attach_and_resume_say_what_would_help(project: Project) -> None:
    run_id = await project.start("--tag", "done", "--headless", "--prompt", "SAY: ok")
    await wait_for_exit(run_id)
    attach = await project.scad("session", "attach", run_id, check=False)
    assert attach.returncode == 1
    assert attach.stderr == (
        f"scad: error: {run_id} is headless and has no terminal; follow it with `scad session logs {run_id} -f`\n"
    )
    resume = await project.scad("session", "resume", run_id, check=False)
    assert (resume.returncode, resume.stderr) == (
        2,
        f"scad: error: {run_id} is headless: give the next prompt with --prompt or --prompt-file\n",
    )
    interactive = await project.start("--tag", "idle")
    no_terminal = await project.scad("session", "attach", interactive, check=False)
    assert (no_terminal.returncode, no_terminal.stderr) == (
        2,
        "scad: error: attach needs a terminal; run it from an interactive shell\n",
    )
    twice = await project.scad("session", "resume", interactive, check=False)
    assert (twice.returncode, twice.stderr) == (
        1,
        f"scad: error: {interactive} is already running; attach with `scad session attach {interactive}`\n",
    )
    await project.scad("session", "stop", interactive)
    attach = await project.scad("session", "attach", interactive, check=False)
    assert attach.stderr == (
        f"scad: error: {interactive} is not running; start it again with `scad session resume {interactive}`\n"
    )
    await project.scad("session", "clean", interactive)
    resume = await project.scad("session", "resume", interactive, check=False)
    assert resume.returncode == 1
    assert resume.stderr.startswith(f"scad: error: run {interactive} was cleaned;")
    status = json.loads((await project.scad("session", "status", "--all", "--json")).stdout)
    assert {s["run_id"]: s["state"] for s in status["sessions"]} == {
        run_id: "exited",
        interactive: "cleaned",
    }


async def test_stop_several_needs_yes_without_a_terminal(project: Project) -> None:
    first = await project.start("--tag", "twin")
    second = await project.start("--tag", "twin")
    assert second != first
    if second.startswith(first):
        # Started within the same minute: the second run id takes a suffix.
        assert second == f"{first}-2"
    refused = await project.scad("session", "stop", "--all", check=False)
    assert (refused.returncode, refused.stderr) == (
        2,
        "scad: error: stop 2 sessions? pass --yes to confirm\n",
    )
    done = await project.scad("session", "stop", "--all", "--yes")
    assert sorted(done.stdout.splitlines()) == sorted([f"stopped {first}", f"stopped {second}"])
    neither = await project.scad("session", "stop", check=False)
    assert (
        neither.stderr
        == "scad: error: name sessions by RUN_ID, or use --all or --config CONFIG (one of them)\n"
    )


async def test_clean_all_passes_over_running_sessions(project: Project) -> None:
    finished = await project.start("--tag", "fin", "--headless", "--prompt", "SAY: done")
    running = await project.start("--tag", "run")
    worked = await project.start(
        "--tag", "work", "--headless", "--prompt", "RUN: git commit -q --allow-empty -m kept"
    )
    await wait_for_exit(finished)
    await wait_for_exit(worked)
    result = await project.scad("session", "clean", "--all", "--yes", check=False)
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == sorted(
        [f"cleaned {finished}", f"skipped {running} (running; --force cleans it too)"]
    )
    assert result.stderr.startswith(f"skipped: {worked}: clone code has 1 commit(s) not in ")
    assert project.clone(worked).is_dir()
    named = await project.scad("session", "clean", running, check=False)
    assert (named.returncode, named.stderr) == (
        1,
        f"scad: error: {running} is running; stop it first (`scad session stop {running}`) or pass --force\n",
    )
