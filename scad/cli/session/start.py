from __future__ import annotations

import os
import sys
from pathlib import Path

import asyncclick as click

from ...build import BuildProgress
from ...home import scad_home
from ...registry import load_registered
from .._complete import config_names
from .._render import echo_json
from ..build import ProgressPrinter
from ._common import prompt_options, read_prompt


@click.command("start")
@click.argument("config_name", metavar="CONFIG", shell_complete=config_names)
@click.option(
    "--tag", "-t", required=True, help="A short name for this session (part of its run id)."
)
@prompt_options
@click.option(
    "--headless", is_flag=True, help="Run `claude -p` as the container's job instead of tmux."
)
@click.option(
    "--no-attach",
    is_flag=True,
    help="Do not open an interactive session's terminal (it opens on a terminal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
async def command(
    config_name: str,
    tag: str,
    prompt: str | None,
    prompt_file: Path | None,
    headless: bool,
    no_attach: bool,
    as_json: bool,
) -> None:
    """Start a session of CONFIG: its own container, clones and branch."""
    from ...engine import open_engine
    from ...sessions import attach_command, start_session

    home = scad_home()
    config = load_registered(home, config_name)
    text = read_prompt(prompt, prompt_file)
    printer = ProgressPrinter(verbose=False, live=sys.stdout.isatty())

    announced = False

    def on_build(event: BuildProgress) -> None:
        nonlocal announced
        if as_json:
            return
        if not announced:
            click.echo(f"the image of {config.name} is not built yet; building it first")
            announced = True
        printer(event)

    attach = not (headless or no_attach or as_json) and sys.stdin.isatty() and sys.stdout.isatty()
    async with open_engine() as engine:
        record = await start_session(
            engine, home, config, tag=tag, prompt=text, headless=headless, build_progress=on_build
        )
        argv = await attach_command(engine, record) if attach else None
    printer.close()
    if as_json:
        echo_json(record)
        return
    click.echo(f"started {record.run_id} ({record.mode}) on branch {record.branch}")
    if argv:
        click.echo("attaching (detach: Ctrl+b d)")
        os.execv(argv[0], argv)
    if record.mode == "headless":
        click.echo(f"follow it: scad session logs {record.run_id} -f")
    else:
        click.echo(f"attach to it: scad session attach {record.run_id}   (detach: Ctrl+b d)")
