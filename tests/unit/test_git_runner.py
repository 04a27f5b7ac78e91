"""How scad runs git: off the event loop, and a cancelled git is killed and reaped."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from scad.code import _process, git
from scad.errors import GitError

pytestmark = pytest.mark.anyio


async def test_a_cancelled_command_is_killed_and_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"echo $$ > {pid_file}; exec sleep 60"
    with anyio.move_on_after(30) as overall:
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await _process.completed(["sh", "-c", script], dict(os.environ), None)

            tg.start_soon(run)
            while not pid_file.exists() or not pid_file.read_text().strip():
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert not overall.cancelled_caught
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed, and reaped: no zombie keeps the id


async def test_input_output_and_the_exit_code_come_back(tmp_path: Path) -> None:
    code, out, err = await _process.completed(
        ["sh", "-c", "cat; echo oops >&2; exit 3"], dict(os.environ), b"in"
    )
    assert (code, out, err) == (3, b"in", b"oops\n")
    with pytest.raises(GitError, match=r"^git rev-parse in .* failed: "):
        await git.git(tmp_path, "rev-parse", "HEAD")


async def test_a_cancelled_git_is_asked_to_end_first_so_it_removes_its_lock_files(
    tmp_path: Path,
) -> None:
    # git removes its lock files (a host branch's ``.lock``) on SIGTERM, never on SIGKILL:
    # one killed outright leaves the user's repo refusing to update that branch.
    started, cleaned = tmp_path / "started", tmp_path / "cleaned"
    script = f"trap 'touch {cleaned}; exit 143' TERM; touch {started}; while :; do sleep 0.05; done"
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await _process.completed(["sh", "-c", script], dict(os.environ), None)

            tg.start_soon(run)
            while not started.exists():
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert cleaned.exists()


@pytest.mark.parametrize("bounded", [False, True])
async def test_a_git_cancelled_as_it_starts_leaves_no_pipe_open(
    monkeypatch: pytest.MonkeyPatch, bounded: bool
) -> None:
    """A cancellation that comes between the spawn and the worker thread that reads
    the output (it may come before that thread starts) closes the pipes itself."""
    spawned: list[subprocess.Popen[bytes]] = []
    spawn = _process._spawn  # the real one, before it is patched
    scope = anyio.CancelScope()

    def spawn_then_cancel(*args: Any) -> subprocess.Popen[bytes]:
        spawned.append(spawn(*args))
        anyio.from_thread.run_sync(scope.cancel)
        return spawned[-1]

    monkeypatch.setattr(_process, "_spawn", spawn_then_cancel)
    with scope:
        if bounded:
            await _process.bounded(["sleep", "60"], dict(os.environ), 100, b"\n")
        else:
            await _process.completed(["sleep", "60"], dict(os.environ), b"")
    [process] = spawned
    assert scope.cancelled_caught and process.returncode is not None
    pipes = [process.stdin, process.stdout, process.stderr]
    assert [pipe is None or pipe.closed for pipe in pipes] == [True, True, True]
    assert process.stdout is not None
