"""A run with no shared filesystem, on the real engine: its container has no bind mount
of a repo or of Claude's state, gets them from the gateway, and pushes its work back;
`code fetch` then brings home what a local run of the same prompt brings."""

from __future__ import annotations

import os
import subprocess

import anyio
import pytest

from scad.config import load_config
from scad.gateway import enable_transport, gateway_info, load_registration
from scad.home import Home
from scad.runs.records import load_run
from scad.sessions.claude_setup import claude_arguments

from .sessions_support import Project, host_git, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

PROMPT = (
    "RUN: echo remote > work.txt && git add work.txt && git commit -qm 'agent work'\nSAY: done\n"
)


async def test_a_run_without_mounts_clones_pushes_and_is_fetched_as_a_local_one(
    project: Project,
) -> None:
    local = await project.start("--tag", "local", "--headless", "--prompt", PROMPT)
    await wait_for_exit(local)
    await project.scad("code", "fetch", local)

    # A run scad made (its Claude state, its token), whose work is to come remotely.
    remote = await project.start("--tag", "remote", "--headless", "--prompt", "SAY: hi\n")
    await wait_for_exit(remote)
    home = Home(project.home)
    (project.run_dir(remote) / "inputs" / "prompt.txt").write_text(PROMPT)
    await enable_transport(home, remote, {"code": project.repo})
    record = load_run(home, remote)
    registration = load_registration(home, remote)
    gateway = gateway_info(home)
    assert registration is not None and gateway is not None and registration.address
    config = load_config(project.home / "configs" / "scadtest.yml")
    url = gateway.url(registration.address)
    env = {
        "SCAD_GATEWAY": url,
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": registration.token,
        "SCAD_BRANCH": record.branch,
        "SCAD_REPOS": "code",
        "SCAD_WORKDIR": "/workspace/code",
        "SCAD_PUSH_SECONDS": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    name = f"scad-test-remote-{remote}"
    command = ["docker", "run", "--name", name, "--network", config.network]
    command += [part for key in env for part in ("--env", key)]  # values from the environment
    command += [
        record.image,
        "scad-remote-run",
        *claude_arguments(config, headless=True, resume=False),
    ]
    try:
        ran = await anyio.run_process(command, check=False, env={**os.environ, **env})
        done = subprocess.CompletedProcess(
            command, ran.returncode, ran.stdout.decode(), ran.stderr.decode()
        )
        inspected = await run("docker", "inspect", "--format", "{{json .Mounts}}", name)
    finally:
        await run("docker", "rm", "-f", name, check=False)
    assert done.returncode == 0, done.stderr
    assert inspected.stdout.strip() == "[]"  # nothing of the host's file system
    assert '"type":"result"' in done.stdout  # Claude's stream-json, as a local run's

    fetched = await project.scad("code", "fetch", remote)
    assert "fetched" in fetched.stdout or remote in fetched.stdout
    here, there = f"scad-{local}", f"scad-{remote}"
    assert host_git(project.repo, "log", "-1", "--format=%s", there) == "agent work"
    assert host_git(project.repo, "rev-parse", f"{there}^{{tree}}") == host_git(
        project.repo, "rev-parse", f"{here}^{{tree}}"
    )
    assert host_git(project.repo, "rev-parse", f"{there}^") == host_git(
        project.repo, "rev-parse", f"{here}^"
    )
