import asyncclick as click

from ...config.registry import list_configs
from .._app import Application, pass_app
from .._render import echo_json, table


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def command(app: Application, as_json: bool) -> None:
    """List registered configs; invalid ones are marked, not fatal."""
    entries = list_configs(app.home)
    if as_json:
        echo_json(entries)
        return
    if not entries:
        click.echo("no configs yet; create one with `scad config new NAME`")
        return
    rows = [
        (e.name, "ok" if e.error is None else f"invalid: {e.error}", e.target or e.path)
        for e in entries
    ]
    click.echo(table(("NAME", "STATUS", "FILE"), rows))
