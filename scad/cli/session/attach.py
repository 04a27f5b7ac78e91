from __future__ import annotations

import os

import asyncclick as click

from ...errors import UsageError
from ...runs.records import find_run
from .._app import Application, pass_app
from .._complete import run_ids


@click.command("attach")
@click.argument("run_id", shell_complete=run_ids)
@pass_app
async def command(app: Application, run_id: str) -> None:
    """Open the session's terminal (Claude in tmux; detach with Ctrl+b d, or inside
    tmux with the keys it shows)."""
    from ...sessions import attach_command, detach_keys

    record = find_run(app.home, run_id)
    async with app.open_engine() as engine:
        argv = await attach_command(engine, record)
    if not os.isatty(0):
        raise UsageError("attach needs a terminal; run it from an interactive shell")
    click.echo(f"attaching (detach: {await detach_keys(os.environ)})")
    os.execv(argv[0], argv)
