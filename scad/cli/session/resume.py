from __future__ import annotations

from pathlib import Path

import asyncclick as click

from ...config.registry import load_registered
from ...runs.records import find_run
from .._app import Application, pass_app
from .._complete import run_ids
from .._render import echo_json
from ._common import prompt_options, read_prompt


@click.command("resume")
@click.argument("run_id", shell_complete=run_ids)
@prompt_options
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@pass_app
async def command(
    app: Application, run_id: str, prompt: str | None, prompt_file: Path | None, as_json: bool
) -> None:
    """Start a stopped session again: same clones, Claude continues its conversation."""
    from ...sessions import resume_session

    home = app.home
    record = find_run(home, run_id)
    config = load_registered(home, record.config)
    async with app.open_engine() as engine:
        resumed = await resume_session(
            engine, home, config, record, prompt=read_prompt(prompt, prompt_file)
        )
    for note in resumed.notes:
        click.echo(f"warning: {record.run_id}: {note}", err=True)
    if as_json:
        echo_json(resumed.record)  # as `session start --json` prints it
        return
    click.echo(f"resumed {record.run_id} ({resumed.record.mode})")
