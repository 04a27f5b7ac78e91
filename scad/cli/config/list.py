import asyncclick as click

from ...config.registry import list_configs
from .._app import Application, pass_app
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._render import table

#: What --json prints.
JSON = Document(("scad.cli._documents:ConfigList",), items="configs")


@click.command("list", cls=JsonCommand)
@json_option(JSON)
@pass_app
def command(app: Application, as_json: JsonOutput | None) -> None:
    """List registered configs; invalid ones are marked, not fatal."""
    entries = list_configs(app.home)
    if as_json:
        from .._documents import ConfigList

        as_json.echo(ConfigList(configs=entries))
        return
    if not entries:
        click.echo("no configs yet; create one with `scad config new NAME`")
        return
    rows = [
        (e.name, "ok" if e.problem is None else f"invalid: {e.problem}", e.target or e.path)
        for e in entries
    ]
    click.echo(table(("NAME", "STATUS", "FILE"), rows))
