from pathlib import Path

import asyncclick as click

from ...config.registry import add_config
from ...home import scad_home


@click.command("add")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def command(path: Path) -> None:
    """Validate the config at PATH and register it (as a link) under its name."""
    entry = add_config(scad_home(), path)
    click.echo(f"registered {entry.name} -> {entry.target}")
