"""The command line as a whole: help, version, start-up cost, completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import scad
from tests.conftest import Cli, opening
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio
SCAD = str(Path(sys.executable).parent / "scad")


async def test_version(run_cli: Cli) -> None:
    result = await run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"scad, version {scad.__version__}\n"


async def test_help_lists_every_command_and_each_has_help(run_cli: Cli) -> None:
    from scad.cli import cli

    result = await run_cli("--help")
    assert result.exit_code == 0
    section = result.stdout.split("Commands:\n")[1]
    names = [line.split()[0] for line in section.splitlines() if line[2:3].strip()]  # not wrapped
    assert names == sorted(cli.lazy)
    for name in names:
        sub = await run_cli(name, "--help")
        assert sub.exit_code == 0, sub.output
        assert sub.stdout.startswith(f"Usage: scad {name}")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--version"], id="version"),
        pytest.param(["--help"], id="help"),
        pytest.param(["config", "list"], id="config-list"),
        pytest.param(["config", "--help"], id="config-help"),
    ],
)
def test_fast_commands_do_not_import_the_docker_client(args: list[str], scad_home: Path) -> None:
    probe = textwrap.dedent(
        f"""
        import sys
        from scad.cli import cli
        try:
            cli({args!r}, prog_name="scad", standalone_mode=False, _anyio_backend="asyncio")
        except SystemExit:
            pass
        import asyncclick
        """
    )
    code = (
        probe
        + "\nprint('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('aiodocker', 'aiohttp')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "LOADED []"


def _bash_complete(words: str, scad_home: Path) -> list[str]:
    """Complete ``words`` in a real bash with scad's completion script loaded."""
    script = f"""
        eval "$(_SCAD_COMPLETE=bash_source {SCAD})"
        COMP_WORDS=({words})
        COMP_CWORD={len(words.split()) - (0 if words.endswith(" ") else 1)}
        [[ "{words}" == *" " ]] && COMP_WORDS+=("")
        _scad_completion {SCAD}
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    env = {
        **os.environ,
        "SCAD_HOME": str(scad_home),
        "PATH": f"{Path(SCAD).parent}:{os.environ['PATH']}",
    }
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return [line for line in out.stdout.splitlines() if line]


def test_bash_completes_commands(scad_home: Path) -> None:
    assert _bash_complete("scad con", scad_home) == ["config"]


def test_bash_completes_config_names(scad_home: Path) -> None:
    (scad_home / "configs").mkdir(parents=True)
    for name in ("alpha", "beta", "alps"):
        (scad_home / "configs" / f"{name}.yml").write_text("name: x\n")
    assert _bash_complete("scad config view al", scad_home) == ["alpha", "alps"]
    assert _bash_complete("scad build ", scad_home) == ["alpha", "alps", "beta"]


def test_bash_completes_run_ids(scad_home: Path) -> None:
    from scad.cli._complete import run_ids

    (scad_home / "runs" / "proj-a-Mar02-1400").mkdir(parents=True)
    (scad_home / "runs" / "proj-b-Mar02-1400").mkdir(parents=True)
    assert [c.value for c in run_ids(None, None, "proj-a")] == ["proj-a-Mar02-1400"]


async def test_commands_take_the_home_from_the_application(
    run_cli: Cli, scad_home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-home"
    (other / "configs").mkdir(parents=True)
    (other / "configs" / "alpha.yml").write_text("name: alpha\n")
    run_cli.use_engine(other, opening(FakeEngine()))
    result = await run_cli("config", "list", "--json")
    assert [entry["name"] for entry in json.loads(result.stdout)["configs"]] == ["alpha"]


def test_no_command_reads_the_home_or_opens_an_engine_itself() -> None:
    """The application on the click context holds both (completion, which runs no
    command, reads the home from $SCAD_HOME)."""
    cli_dir = Path(scad.__file__).parent / "cli"
    found = [
        f"{path.relative_to(cli_dir)}: {needle}"
        for path in sorted(cli_dir.rglob("*.py"))
        if path.name not in ("_app.py", "_complete.py")
        for line in path.read_text().splitlines()
        for needle in ("scad_home()", "engine._client", "engine._socket", "import open_engine")
        if needle in line and "def _batch_ids" not in line
    ]
    assert found == ["batch/manage.py: scad_home()"]  # its completion of batch ids


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["session", "logs", "some-run", "-n", "x"], "--tail: 'x' is not a valid integer range"),
        (["batch", "calc", "-t", "t", "-p", "x", "-j", "0"],
         "--parallel: 0 is not in the range 1<=x<=200"),
        (["gc", "-o", "tall"], "--output: 'tall' is not 'wide'"),
    ],
)  # fmt: skip
async def test_a_value_an_option_refuses_is_one_line(
    run_cli: Cli, args: list[str], message: str
) -> None:
    """As every other bad input: one line and exit 2, not click's usage block."""
    result = await run_cli(*args)
    assert (result.exit_code, result.stderr) == (2, f"scad: error: {message}\n")


async def test_a_missing_argument_still_shows_the_usage(run_cli: Cli) -> None:
    result = await run_cli("session", "logs")
    assert result.exit_code == 2 and result.stderr.startswith("Usage: scad session logs")
