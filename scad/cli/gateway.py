"""`scad gateway status`: the home's model gateway, its runs and what they spent."""

from __future__ import annotations

import asyncclick as click

from ._app import Application, pass_app
from ._groups import HelpGroup
from ._json import Document, JsonCommand, JsonOutput, json_option
from ._render import Column, output_option, table


@click.group(cls=HelpGroup)
def gateway() -> None:
    """The model gateway: the one way runs reach the model API."""


#: What --json prints.
JSON = Document(("scad.gateway._status:GatewayStatus",), items="runs")


@gateway.command("status", cls=JsonCommand)
@json_option(JSON)
@output_option
@pass_app
async def status(app: Application, as_json: JsonOutput | None, output: str | None) -> None:
    """Show the gateway, its runs and their spend."""
    from ..gateway import gateway_status

    found = gateway_status(app.home)
    if as_json:
        as_json.echo(found)
        return
    info = found.gateway
    if info is None:
        click.echo("gateway: not running (it starts when a run needs it)")
    else:
        click.echo(
            f"gateway: pid {info.pid}, port {info.port} on {', '.join(info.addresses)}, "
            f"credential {info.credential or 'none'}, since {info.started}"
        )
    if not found.runs:
        return
    rows = [
        [
            run.run_id,
            "live" if run.live else "revoked",
            run.batch_id or "",
            run.usage.requests,
            run.usage.input_tokens,
            run.usage.output_tokens,
            f"${run.usage.cost_usd:.4f}",
            "" if run.budget_usd is None else f"${run.budget_usd:.2f}",
            run.usage.rate_limited,
            run.usage.budget_refusals,
        ]
        for run in found.runs
    ]
    click.echo(table(_COLUMNS, rows, wide=output == "wide"))


#: At 80 columns: each run, whether its token still opens the gateway, what it
#: asked and spent against its cap; ``-o wide`` adds its batch, tokens and refusals.
_COLUMNS = (
    Column("RUN"),
    Column("TOKEN"),
    Column("BATCH", wide=True),
    Column("REQUESTS"),
    Column("IN", wide=True),
    Column("OUT", wide=True),
    Column("COST"),
    Column("CAP"),
    Column("429/529", wide=True),
    Column("402", wide=True),
)
