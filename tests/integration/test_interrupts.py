"""Ctrl-C at any moment of `session start` and `batch` leaves nothing, or only what
`session status --all` lists and `session clean` / `gc` remove: the real CLI, the
real engine, a SIGINT as a user's Ctrl-C sends it at moments read from the
command's own progress (its run folder, record, clones, log, container)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from scad.engine import Engine, labels
from scad.home import Home

from .sessions_support import SCAD, Project, run

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: A moment of a command's life: whether it has come, read from the home and the engine.
Moment = Callable[[Project, Engine], Awaitable[bool]]


def _runs(project: Project) -> list[Path]:
    runs = project.home / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def _has(relative: str) -> Moment:
    async def moment(project: Project, engine: Engine) -> bool:
        return any((run_dir / relative).exists() for run_dir in _runs(project))

    return moment


def _logged(event: str) -> Moment:
    async def moment(project: Project, engine: Engine) -> bool:
        for run_dir in _runs(project):
            log = run_dir / "events.jsonl"
            if log.exists() and f'"event":"{event}"' in log.read_text().replace(" ", ""):
                return True
        return False

    return moment


def _batch_logged(event: str) -> Moment:
    async def moment(project: Project, engine: Engine) -> bool:
        batches = project.home / "batches"
        for batch in batches.iterdir() if batches.is_dir() else []:
            log = batch / "events.jsonl"
            if log.exists() and f'"event":"{event}"' in log.read_text().replace(" ", ""):
                return True
        return False

    return moment


def _batch_has(relative: str) -> Moment:
    async def moment(project: Project, engine: Engine) -> bool:
        batches = project.home / "batches"
        return batches.is_dir() and any((b / relative).exists() for b in batches.iterdir())

    return moment


async def _at_once(project: Project, engine: Engine) -> bool:
    return True


async def _a_container(project: Project, engine: Engine) -> bool:
    return bool(await _containers(project, engine))


async def _containers(project: Project, engine: Engine) -> list[str]:
    here = labels.home_label(Home(project.home))
    listed = await engine.containers({labels.RUN: None})
    return [c.labels[labels.RUN] for c in listed if c.labels.get(labels.HOME) == here]


#: From the first instant to the container running: each is a later moment of `session start`.
SESSION_MOMENTS: list[tuple[str, Moment]] = [
    ("at-once", _at_once),
    ("run-folder", _has(".")),
    ("record", _has("run.json")),
    ("clones", _has("worktrees/code")),
    ("clone-branch", _has("worktrees/code/.git/HEAD")),
    ("claude-state", _has("claude.json")),
    ("prompt", _has("inputs/prompt.txt")),
    ("created", _logged("created")),
    ("container", _a_container),
    ("started", _logged("started")),
]

#: The same for `batch` (in the background and in the foreground).
BATCH_MOMENTS: list[tuple[str, Moment]] = [
    ("at-once", _at_once),
    ("batch-folder", _batch_has(".")),
    ("manifest", _batch_has("manifest.json")),
    ("supervisor", _batch_logged("supervisor")),
    ("run-folder", _has(".")),
    ("clones", _has("worktrees/code")),
    ("container", _a_container),
    ("started", _logged("started")),
]

#: A prompt that keeps its run going until it is stopped (its container is stopped).
LONG = "RUN: sleep 600"


async def _interrupt_at(project: Project, engine: Engine, argv: list[str], moment: Moment) -> str:
    """Run ``scad ARGV``, send it SIGINT once ``moment`` has come (or it ended), and
    return what it printed on stderr."""
    stderr = project.root / "stderr.txt"
    with stderr.open("wb") as err:
        process = await anyio.open_process(
            [SCAD, *argv], env=project.env, stdout=subprocess.DEVNULL, stderr=err
        )
        async with process:
            with anyio.fail_after(60):
                while process.returncode is None and not await moment(project, engine):
                    await anyio.sleep(0.005)
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            with anyio.fail_after(120):
                await process.wait()
    return stderr.read_text()


async def _listed(project: Project) -> set[str]:
    status = await project.scad("session", "status", "--all", "--json")
    return {row["run_id"] for row in json.loads(status.stdout)["sessions"]}


async def _assert_nothing_unseen(project: Project, engine: Engine, said: str) -> None:
    """Every run folder, container and branch is one `session status --all` lists;
    every batch folder, one `batch status` lists."""
    # What exists is looked at before status is asked: a background supervisor may
    # still be making runs, and status must list whatever was there when it looked.
    folders = {run_dir.name for run_dir in _runs(project)}
    containers = set(await _containers(project, engine))
    listed = await _listed(project)
    assert folders <= listed, f"run folders status does not list; the command said:\n{said}"
    assert containers <= listed, f"containers status does not list; the command said:\n{said}"
    branches = await run("git", "-C", str(project.repo), "branch", "--list", "scad-*")
    assert branches.stdout == ""
    batches = project.home / "batches"
    if batches.is_dir():
        made = {b.name for b in batches.iterdir()}
        shown = json.loads((await project.scad("batch", "status", "--json")).stdout)["batches"]
        assert made == {v["batch_id"] for v in shown}, said


async def _remove_everything(project: Project, engine: Engine) -> None:
    """What an interrupted command left goes with the commands a user has for it."""
    batches = project.home / "batches"
    for batch in sorted(batches.iterdir()) if batches.is_dir() else []:
        await project.scad("batch", "stop", batch.name)
    await project.scad("session", "clean", "--all", "--force", "--yes")
    await project.scad("gc", "--force")
    assert await _containers(project, engine) == []
    for run_dir in _runs(project):
        assert not (run_dir / "worktrees").exists(), f"{run_dir.name} kept its clones"


def _no_traceback(name: str, said: str) -> None:
    # At once, the signal may land while Python itself starts (before scad does).
    if name != "at-once":
        assert "Traceback" not in said, said


#: An interactive session (the path a headless one nobody waits for shares), and a
#: headless one watched to its end.
STARTS = [
    pytest.param(["--no-attach"], id="interactive"),
    pytest.param(["--headless", "--wait"], id="wait"),
]


@pytest.mark.parametrize("how", STARTS)
@pytest.mark.parametrize(("name", "moment"), SESSION_MOMENTS, ids=[n for n, _ in SESSION_MOMENTS])
async def test_ctrl_c_during_session_start_leaves_only_what_status_lists(
    project: Project, engine: Engine, name: str, moment: Moment, how: list[str]
) -> None:
    argv = ["session", "start", "scadtest", "--tag", "intr", "--prompt", LONG, *how]
    said = await _interrupt_at(project, engine, argv, moment)
    _no_traceback(name, said)
    await _assert_nothing_unseen(project, engine, said)
    await _remove_everything(project, engine)


@pytest.mark.parametrize("foreground", [False, True], ids=["background", "foreground"])
@pytest.mark.parametrize(("name", "moment"), BATCH_MOMENTS, ids=[n for n, _ in BATCH_MOMENTS])
async def test_ctrl_c_during_batch_leaves_only_what_status_lists(
    project: Project, engine: Engine, name: str, moment: Moment, foreground: bool
) -> None:
    argv = ["batch", "scadtest", "--tag", "intr", "--prompt", LONG, "--prompt", LONG]
    argv += ["--foreground"] if foreground else []
    said = await _interrupt_at(project, engine, argv, moment)
    _no_traceback(name, said)
    await _assert_nothing_unseen(project, engine, said)
    await _remove_everything(project, engine)
