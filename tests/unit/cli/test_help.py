"""Every command's --help reads like a tool's: commands named whole, defaults in the
user's terms, nothing hidden named."""

from __future__ import annotations

import re

import asyncclick as click
import pytest

from scad.cli import cli
from tests.conftest import Cli
from tests.unit.cli.test_json_contract import _commands

pytestmark = pytest.mark.anyio

#: A default shown as a bare fraction (``0.05``, ``0.05s``) rather than ``50ms``, ``30s``.
RAW_FLOAT = re.compile(r"default: \d+\.\d+(?!\.\d)")


def _paths() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    groups = [
        ("group", name) for name in cli.list_commands(ctx)
        if isinstance(cli.get_command(ctx, name), click.Group)
    ]  # fmt: skip
    return [
        (),
        *[(name,) for _, name in groups],
        *[tuple(p.split()) for p, _ in _commands(cli, ctx)],
    ]


def _hidden(ctx: click.Context, group: click.Group) -> list[str]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and command.hidden:
            found.append(name)
        if isinstance(command, click.Group):
            found += _hidden(ctx, command)
    return found


@pytest.mark.parametrize("path", _paths(), ids=lambda p: " ".join(p) or "scad")
async def test_help_names_no_hidden_command_cuts_no_line_and_shows_no_raw_float(
    run_cli: Cli, path: tuple[str, ...]
) -> None:
    result = await run_cli(*path, "--help")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    # ``[RUN_ID]...`` is click's "one or more"; a word then ``...`` is a cut line.
    assert not [line for line in text.splitlines() if re.search(r"[^\]]\.\.\.$", line)], text
    assert not RAW_FLOAT.search(text.replace("\n", " ")), text
    for name in _hidden(click.Context(cli), cli):
        assert not re.search(rf"\b{re.escape(name)}\b", text), (name, text)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("batch", "calc", "--help"), id="config-help"),
        pytest.param(("batch", "run", "--help"), id="run-help"),
    ],
)
async def test_a_batch_is_started_as_scad_batch_config(run_cli: Cli, args: tuple[str, ...]) -> None:
    """``run`` is how ``scad batch CONFIG`` is reached, never what its usage asks for."""
    result = await run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Usage: scad batch CONFIG [OPTIONS]"


async def test_a_batch_usage_error_points_at_the_help_of_scad_batch_config(run_cli: Cli) -> None:
    result = await run_cli("batch", "calc")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[:2] == [
        "Usage: scad batch CONFIG [OPTIONS]",
        "Try 'scad batch CONFIG --help' for help.",
    ]
