from __future__ import annotations

from pathlib import Path

import asyncclick as click

from ...config.registry import load_registered
from ...runs.records import find_run
from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option
from ._common import prompt_options, read_prompt

#: What --json prints.
JSON = Document(("scad.runs.records:RunRecord",))


@click.command("resume", cls=JsonCommand)
@click.argument("run_id", shell_complete=run_ids)
@prompt_options
@json_option(JSON, help="Print the run record as JSON.")
@pass_app
async def command(
    app: Application,
    run_id: str,
    prompt: str | None,
    prompt_file: Path | None,
    as_json: JsonOutput | None,
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
        as_json.echo(resumed.record)  # as `session start --json` prints it
        return
    click.echo(f"resumed {record.run_id} ({resumed.record.mode})")
