"""`scad gateway status`: the home's model gateway, its runs and what they spent."""

from __future__ import annotations

import asyncclick as click

from ._app import Application, pass_app
from ._render import echo_json, table


@click.group()
def gateway() -> None:
    """The model gateway: the one way runs reach the model API."""


@gateway.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
async def status(app: Application, as_json: bool) -> None:
    """Show the gateway, its runs and their spend."""
    from ..gateway import gateway_status

    found = gateway_status(app.home)
    if as_json:
        echo_json(found)
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
            run.batch or "",
            run.usage.requests,
            run.usage.input_tokens,
            run.usage.output_tokens,
            f"{run.usage.cost_usd:.4f}",
            "" if run.max_usd is None else f"{run.max_usd:.2f}",
            run.usage.rate_limited,
            run.usage.budget_refusals,
        ]
        for run in found.runs
    ]
    click.echo(
        table(
            ["RUN", "TOKEN", "BATCH", "REQUESTS", "IN", "OUT", "USD", "CAP USD", "429/529", "402"],
            rows,
        )
    )
