"""An unwritable ``$SCAD_HOME``: every command ends with one line naming it and the fix;
``doctor`` fails it. Unwritable for real: root ignores mode bits, so the home is a file,
sits under one, or lies on a read-only bind mount."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from scad.engine import Engine
from scad.home import Home
from tests.conftest import Cli, make_repo, opening
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

FIX = "set SCAD_HOME to a folder you can write, or make this one writable"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only file system (a read-only bind mount of a folder of ours)."""
    source, target = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    target.mkdir()
    (source / "configs").mkdir()
    if os.geteuid() != 0:
        target.chmod(0o500)  # mode bits hold for anyone but root
        (source / "configs").chmod(0o500)
        yield target
        target.chmod(0o700)
        return
    if not _mount("--bind", str(source), str(target)):
        pytest.skip("bind mounts are not allowed here")
    try:
        if not _mount("-o", "remount,ro,bind", str(target)):
            pytest.skip("read-only remounts are not allowed here")
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture(params=["a file", "under a file", "a folder of it a file", "read-only"])
def unwritable(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """A home scad cannot write, and what its error says about it."""
    if request.param == "a file":
        (tmp_path / "home").write_text("not a folder\n")
        return tmp_path / "home", f"{tmp_path}/home is not a folder"
    if request.param == "under a file":
        (tmp_path / "file").write_text("not a folder\n")
        home = tmp_path / "file" / "scad"
        return home, f"{home} cannot be made: {tmp_path}/file is not a folder"
    if request.param == "a folder of it a file":
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / "runs").write_text("not a folder\n")
        return tmp_path / "home", f"{tmp_path}/home/runs is not a folder"
    home = request.getfixturevalue("read_only")
    why = " (a read-only file system)" if os.geteuid() == 0 else ""
    return home, f"{home} is not writable{why}"


COMMANDS = [
    pytest.param(["config", "new", "proj"], id="config new"),
    pytest.param(["config", "list"], id="config list"),
    pytest.param(["config", "add", "{repo}/proj.yml"], id="config add"),
    pytest.param(["build", "proj"], id="build"),
    pytest.param(["session", "start", "proj", "--tag", "t"], id="session start"),
    pytest.param(["session", "status"], id="session status"),
    pytest.param(["session", "clean", "--all", "--yes"], id="session clean"),
    pytest.param(["batch", "status"], id="batch status"),
    pytest.param(["logs"], id="logs"),
    pytest.param(["batch", "proj", "--tag", "t", "--prompt", "p"], id="batch"),
    pytest.param(["code", "fetch", "proj-t-Jan01-0000"], id="code fetch"),
    pytest.param(["gc"], id="gc"),
    pytest.param(["demo", "--cleanup"], id="demo"),
    pytest.param(["project", "status", "proj"], id="project status"),
]


@pytest.mark.parametrize("args", COMMANDS)
async def test_every_command_ends_with_one_line_naming_the_home_and_the_fix(
    run_cli: Cli, tmp_path: Path, unwritable: tuple[Path, str], args: list[str]
) -> None:
    home, problem = unwritable
    repo = make_repo(tmp_path / "repo")
    (repo / "proj.yml").write_text(f"name: proj\nrepos:\n  code: {{path: {repo}, workdir: true}}\n")
    opened: list[int] = []

    @asynccontextmanager
    async def open_engine(*, max_connections: int = 100) -> AsyncIterator[Engine]:
        opened.append(max_connections)
        yield FakeEngine()

    run_cli.use_engine(home, open_engine)

    result = await run_cli(*(a.format(repo=repo) for a in args))

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"scad: error: scad's home is not usable: {problem}; {FIX}\n"
    assert opened == []  # refused before anything began


async def test_doctor_fails_an_unwritable_home(
    run_cli: Cli, unwritable: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, problem = unwritable
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    run_cli.use_engine(home, opening(FakeEngine()))

    result = await run_cli("doctor")

    assert result.exit_code == 1
    assert f"FAIL  home: {problem}\n      fix: {FIX}\n" in result.stdout


async def test_doctor_passes_a_home_not_made_yet(tmp_path: Path) -> None:
    from scad.doctor._host import check_home

    check = check_home(Home(tmp_path / "new" / "home"))

    assert (check.status, check.detail) == (
        "pass",
        f"{tmp_path}/new/home is writable (made on first use)",
    )
