from __future__ import annotations

import asyncclick as click

from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option
from ._common import check_selection, confirm_many, selection_options

#: What --json prints.
JSON = Document(("scad.cli._documents:StopReport",), items="results")


@click.command("stop", cls=JsonCommand)
@click.argument("run_id_args", metavar="[RUN_ID]...", nargs=-1, shell_complete=run_ids)
@selection_options
@json_option(JSON, help="Print results as JSON.")
@pass_app
async def command(
    app: Application,
    run_id_args: tuple[str, ...],
    all_runs: bool,
    config_name: str | None,
    yes: bool,
    as_json: JsonOutput | None,
) -> None:
    """Stop sessions; clones and Claude state are kept (resume to continue)."""
    from ...sessions import select_runs, stop_sessions

    check_selection(run_id_args, all_runs, config_name)
    home = app.home
    records = select_runs(home, run_ids=run_id_args, all_runs=all_runs, config=config_name)
    async with app.open_engine() as engine:
        confirm_many("stop", [r.run_id for r in records], yes)
        results = await stop_sessions(engine, home, records)
    if as_json:
        from .._documents import StopReport

        as_json.echo(StopReport(results=results))
        return
    for result in results:
        click.echo(
            f"{result.outcome} {result.run_id}"
            if result.outcome == "stopped"
            else f"{result.run_id} was not running"
        )
