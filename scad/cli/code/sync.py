"""`scad code sync RUN_ID [--checkout B] [--no-update-main]`."""

from __future__ import annotations

import asyncclick as click

from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._render import table

#: What --json prints.
JSON = Document(("scad.code.sync:RunSync",))


@click.command("sync", cls=JsonCommand)
@click.argument("run_id", shell_complete=run_ids)
@click.option("--checkout", "branch", metavar="BRANCH", help="Switch the clones to BRANCH.")
@click.option(
    "--no-update-main", is_flag=True, help="Leave the clones' default branch where it is."
)
@json_option(JSON)
@pass_app
async def command(
    app: Application,
    run_id: str,
    branch: str | None,
    no_update_main: bool,
    as_json: JsonOutput | None,
) -> None:
    """Bring the host repos' branches into a run's clones.

    The host's branches become the clone's origin/*, and its default branch is
    fast-forwarded (a diverged one is reported, not reset). Works on a running
    session: the agent sees the new commits. Exits 1 when a clone could not be
    synced (each says why).
    """
    from ...code.sync import sync_run
    from ...runs.records import find_run

    home = app.home
    record = find_run(home, run_id)
    async with app.open_engine() as engine:
        result = await sync_run(
            engine, home, record, checkout=branch, update_main=not no_update_main
        )
    if as_json:
        as_json.echo(result)
    else:
        rows = [
            (
                r.key,
                r.default_branch or "-",
                r.commits,
                r.remote_branches,
                r.main,
                r.checkout or "-",
            )
            for r in result.repos
            if r.problem is None
        ]
        if rows:
            click.echo(
                table(
                    ("REPO", "BRANCH", "NEW COMMITS", "ORIGIN/*", "UPDATE", "CHECKOUT"),
                    rows,
                )
            )
        for r in result.repos:
            if r.main == "diverged":
                click.echo(
                    f"{r.key}: the clone's {r.default_branch} diverged from the host's; left as it is"
                )
            elif r.main == "checked-out":
                click.echo(
                    f"{r.key}: the clone has {r.default_branch} checked out and the session is not "
                    "running; its origin/ has the host's commits"
                )
        for problem in result.problems:
            click.echo(f"error: {problem}", err=True)
    if result.problems:
        raise click.exceptions.Exit(1)
