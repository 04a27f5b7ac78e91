from pathlib import Path

import asyncclick as click

from ...config.registry import add_config
from .._app import Application, pass_app


@click.command("add")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def command(app: Application, path: Path) -> None:
    """Validate the config at PATH and register it (as a link) under its name."""
    entry = add_config(app.home, path)
    click.echo(f"registered {entry.name} -> {entry.target}")
