"""The image's ``scad-remote-run`` run on this host against the transport, with a
stand-in for Claude that commits what its prompt says: each attempt of a run clones
from the host and goes on from what the run's last attempt pushed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest

from scad.gateway._transport import PUSHED_PREFIX
from scad.image.remote_run import REMOTE_RUN
from scad.runs.records import RunPaths

from .transport_support import RUN, Served, plain_git, pushed_branches, write_state

pytestmark = pytest.mark.anyio

BRANCH = "scad-r"
#: Claude, as far as the bootstrap can tell: it reads its prompt and commits it.
CLAUDE = """#!/bin/sh
read -r prompt
echo "$prompt" >> attempts.txt
git add attempts.txt && git commit -qm "$prompt"
"""


def attempt(
    served: Served, tmp_path: Path, prompt: str, claude_script: str = CLAUDE
) -> subprocess.CompletedProcess[str]:
    """One attempt of the run in its own fresh container, as far as files go."""
    place = tmp_path / f"attempt-{prompt}"
    (place / "bin").mkdir(parents=True)
    (place / "home").mkdir()
    claude = place / "bin" / "claude"
    claude.write_text(claude_script)
    claude.chmod(0o755)
    script = place / "scad-remote-run"
    script.write_text(REMOTE_RUN)
    (RunPaths(served.home, RUN).inputs / "prompt.txt").write_text(prompt + "\n")
    env = {
        "PATH": f"{place / 'bin'}:{os.environ['PATH']}",
        "HOME": str(place / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "SCAD_GATEWAY": served.url,
        "ANTHROPIC_AUTH_TOKEN": served.token,
        "SCAD_BRANCH": BRANCH,
        "SCAD_REPOS": "code",
        "SCAD_WORKSPACE": str(place / "workspace"),
        "SCAD_PUSH_SECONDS": "3600",
    }
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )


def log_of(served: Served, tip: str) -> list[str]:
    store = RunPaths(served.home, RUN).pushed("code")
    return plain_git("--git-dir", str(store), "log", "--format=%s", tip).splitlines()


async def test_a_run_goes_on_from_the_branch_its_last_attempt_pushed(
    served: Served, tmp_path: Path
) -> None:
    write_state(served.home)
    first = await anyio.to_thread.run_sync(attempt, served, tmp_path, "one")
    assert first.returncode == 0, first.stderr
    second = await anyio.to_thread.run_sync(attempt, served, tmp_path, "two")
    assert second.returncode == 0, second.stderr
    tip = (await pushed_branches(served))[BRANCH]
    assert log_of(served, tip)[:2] == ["two", "one"]
    third_clone = tmp_path / "attempt-two" / "workspace" / "code"
    assert (third_clone / "attempts.txt").read_text() == "one\ntwo\n"


#: A Claude that also commits on the repo's main branch.
ON_MAIN = (
    CLAUDE
    + """git checkout -q main && echo "$prompt" > main.txt && git add main.txt
git commit -qm "main: $prompt" && git checkout -q -
"""
)


async def test_a_retry_keeps_the_other_branches_its_last_attempt_pushed(
    served: Served, tmp_path: Path
) -> None:
    write_state(served.home)
    first = await anyio.to_thread.run_sync(attempt, served, tmp_path, "one", ON_MAIN)
    assert first.returncode == 0, first.stderr
    on_main = (await pushed_branches(served))["main"]
    second = await anyio.to_thread.run_sync(attempt, served, tmp_path, "two")
    assert second.returncode == 0, second.stderr
    assert log_of(served, (await pushed_branches(served))["main"])[0] == "main: one"
    assert log_of(served, on_main)[0] == "main: one"


async def test_an_attempt_that_cannot_read_what_was_pushed_does_not_start(
    served: Served, tmp_path: Path
) -> None:
    """Starting from the host's HEAD would push over the last attempt's work."""
    write_state(served.home)
    first = await anyio.to_thread.run_sync(attempt, served, tmp_path, "one")
    assert first.returncode == 0, first.stderr
    tip = (await pushed_branches(served))[BRANCH]
    store = RunPaths(served.home, RUN).pushed("code")
    (store / "HEAD").write_text("not a ref\n")  # the store unreadable
    second = await anyio.to_thread.run_sync(attempt, served, tmp_path, "two")
    assert second.returncode == 70
    assert "cannot read what the run pushed of code" in second.stderr
    (store / "HEAD").write_text("ref: refs/heads/main\n")
    assert (await pushed_branches(served))[BRANCH] == tip


@pytest.mark.parametrize("path", ["/info/refs?service=git-receive-pack", "/git-receive-pack"])
async def test_what_a_run_pushed_is_only_read_through_its_own_path(
    served: Served, path: str
) -> None:
    async with aiohttp.ClientSession() as client:
        method = client.get if "info" in path else client.post
        async with method(
            f"{served.url}{PUSHED_PREFIX}/code.git{path}",
            headers={"Authorization": f"Bearer {served.token}"},
        ) as answer:
            assert answer.status == 403


async def test_another_runs_token_reads_nothing_a_run_pushed(served: Served) -> None:
    async with aiohttp.ClientSession() as client, client.get(
        f"{served.url}{PUSHED_PREFIX}/code.git/info/refs?service=git-upload-pack",
        headers={"Authorization": "Bearer scad-not-a-token"},
    ) as answer:  # fmt: skip
        assert answer.status == 401
