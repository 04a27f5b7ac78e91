"""``status -w``: shown again as it changes, in place on a terminal, a new table
only on change when piped; Ctrl-C ends it with exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scad.cli._watch import show_changes
from scad.home import Home
from tests.unit.test_projects import add_run

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[3]


class Ended(Exception):
    """Raised by the fake sleep once the looks run out."""


async def watched(screens: list[str], *, redraw: bool) -> list[str]:
    """What :func:`show_changes` prints of ``screens``, one a look."""
    printed: list[str] = []
    looked = 0

    async def render() -> str:
        nonlocal looked
        looked += 1
        return screens[looked - 1]

    async def sleep(_: float) -> None:
        if looked == len(screens):
            raise Ended

    with pytest.raises(Ended):
        await show_changes(render, redraw=redraw, echo=printed.append, sleep=sleep)
    return printed


async def test_piped_a_table_is_printed_again_only_when_it_changed() -> None:
    printed = await watched(["a 1", "a 1", "a 2", "a 2", "a 3"], redraw=False)
    assert printed == ["a 1", "\na 2", "\na 3"]


async def test_on_a_terminal_the_screen_is_redrawn_in_place_on_change() -> None:
    printed = await watched(["a 1", "a 1", "a 2"], redraw=True)
    assert printed == ["\x1b[H\x1b[Ja 1", "\x1b[H\x1b[Ja 2"]


def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while text not in (shown := path.read_text()):
        assert process.poll() is None, shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.05)
    return shown


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("session", "status", "--all", "-w"), id="session-status"),
        pytest.param(("project", "status", "proj", "--watch"), id="project-status"),
    ],
)
def test_a_watch_shows_a_new_run_and_ends_on_ctrl_c_with_exit_0(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    home = Home(tmp_path / "home")
    home.root.mkdir()
    (home.root / "configs").mkdir()
    (home.root / "configs" / "proj.yml").write_text(
        f"name: proj\nrepos:\n  code:\n    path: {tmp_path}\n"
    )
    add_run(home, "proj-first-Nov27-1000")
    out, err = tmp_path / "out", tmp_path / "err"
    env = {**os.environ, "SCAD_HOME": str(home.root), "PYTHONPATH": str(ROOT),
           "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}  # fmt: skip
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "scad", *args], stdout=stdout, stderr=stderr, env=env
        )
    try:
        _wait_for(out, "proj-first-Nov27-1000", process)
        add_run(home, "proj-second-Nov27-1001", minute=1)
        shown = _wait_for(out, "proj-second-Nov27-1001", process)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in err.read_text()
    first, second = shown.split("\n\n", 1)
    assert "proj-first-Nov27-1000" in first and "proj-second" not in first
    assert "proj-second-Nov27-1001" in second
