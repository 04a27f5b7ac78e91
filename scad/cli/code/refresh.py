"""`scad code refresh RUN_ID`."""

from __future__ import annotations

import asyncclick as click

from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option

#: What --json prints.
JSON = Document(("scad.sessions.start:SessionRefresh",))


@click.command("refresh", cls=JsonCommand)
@click.argument("run_id", shell_complete=run_ids)
@json_option(JSON)
@pass_app
async def command(app: Application, run_id: str, as_json: JsonOutput | None) -> None:
    """Give a session made before the gateway the host's current Claude credentials
    (also while it runs); a run of the gateway has nothing to refresh."""
    from ...runs.records import find_run
    from ...sessions import refresh_session

    home = app.home
    record = find_run(home, run_id)
    async with app.open_engine() as engine:
        result = await refresh_session(engine, home, record)
    if as_json:
        as_json.echo(result)
        return
    credentials = result.credentials
    if credentials is None:
        click.echo(
            f"{record.run_id} reaches the model through the gateway, which holds the "
            "host's login: there is nothing to refresh"
        )
        return
    for note in credentials.notes:
        click.echo(f"note: {note}", err=True)
    expiry = (
        f"; they expire {credentials.expires_at.astimezone():%Y-%m-%d %H:%M %Z}"
        if credentials.expires_at
        else ""
    )
    click.echo(f"refreshed {record.run_id} ({credentials.method}){expiry}")
    if credentials.method != "credentials-file" and result.running:
        click.echo(
            "the running Claude keeps the key it started with; the new one is used "
            f"when it starts again (`scad session resume {record.run_id}`)"
        )
