from __future__ import annotations

import asyncclick as click

from ...errors import ScadError
from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option
from ._common import check_selection, confirm_many, selection_options

#: What --json prints.
JSON = Document(("scad.cli._documents:CleanReport",), items="results")


@click.command("clean", cls=JsonCommand)
@click.argument("run_id_args", metavar="[RUN_ID]...", nargs=-1, shell_complete=run_ids)
@selection_options
@click.option(
    "--force", is_flag=True, help="Also clean running sessions and discard unfetched commits."
)
@json_option(JSON, help="Print results as JSON.")
@pass_app
async def command(
    app: Application,
    run_id_args: tuple[str, ...],
    all_runs: bool,
    config_name: str | None,
    yes: bool,
    force: bool,
    as_json: JsonOutput | None,
) -> None:
    """Remove sessions' containers, clones and Claude state (their logs stay)."""
    from ...sessions import clean_session, select_runs

    check_selection(run_id_args, all_runs, config_name)
    home = app.home
    records = select_runs(home, run_ids=run_id_args, all_runs=all_runs, config=config_name)
    results, refused = [], []
    async with app.open_engine() as engine:
        confirm_many("clean", [r.run_id for r in records], yes)
        for record in records:
            try:
                # Named sessions are meant: a running one is an error; a swept one is passed over.
                result = await clean_session(
                    engine, home, record, force=force, skip_running=not run_id_args
                )
                results.append(result)
            except ScadError as exc:
                if len(records) == 1:
                    raise
                refused.append(str(exc))
    if as_json:
        from .._documents import CleanReport

        as_json.echo(CleanReport(results=results, refused=refused))
    else:
        for result in results:
            click.echo(
                f"{result.outcome} {result.run_id}"
                + (f" ({result.reason})" if result.reason else "")
            )
            for commit in result.discarded:
                click.echo(f"  discarded {commit.sha[:8]} {commit.subject}")
        for reason in refused:
            click.echo(f"skipped: {reason}", err=True)
    if refused:
        raise click.exceptions.Exit(1)
