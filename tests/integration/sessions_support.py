"""Helpers for session tests: a project wired to the offline model, run via the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio

from scad.engine import labels
from scad.home import Home

SCAD = str(Path(sys.executable).parent / "scad")


class OfflineServer:
    """A running `scad offline serve`."""

    def __init__(self, url: str) -> None:
        self.url = url


class Project:
    """A scad home with the `scadtest` config, whose sessions talk to the offline model."""

    def __init__(self, root: Path, repo: Path, model: OfflineServer) -> None:
        self.root = root
        self.home = root / "home"
        self.repo = repo
        self.model = model
        self.api_key = f"sk-ant-test-{uuid.uuid4().hex}"
        self.env = {
            **os.environ,
            "SCAD_HOME": str(self.home),
            "ANTHROPIC_API_KEY": self.api_key,
            "HOME": str(root / "host-home"),
        }
        self.env.pop("CLAUDE_CODE_OAUTH_TOKEN", None)
        (root / "host-home").mkdir(exist_ok=True)

    async def scad(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = await anyio.run_process(
            [SCAD, *args], check=False, env={**self.env, **(env or {})}
        )
        out = subprocess.CompletedProcess(
            args, result.returncode, result.stdout.decode(), result.stderr.decode()
        )
        if check and out.returncode != 0:
            raise AssertionError(f"scad {' '.join(args)} exited {out.returncode}:\n{out.stderr}")
        return out

    async def start(self, *args: str) -> str:
        """`scad session start scadtest ARGS --json`; returns the run id."""
        result = await self.scad("session", "start", "scadtest", *args, "--json")
        return str(json.loads(result.stdout)["run_id"])

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def clone(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worktrees" / "code"

    def envelopes(self, run_id: str) -> list[dict[str, Any]]:
        text = (self.run_dir(run_id) / "events.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]


async def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command without blocking the event loop (the offline model shares it)."""
    result = await anyio.run_process(list(command), check=False)
    out = subprocess.CompletedProcess(
        command, result.returncode, result.stdout.decode(), result.stderr.decode()
    )
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {out.returncode}:\n{out.stderr}")
    return out


async def pane(run_id: str) -> str:
    """What the session's tmux pane shows, read from inside its container."""
    return (
        await run(
            "docker",
            "exec",
            f"scad-{run_id}",
            "tmux",
            "capture-pane",
            "-p",
            "-t",
            "main",
            check=False,
        )
    ).stdout


def host_git(repo: Path, *args: str) -> str:
    """git in the host repo (the test's own, made by the test): its output."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def git_log(repo: Path, *refs: str) -> list[str]:
    out = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(repo), "log", "--format=%s", *refs],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.splitlines()


def container_state(run_id: str) -> dict[str, Any]:
    out = subprocess.run(
        ["docker", "inspect", f"scad-{run_id}"], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)[0]["State"]


async def wait_for_exit(run_id: str, timeout: float = 90) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            state = container_state(run_id)
            if state["Status"] == "exited":
                return state
            await anyio.sleep(0.2)


#: A prompt's step that waits until the test opens the run's gate (:func:`open_gate`):
#: the run is sure to be going while the test looks at it, however slow the machine.
GATE = "RUN: until [ -e .scad-test-gate ]; do sleep 0.2; done"


def open_gate(project: Project, run_id: str) -> None:
    """Let the run's :data:`GATE` step (and a retry's) go on: a file in its clone."""
    (project.clone(run_id) / ".scad-test-gate").touch()


async def wait_until(predicate: Any, timeout: float = 60) -> None:
    """Poll ``predicate`` (a function, or an async one) until it holds."""
    with anyio.fail_after(timeout):
        while True:
            value = predicate()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return
            await anyio.sleep(0.25)


def remove_engine_leftovers(home: Path) -> None:
    """The home's run containers, then its networks (a fenced run's egress network)."""
    runs = home / "runs"
    for run_dir in runs.iterdir() if runs.is_dir() else []:
        subprocess.run(
            ["docker", "rm", "-f", f"scad-{run_dir.name}"], capture_output=True, timeout=120
        )
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label={labels.HOME}={labels.home_label(Home(home))}"],
        capture_output=True, text=True, timeout=120,
    ).stdout.split()  # fmt: skip
    if networks:
        subprocess.run(["docker", "network", "rm", *networks], capture_output=True, timeout=120)


def remove_images(repository: str) -> None:
    """Every tag of ``repository`` (a test config's image in one home); an image
    another home tags too keeps its other tags."""
    tags = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
        capture_output=True, text=True, timeout=120,
    ).stdout.split()  # fmt: skip
    if tags:
        subprocess.run(["docker", "rmi", *tags], capture_output=True, timeout=120)
