"""What a command imports before it answers: its own module and what it uses, not its
siblings', not the Docker client, and for `--version` not even the event loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncclick as click
import pytest

import scad
from scad.cli._groups import LazyGroup
from tests.conftest import make_repo

SCAD = str(Path(sys.executable).parent / "scad")

#: Runs ``main()`` as the `scad` script does, then writes every module it imported.
PROBE = """
import json, os, sys
sys.argv = ["scad", *json.loads(os.environ["PROBE_ARGS"])]
from scad.cli import main
try:
    main()
except SystemExit:
    pass
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump(sorted(sys.modules), out)
"""

DOCKER_CLIENT = {"aiodocker", "aiohttp", "scad.engine._client", "scad.engine._connect"}
SESSION_COMMANDS = {
    f"scad.cli.session.{name}"
    for name in ("attach", "clean", "info", "logs", "resume", "start", "stop")
}


def imported_by(args: list[str], home: Path, tmp_path: Path) -> set[str]:
    """The modules `scad ARGS` imports, in a home of its own and with no engine."""
    out = tmp_path / "modules.json"
    env = {
        **os.environ,
        "SCAD_HOME": str(home),
        "PROBE_ARGS": json.dumps(args),
        "PROBE_OUT": str(out),
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
    }
    subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, check=True)
    return set(json.loads(out.read_text()))


def loaded(modules: set[str], unwanted: set[str]) -> list[str]:
    """Those of ``modules`` that are one of ``unwanted`` or inside one of them."""
    return sorted(m for m in modules if m in unwanted or m.rsplit(".", 1)[0] in unwanted)


def test_version_imports_neither_click_nor_the_event_loop(scad_home: Path, tmp_path: Path) -> None:
    modules = imported_by(["--version"], scad_home, tmp_path)
    assert loaded(modules, {"asyncclick", "anyio", "asyncio", "ssl", *DOCKER_CLIENT}) == []


def test_version_says_what_click_says(scad_home: Path) -> None:
    """The answer given before click is loaded is the one click gives."""
    alone = subprocess.run([SCAD, "--version"], capture_output=True, text=True, check=True)
    with_help = subprocess.run(
        [SCAD, "--version", "--help"], capture_output=True, text=True, check=True
    )  # click's own, eager option
    assert alone.stdout == with_help.stdout == f"scad, version {scad.__version__}\n"


def test_help_imports_no_command(scad_home: Path, tmp_path: Path) -> None:
    modules = imported_by(["--help"], scad_home, tmp_path)
    commands = {m for m in modules if m.startswith("scad.cli.") and not m.startswith("scad.cli._")}
    assert sorted(commands) == []


def test_session_status_imports_only_its_own_command(scad_home: Path, tmp_path: Path) -> None:
    modules = imported_by(["session", "status", "--all"], scad_home, tmp_path)
    assert "scad.cli.session.status" in modules
    assert loaded(modules, SESSION_COMMANDS | DOCKER_CLIENT) == []


def test_project_status_imports_no_session_machinery(scad_home: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (scad_home / "configs").mkdir(parents=True)
    (scad_home / "configs" / "proj.yml").write_text(
        f"name: proj\nrepos:\n  code:\n    path: {repo}\n    workdir: true\n"
    )
    modules = imported_by(["project", "status", "proj"], scad_home, tmp_path)
    assert "scad.reports.project" in modules
    starting = {"scad.sessions.start", "scad.sessions.restart", "scad.image.build"}
    assert loaded(modules, starting | DOCKER_CLIENT) == []


def lazy_groups(group: click.Group, path: str) -> list[tuple[str, LazyGroup]]:
    """Every group of the command tree that loads its commands on first use."""
    found: list[tuple[str, LazyGroup]] = []
    if isinstance(group, LazyGroup):
        found.append((path, group))
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += lazy_groups(command, f"{path} {name}")
    return found


def test_each_lazy_table_says_what_its_commands_say() -> None:
    """The names and one-line helps `--help` lists without importing a command are
    the commands' own."""
    from scad.cli import cli

    groups = lazy_groups(cli, "scad")
    assert [path for path, _ in groups] == [
        "scad", "scad batch", "scad code", "scad config", "scad session",
    ]  # fmt: skip
    for path, group in groups:
        for name, entry in group.lazy.items():
            command = group.get_command(click.Context(group), name)
            assert command is not None, f"{path} {name}"
            assert (command.name, command.get_short_help_str(limit=1_000)) == (name, entry.help)
            assert not command.hidden


@pytest.mark.parametrize("package", ["session", "config", "code", "batch"])
def test_each_command_module_of_a_group_is_in_its_table(package: str) -> None:
    """A command module added to a group's package is listed by the group."""
    from scad.cli import cli

    group = cli.get_command(click.Context(cli), package)
    assert isinstance(group, LazyGroup)
    folder = Path(scad.__file__).parent / "cli" / package
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    named = {entry.target.split(":")[0].rsplit(".", 1)[1] for entry in group.lazy.values()}
    assert named == modules
