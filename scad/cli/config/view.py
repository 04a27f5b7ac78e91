import asyncclick as click

from ...errors import NotFound
from ...home import scad_home
from .._complete import config_names


@click.command("view")
@click.argument("name", shell_complete=config_names)
def command(name: str) -> None:
    """Print the config file NAME."""
    path = scad_home().config_file(name)
    if not path.exists():
        raise NotFound(f'no config named "{name}"; see `scad config list`')
    click.echo(path.read_text(), nl=False)
